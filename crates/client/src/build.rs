//! Payloads of the chain's actions other than issuing, granting and governance (see
//! [`crate::issue`], [`crate::grant`], [`crate::governance`]): registrations,
//! balances and stake, key rotation, schemas, delegations, a credential's
//! revocation and erasure, access requests, inspections and evidence.
//!
//! Each builder takes typed arguments and returns the [`Payload`]; sign it with
//! [`crate::sign`] or send it with [`crate::Client::send`].

use mpms_crypto::{CryptoRng, EncryptionKey, Hash, PublicKey, RngCore};
use mpms_ledger::claims::FieldSpec;
use mpms_ledger::evidence::Evidence;
use mpms_ledger::notes;
use mpms_ledger::transaction::{InspectionOutcome, OrganizationKind, SchemaDefinition};
use mpms_ledger::Payload;

use crate::api::Client;
use crate::error::{Error, Result};
use crate::party::Party;

/// A day, in milliseconds.
pub const DAY_MS: u64 = 86_400_000;

/// The validity `(from, until)` in Unix milliseconds of something valid for `days`
/// from `now_ms`: from a day before `now_ms` (so that clocks a little behind the
/// chain's accept it at once) until `days` after it.
pub fn validity(now_ms: u64, days: u64) -> (u64, u64) {
    (
        now_ms.saturating_sub(DAY_MS),
        now_ms.saturating_add(days.saturating_mul(DAY_MS)),
    )
}

/// The time `days` after `now_ms` (Unix milliseconds), e.g. a grant's expiry.
pub fn days_after(now_ms: u64, days: u64) -> u64 {
    now_ms.saturating_add(days.saturating_mul(DAY_MS))
}

/// The proof of work `account` needs to register on chain `chain_id` when the
/// chain asks for `bits` zero bits (`Params::account_creation_work_bits`).
pub fn account_work(chain_id: &str, account: &PublicKey, bits: u8) -> u64 {
    mpms_ledger::work::stamp(chain_id, account, bits)
}

impl Client {
    /// The proof of work `account` needs to register on the node's chain, at the
    /// requirement in force there.
    pub fn account_work(&self, account: &PublicKey) -> Result<u64> {
        let chain_id = self.chain_id()?;
        let params = self.params()?;
        Ok(account_work(
            &chain_id,
            account,
            params.account_creation_work_bits,
        ))
    }
}

/// Registers the sender as a subject (an intern, a patient): only its encryption
/// key goes on chain.
pub fn register_subject(encryption_key: EncryptionKey, work: u64) -> Payload {
    Payload::RegisterSubject {
        encryption_key,
        work,
    }
}

/// Registers the sender as a member organization.
pub fn register_organization(
    name: String,
    kind: OrganizationKind,
    encryption_key: EncryptionKey,
    work: u64,
) -> Payload {
    Payload::RegisterOrganization {
        name,
        kind,
        encryption_key,
        work,
    }
}

/// Registers the sender as a certifier (accreditation comes by vote).
pub fn register_certifier(name: String, encryption_key: EncryptionKey, work: u64) -> Payload {
    Payload::RegisterCertifier {
        name,
        encryption_key,
        work,
    }
}

/// What an account registers as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A subject (an intern, a patient).
    Subject,
    /// A member organization.
    Organization {
        /// Its public name.
        name: String,
        /// Its kind.
        kind: OrganizationKind,
    },
    /// A certifier (accreditation comes by vote).
    Certifier {
        /// Its public name.
        name: String,
    },
}

impl Client {
    /// The registration of `party` as `role`: its encryption key, and the proof of
    /// work the node's chain asks for.
    pub fn registration(&self, party: &Party, role: Role) -> Result<Payload> {
        let what = match role {
            Role::Subject => "a subject",
            Role::Organization { .. } => "an organization",
            Role::Certifier { .. } => "a certifier",
        };
        let encryption_key = party.decryption(what)?.encryption_key();
        let work = self.account_work(&party.id())?;
        Ok(match role {
            Role::Subject => register_subject(encryption_key, work),
            Role::Organization { name, kind } => {
                register_organization(name, kind, encryption_key, work)
            }
            Role::Certifier { name } => register_certifier(name, encryption_key, work),
        })
    }
}

/// Transfers `amount` of the sender's balance to `to`.
pub fn transfer(to: PublicKey, amount: u64) -> Payload {
    Payload::Transfer { to, amount }
}

/// Bonds `amount` of the sender's balance as stake.
pub fn bond(amount: u64) -> Payload {
    Payload::Bond { amount }
}

/// Starts unbonding `amount` of the sender's stake.
pub fn unbond(amount: u64) -> Payload {
    Payload::Unbond { amount }
}

/// Withdraws the sender's stake whose unbonding period has passed.
pub fn withdraw_unbonded() -> Payload {
    Payload::WithdrawUnbonded
}

/// Rotates the sender's signing key, its encryption key, or both (from the next
/// height); refuses a rotation of neither.
pub fn rotate_keys(
    signing_key: Option<PublicKey>,
    encryption_key: Option<EncryptionKey>,
) -> Result<Payload> {
    if signing_key.is_none() && encryption_key.is_none() {
        return Err(Error::Input(
            "a key rotation names a new signing key, a new encryption key or both".into(),
        ));
    }
    Ok(Payload::RotateKeys {
        signing_key,
        encryption_key,
    })
}

/// Field declarations written `NAME:TYPE` (`NAME?:TYPE` for an optional field; TYPE
/// one of `text`, `date`, `boolean`, `number:UNIT`, `code:SYSTEM`). None at all
/// means a course's fields (description, start_date, end_date, marks?, result).
pub fn field_specs<S: AsRef<str>>(texts: &[S]) -> Result<Vec<FieldSpec>> {
    if texts.is_empty() {
        return Ok(mpms_ledger::claims::course_fields());
    }
    texts
        .iter()
        .map(|t| mpms_ledger::claims::parse_spec(t.as_ref()).map_err(Error::from))
        .collect()
}

/// A credential schema, as a certifier registers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaSpec {
    /// Schema id (e.g. `cardio.ecg`).
    pub id: String,
    /// What it attests.
    pub description: String,
    /// Schemas that must be held first.
    pub prerequisites: Vec<String>,
    /// What completing it yields (e.g. `competence`).
    pub output: String,
    /// The completion condition.
    pub condition: String,
    /// Longest validity of its credentials, days.
    pub max_validity_days: Option<u64>,
    /// The fields of its content ([`field_specs`]).
    pub fields: Vec<FieldSpec>,
    /// The FHIR R4 resource type its content maps to and from, if any: every field
    /// must name an element of it.
    pub fhir_resource: Option<String>,
}

/// Registers schema `spec` (sender: an accredited certifier whose scope covers it).
/// A FHIR resource type must be one MPMS maps, and the fields must map to it.
pub fn register_schema(spec: SchemaSpec) -> Result<Payload> {
    if let Some(name) = &spec.fhir_resource {
        let kind = mpms_fhir::ResourceType::parse(name).ok_or_else(|| {
            Error::Input(format!(
                "FHIR resource type {name}: one of Observation, Condition, MedicationStatement, DiagnosticReport, Composition"
            ))
        })?;
        mpms_fhir::check_schema(kind, &spec.fields)?;
    }
    let definition = SchemaDefinition {
        id: spec.id,
        description: spec.description,
        prerequisites: spec.prerequisites,
        output: spec.output,
        completion_condition: spec.condition,
        max_validity_ms: spec.max_validity_days.map(|d| d.saturating_mul(DAY_MS)),
        fields: spec.fields,
        fhir_resource: spec.fhir_resource,
    };
    // The chain's own rule, checked before anything is sent.
    mpms_ledger::record_schema::check(&definition)
        .map_err(|(field, reason)| Error::Input(format!("{field}: {reason}")))?;
    Ok(Payload::RegisterSchema(Box::new(definition)))
}

/// A certifier registers the patient record schema `id` (`record.KIND` or
/// `record.KIND.N`): its definition is the kind's (see
/// [`mpms_ledger::record_schema`]), so that its public name and fields say
/// nothing about a condition.
pub fn register_record_schema(id: &str, max_validity_days: Option<u64>) -> Result<Payload> {
    let kind = mpms_ledger::record_schema::kind_of(id).ok_or_else(|| {
        let kinds: Vec<&str> = mpms_ledger::record_schema::RECORD_KINDS
            .iter()
            .map(|k| k.kind)
            .collect();
        Error::Input(format!(
            "{id}: a record schema is record.KIND or record.KIND.N (N a number), KIND one of {}",
            kinds.join(", ")
        ))
    })?;
    Ok(Payload::RegisterSchema(Box::new(kind.definition(
        id,
        max_validity_days.map(|d| d.saturating_mul(DAY_MS)),
    ))))
}

/// A certifier delegates claim signing to `practitioner` (in `role`, for schema ids
/// or prefixes ending in `*`), valid for `days` from `now_ms`, or replaces its terms.
/// The chain holds the role as a digest under a fresh salt, which is returned: with
/// it, the certifier can show the role to whom it chooses.
pub fn delegate<R: RngCore + CryptoRng>(
    practitioner: PublicKey,
    role: &str,
    schemas: Vec<String>,
    now_ms: u64,
    days: u64,
    rng: &mut R,
) -> Result<(Payload, [u8; 16])> {
    if role.trim().is_empty() || role.len() > MAX_ROLE {
        return Err(Error::Input(format!("role: 1 to {MAX_ROLE} bytes")));
    }
    let mut salt = [0u8; 16];
    rng.fill_bytes(&mut salt);
    let (valid_from_ms, valid_until_ms) = validity(now_ms, days);
    Ok((
        Payload::Delegate {
            practitioner,
            role: mpms_ledger::records::role_digest(role, &salt),
            schemas,
            valid_from_ms,
            valid_until_ms,
        },
        salt,
    ))
}

/// The longest practitioner role, in bytes.
pub const MAX_ROLE: usize = 128;

/// A certifier revokes `practitioner`'s delegation.
pub fn revoke_delegation(practitioner: PublicKey, reason: String) -> Payload {
    Payload::RevokeDelegation {
        practitioner,
        reason,
    }
}

/// A subject has `credential`'s content erased from every node's storage.
pub fn erase_content(credential: Hash) -> Payload {
    Payload::EraseContent { credential }
}

/// The certifier revokes `credential`.
pub fn revoke_credential(credential: Hash, reason: String) -> Payload {
    Payload::RevokeCredential { credential, reason }
}

/// Organization `requester` asks `subject` (the key the credentials name) for access
/// to `credentials`, for `purpose`, which is sealed to the subject: nobody else reads
/// it. The request's id is [`mpms_ledger::transaction::request_id`] of the sender and
/// the nonce the transaction is signed with.
pub fn request_access<R: RngCore + CryptoRng>(
    requester: &PublicKey,
    subject: PublicKey,
    credentials: Vec<Hash>,
    purpose: &str,
    rng: &mut R,
) -> Result<Payload> {
    let purpose = notes::seal_purpose(&subject, requester, purpose, rng)
        .map_err(|e| Error::Input(format!("purpose: {e}")))?;
    Ok(Payload::RequestAccess {
        subject,
        credentials,
        purpose,
    })
}

/// A subject revokes a grant, or a set grant with all its entries.
pub fn revoke_grant(grant: Hash) -> Payload {
    Payload::RevokeGrant { grant }
}

/// The grantee records its inspection of the credential of `grant` (granted by
/// `subject`, the key the grant names): verified, or failed for the reason given,
/// sealed to the subject.
pub fn record_inspection<R: RngCore + CryptoRng>(
    grant: Hash,
    subject: &PublicKey,
    failed: Option<String>,
    rng: &mut R,
) -> Result<Payload> {
    let outcome = match failed {
        None => InspectionOutcome::Verified,
        Some(reason) => InspectionOutcome::Failed(reason),
    };
    let outcome = notes::seal_outcome(subject, &grant, &outcome, rng)
        .map_err(|e| Error::Input(format!("outcome: {e}")))?;
    Ok(Payload::RecordInspection { grant, outcome })
}

/// Submits evidence of an authority's misbehaviour.
pub fn submit_evidence(evidence: Evidence) -> Payload {
    Payload::SubmitEvidence(Box::new(evidence))
}

/// Evidence from `bytes`: JSON if they start with `{` (leading whitespace aside),
/// canonical bytes otherwise.
pub fn parse_evidence(bytes: &[u8]) -> Result<Evidence> {
    let text_start = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if text_start == Some(&b'{') {
        serde_json::from_slice(bytes).map_err(|e| Error::Input(format!("not evidence JSON: {e}")))
    } else {
        mpms_ledger::codec::decode(bytes)
            .map_err(|e| Error::Input(format!("not evidence in canonical bytes: {e}")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::{party, rng};

    #[test]
    fn validity_starts_a_day_early_and_saturates() {
        assert_eq!(validity(10 * DAY_MS, 2), (9 * DAY_MS, 12 * DAY_MS));
        assert_eq!(validity(5, 1), (0, 5 + DAY_MS));
        assert_eq!(validity(u64::MAX - 1, u64::MAX).1, u64::MAX);
    }

    #[test]
    fn a_registration_carries_the_encryption_key_and_work() {
        let mut rng = rng(1);
        let subject = party(&mut rng);
        let key = subject.decryption("a subject").unwrap().encryption_key();
        let work = account_work("mpms-test", &subject.id(), 4);
        assert!(mpms_ledger::work::meets(
            "mpms-test",
            &subject.id(),
            work,
            4
        ));
        match register_subject(key, work) {
            Payload::RegisterSubject {
                encryption_key,
                work: w,
            } => {
                assert_eq!(encryption_key, key);
                assert_eq!(w, work);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_registration_works_at_the_chains_requirement() {
        let params = mpms_ledger::Params {
            account_creation_work_bits: 6,
            ..mpms_ledger::Params::default()
        };
        let (base, _) = crate::testing::canned_node(vec![
            (
                200,
                serde_json::to_string(&mpms_api::Status {
                    chain_id: "mpms-canned".into(),
                    height: 1,
                    ..mpms_api::Status::default()
                })
                .unwrap(),
            ),
            (200, serde_json::to_string(&params).unwrap()),
        ]);
        let client = Client::new(&base);
        let mut rng = rng(3);
        let hospital = party(&mut rng);
        let payload = client
            .registration(
                &hospital,
                Role::Certifier {
                    name: "St. Mary".into(),
                },
            )
            .unwrap();
        let Payload::RegisterCertifier {
            name,
            encryption_key,
            work,
        } = payload
        else {
            panic!("{payload:?}");
        };
        assert_eq!(name, "St. Mary");
        assert_eq!(
            encryption_key,
            hospital.decryption("x").unwrap().encryption_key()
        );
        assert!(mpms_ledger::work::meets(
            "mpms-canned",
            &hospital.id(),
            work,
            6
        ));
        // Keys that only sign cannot register: nothing could be sealed to them.
        let signer = Party::signing_only(hospital.signing);
        assert!(matches!(
            client.registration(&signer, Role::Subject),
            Err(Error::NoDecryptionKey(what)) if what == "a subject"
        ));
    }

    #[test]
    fn a_rotation_of_nothing_is_refused() {
        assert!(matches!(rotate_keys(None, None), Err(Error::Input(_))));
        let mut rng = rng(2);
        let p = party(&mut rng);
        assert!(rotate_keys(Some(p.id()), None).is_ok());
    }

    #[test]
    fn schema_fields_default_to_a_course_and_fhir_must_map() {
        assert_eq!(
            field_specs::<&str>(&[]).unwrap(),
            mpms_ledger::claims::course_fields()
        );
        assert!(field_specs(&["value:nonsense"]).is_err());
        let spec = |fields: &[&str], fhir: Option<&str>| SchemaSpec {
            id: "lab.troponin".into(),
            description: "Troponin".into(),
            prerequisites: vec![],
            output: "record".into(),
            condition: "measured".into(),
            max_validity_days: Some(2),
            fields: field_specs(fields).unwrap(),
            fhir_resource: fhir.map(str::to_string),
        };
        let lab = [
            "status:text",
            "code:code:http://loinc.org",
            "value:number:ng/L",
            "effective:date",
        ];
        // Clinical content under a name of the certifier's choosing: the chain's
        // rule refuses it before anything is sent.
        match register_schema(spec(&lab, Some("Observation"))) {
            Err(Error::Input(reason)) => assert!(reason.contains("record.KIND"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            register_schema(spec(&lab, Some("Patient"))),
            Err(Error::Input(_))
        ));
        assert!(matches!(
            register_schema(spec(&["colour:text"], Some("Observation"))),
            Err(Error::Fhir(_))
        ));
        // A record schema is its kind's definition.
        match register_record_schema("record.lab-result.3", Some(2)).unwrap() {
            Payload::RegisterSchema(def) => {
                assert_eq!(def.max_validity_ms, Some(2 * DAY_MS));
                assert_eq!(def.description, "A laboratory result");
                assert_eq!(def.fields.len(), 4);
                assert_eq!(def.fhir_resource.as_deref(), Some("Observation"));
            }
            other => panic!("{other:?}"),
        }
        assert!(register_record_schema("record.troponin", None).is_err());
    }

    #[test]
    fn evidence_reads_from_json_or_bytes_and_junk_is_refused() {
        let err = parse_evidence(b"  {\"not\": 1}").unwrap_err();
        assert!(err.to_string().contains("not evidence JSON"), "{err}");
        let err = parse_evidence(&[1, 2, 3]).unwrap_err();
        assert!(err.to_string().contains("canonical bytes"), "{err}");
    }
}
