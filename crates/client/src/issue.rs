//! Issuing a credential: the content's fields read and checked against the schema
//! (from text or from a FHIR R4 resource), the content sealed to its subject with
//! the certifier's W3C Verifiable Credential, the claim signed by the certifier or
//! by a practitioner under its delegation.

use std::collections::BTreeMap;

use mpms_crypto::{CryptoRng, EncryptionKey, Hash, PublicKey, RngCore};
use mpms_ledger::claims::FieldValue;
use mpms_ledger::credential::{
    prepare_issuance_with_vc, ClaimTerms, CredentialContent, DocumentDigest, Issuer, Recipient,
    SignedForms,
};
use mpms_ledger::records::Schema;
use mpms_ledger::transaction::{CredentialClaim, CredentialIssuance};
use mpms_ledger::Payload;
use rand::SeedableRng;

use crate::api::Client;
use crate::build::validity;
use crate::error::{Error, Result, ResultExt};
use crate::party::Party;

/// The content fields `given` as `(name, text)` pairs, each read as `schema`
/// declares it (a number in the field's unit, a code as `CODE` or `CODE|DISPLAY`,
/// `true` or `false`, text and dates as they are), then checked together against
/// the schema: a field it does not declare, a field given twice, a missing required
/// field or a badly written value is refused before anything is sealed.
pub fn content_fields(
    schema: &Schema,
    given: &[(String, String)],
) -> Result<BTreeMap<String, FieldValue>> {
    let mut values = BTreeMap::new();
    for (name, text) in given {
        let spec = schema
            .fields
            .iter()
            .find(|s| &s.name == name)
            .ok_or_else(|| {
                let declared: Vec<&str> = schema.fields.iter().map(|s| s.name.as_str()).collect();
                Error::Input(format!(
                    "schema {} has no field {name} (its fields: {})",
                    schema.id,
                    declared.join(", ")
                ))
            })?;
        if values
            .insert(name.clone(), mpms_ledger::claims::parse_value(spec, text)?)
            .is_some()
        {
            return Err(Error::Input(format!("field {name} given twice")));
        }
    }
    mpms_ledger::claims::validate_fields(&schema.fields, &values)
        .context_with(|| format!("content for schema {}", schema.id))?;
    Ok(values)
}

/// The content fields `schema` takes from a FHIR R4 resource (`resource`, JSON):
/// the schema must name the resource's type, and the resource must hold what R4 and
/// the schema require.
pub fn fhir_fields(schema: &Schema, resource: &[u8]) -> Result<BTreeMap<String, FieldValue>> {
    let expected = schema
        .fhir_resource
        .as_deref()
        .and_then(mpms_fhir::ResourceType::parse)
        .ok_or_else(|| {
            Error::Input(format!(
                "schema {} names no FHIR resource type (register-schema --fhir-resource)",
                schema.id
            ))
        })?;
    let (_, resource) = mpms_fhir::parse(resource)?;
    Ok(mpms_fhir::content_fields(
        expected,
        &schema.fields,
        &resource,
    )?)
}

/// The digest of a supporting document's bytes, under `label`: only the digest goes
/// into the (encrypted) content.
pub fn document_digest(label: &str, document: &[u8]) -> DocumentDigest {
    DocumentDigest {
        label: label.to_string(),
        sha256: Hash::digest(document),
    }
}

/// A credential about to be issued: whose, of which schema, what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// The subject's account.
    pub subject: PublicKey,
    /// The holder's name (sealed, never on chain in plaintext).
    pub holder_name: String,
    /// The holder's date of birth (sealed).
    pub date_of_birth: String,
    /// The fields, as the schema declares them ([`content_fields`],
    /// [`fhir_fields`]).
    pub fields: BTreeMap<String, FieldValue>,
    /// Digests of supporting documents ([`document_digest`]).
    pub documents: Vec<DocumentDigest>,
    /// Validity from the issuance, days.
    pub valid_days: u64,
    /// The earlier entry it corrects (same subject and schema, same certifier).
    pub corrects: Option<Hash>,
    /// Name the subject's account in the claim, instead of a fresh entry key of it
    /// (what a credential of a stack does anyway: a stacked credential's
    /// prerequisites are held by the same account).
    pub linked: bool,
}

impl Draft {
    /// The content: the draft's personal data and fields with a fresh random salt
    /// (so that its commitment reveals nothing guessable).
    pub fn content<R: RngCore + CryptoRng>(&self, rng: &mut R) -> CredentialContent {
        let mut salt = [0u8; 32];
        rng.fill_bytes(&mut salt);
        CredentialContent {
            salt,
            holder_name: self.holder_name.clone(),
            date_of_birth: self.date_of_birth.clone(),
            documents: self.documents.clone(),
            fields: self.fields.clone(),
        }
    }

    /// The claim's terms when issued at `now_ms`, at entry `status_index` of the
    /// certifier's status lists.
    pub fn terms(&self, now_ms: u64, status_index: u64) -> ClaimTerms {
        let (valid_from_ms, valid_until_ms) = validity(now_ms, self.valid_days);
        ClaimTerms {
            valid_from_ms,
            valid_until_ms,
            supersedes: self.corrects,
            status_index,
        }
    }
}

/// Who issues: certifier `certifier` signing for itself, or `practitioner` signing
/// for it under its delegation.
pub fn issuer<'a>(certifier: &'a Party, practitioner: Option<&'a Party>) -> Issuer<'a> {
    match practitioner {
        Some(p) => Issuer::practitioner(&p.signing, p.id(), certifier.id()),
        None => Issuer::certifier(&certifier.signing, certifier.id()),
    }
}

/// The issuance of `content` about `subject` on chain `chain_id`: checked against
/// `schema`'s fields (nothing is sealed otherwise), encrypted under a fresh content
/// key sealed to `subject_key`, delivered with the issuer's W3C Verifiable
/// Credential (a `vc+jwt` signed with the issuer's key, naming its status list under
/// the node API address `status_base`), the claim signed by the issuer.
#[allow(clippy::too_many_arguments)]
pub fn issue_credential<R: RngCore + CryptoRng>(
    chain_id: &str,
    status_base: &str,
    issuer: Issuer<'_>,
    schema: &Schema,
    recipient: Recipient<'_>,
    content: &CredentialContent,
    terms: ClaimTerms,
    rng: &mut R,
) -> Result<CredentialIssuance> {
    // The credential names its status list under this address: a plain http(s) one.
    mpms_light::vc::check_status_base(status_base)?;
    let mut vc_error = None;
    // The SD-JWT's salts come from their own generator, seeded from `rng` (which the
    // issuance itself holds while the forms are made).
    let mut salt_seed = [0u8; 32];
    rng.fill_bytes(&mut salt_seed);
    let forms = |claim: &CredentialClaim| {
        let signed = || -> std::result::Result<SignedForms, mpms_light::vc::VcError> {
            let document = mpms_light::vc::credential_document(
                chain_id,
                claim,
                content,
                &issuer.signing_key.public_key(),
                status_base,
            );
            let vc_jwt = mpms_light::vc::sign_jwt(&document, issuer.signing_key)?;
            let mut salts = rand_chacha::ChaCha20Rng::from_seed(salt_seed);
            let sd_jwt = mpms_light::sd_jwt::issue(
                chain_id,
                claim,
                content,
                issuer.signing_key,
                &mut salts,
            )?;
            Ok(SignedForms {
                vc_jwt: Some(vc_jwt),
                sd_jwt: Some(sd_jwt),
            })
        };
        signed().unwrap_or_else(|e| {
            vc_error = Some(e);
            SignedForms::default()
        })
    };
    let issuance = prepare_issuance_with_vc(
        chain_id,
        issuer,
        schema.into(),
        recipient,
        content,
        terms,
        forms,
        rng,
    )?;
    if let Some(e) = vc_error {
        return Err(e.into());
    }
    Ok(issuance)
}

/// An issuance ready to send.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The payload.
    pub payload: Payload,
    /// The credential's id (its claim's).
    pub credential: Hash,
    /// The content sealed in it (what the subject will open).
    pub content: CredentialContent,
    /// The subject its claim names: a fresh entry key of the draft's subject, or the
    /// account itself (linked, stackable, or correcting an entry named so).
    pub subject: PublicKey,
}

/// Whom `draft` goes to: a fresh entry key of its subject, unless it corrects an
/// entry (then the subject that entry names), is linked, or its schema is part of a
/// stack (it has prerequisites, or is one of another schema's): then the subject's
/// account.
fn recipient<'a>(
    client: &Client,
    schema: &Schema,
    draft: &Draft,
    encryption_key: &'a EncryptionKey,
) -> Result<Recipient<'a>> {
    if let Some(earlier) = draft.corrects {
        let subject = client.credential(&earlier)?.claim.subject;
        // An entry named by account must be the draft's subject's; an entry key
        // cannot be told apart from another subject's by anyone but its owner.
        if subject != draft.subject && client.subject_exists(&subject)? {
            return Err(Error::Input(format!(
                "{earlier} is an entry of subject {subject}, not of {}",
                draft.subject
            )));
        }
        return Ok(Recipient::Named {
            subject,
            encryption_key,
        });
    }
    // A stack's credentials name the account: the chain checks that the subject
    // holding a stacked credential holds its prerequisites.
    let stacks = !schema.prerequisites.is_empty()
        || client
            .schemas()?
            .iter()
            .any(|s| s.prerequisites.contains(&schema.id));
    if draft.linked || stacks {
        return Ok(Recipient::Named {
            subject: draft.subject,
            encryption_key,
        });
    }
    let signing_key = client
        .account(&draft.subject)?
        .account
        .map(|a| a.signing_key_at(&draft.subject, u64::MAX))
        .unwrap_or(draft.subject);
    Ok(Recipient::Entry {
        signing_key,
        encryption_key,
    })
}

/// [`issue_credential`] of `draft` by `certifier` (or by `practitioner` for it), at
/// `now_ms`, for the node's chain and the subject's encryption key on it.
pub fn prepare<R: RngCore + CryptoRng>(
    client: &Client,
    certifier: &Party,
    practitioner: Option<&Party>,
    schema: &Schema,
    draft: &Draft,
    now_ms: u64,
    rng: &mut R,
) -> Result<Issued> {
    let content = draft.content(rng);
    let chain_id = client.chain_id()?;
    let subject_key = client.subject_key(&draft.subject)?;
    let recipient = recipient(client, schema, draft, &subject_key)?;
    // The certifier's next unused status entry (a concurrent issuance taking it
    // first makes this one fail with a clear error; issuing again takes the next).
    let status_index = client.status_lists(&certifier.id())?.next_index;
    let issuance = issue_credential(
        &chain_id,
        client.base(),
        issuer(certifier, practitioner),
        schema,
        recipient,
        &content,
        draft.terms(now_ms, status_index),
        rng,
    )?;
    let credential = issuance.claim.id();
    let subject = issuance.claim.subject;
    Ok(Issued {
        payload: Payload::IssueCredential(Box::new(issuance)),
        credential,
        content,
        subject,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::{party, rng, schema};
    use mpms_ledger::credential::{open_delivery, subject_sealed, verify_content};

    fn lab() -> Schema {
        schema(
            "record.lab-result",
            &[
                "status:text",
                "code:code:http://loinc.org",
                "value:number:ng/L",
                "effective:date",
            ],
            Some("Observation"),
        )
    }

    fn given(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn troponin() -> Vec<(String, String)> {
        given(&[
            ("status", "final"),
            ("code", "10839-9|Troponin I.cardiac"),
            ("value", "85"),
            ("effective", "2026-11-02"),
        ])
    }

    #[test]
    fn fields_are_read_as_the_schema_declares_them() {
        let fields = content_fields(&lab(), &troponin()).unwrap();
        assert_eq!(fields.len(), 4);
        assert_eq!(fields["value"].display(), "85 ng/L");
    }

    #[test]
    fn bad_content_is_refused_before_sealing() {
        let schema = lab();
        let unknown = content_fields(&schema, &given(&[("colour", "red")])).unwrap_err();
        assert!(
            unknown.to_string().contains("has no field colour"),
            "{unknown}"
        );
        let mut twice = troponin();
        twice.push(("value".into(), "86".into()));
        assert!(content_fields(&schema, &twice)
            .unwrap_err()
            .to_string()
            .contains("given twice"));
        let not_a_number = troponin()
            .into_iter()
            .map(|(k, v)| {
                if k == "value" {
                    (k, "high".into())
                } else {
                    (k, v)
                }
            })
            .collect::<Vec<_>>();
        assert!(matches!(
            content_fields(&schema, &not_a_number),
            Err(Error::Claim(_))
        ));
        let missing = content_fields(&schema, &given(&[("status", "final")])).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("content for schema record.lab-result"),
            "{missing}"
        );

        // Content that bypasses the text reading is still checked before sealing.
        let mut rng = rng(3);
        let (certifier, subject) = (party(&mut rng), party(&mut rng));
        let draft = Draft {
            subject: subject.id(),
            holder_name: "Maria Gonzalez".into(),
            date_of_birth: String::new(),
            fields: BTreeMap::new(),
            documents: vec![],
            valid_days: 1,
            corrects: None,
            linked: false,
        };
        let refused = issue_credential(
            "mpms-test",
            "http://127.0.0.1:26601",
            issuer(&certifier, None),
            &schema,
            Recipient::Named {
                subject: subject.id(),
                encryption_key: &subject.decryption("a subject").unwrap().encryption_key(),
            },
            &draft.content(&mut rng),
            draft.terms(1_000, 0),
            &mut rng,
        )
        .unwrap_err();
        assert!(matches!(
            refused,
            Error::Issue(mpms_ledger::credential::IssueError::Content { .. })
        ));
    }

    #[test]
    fn fhir_input_maps_to_the_schemas_fields() {
        let observation = serde_json::json!({
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "10839-9", "display": "Troponin I.cardiac"}]},
            "valueQuantity": {"value": 85, "unit": "ng/L"},
            "effectiveDateTime": "2026-11-02"
        });
        let bytes = serde_json::to_vec(&observation).unwrap();
        let fields = fhir_fields(&lab(), &bytes).unwrap();
        assert_eq!(fields, content_fields(&lab(), &troponin()).unwrap());

        // A schema without a FHIR type takes none; a resource of another type is
        // refused.
        let plain = schema("record.note", &["note:text"], None);
        assert!(matches!(fhir_fields(&plain, &bytes), Err(Error::Input(_))));
        let condition = serde_json::json!({"resourceType": "Condition", "subject": {}});
        let err = fhir_fields(&lab(), &serde_json::to_vec(&condition).unwrap()).unwrap_err();
        assert!(matches!(err, Error::Fhir(_)), "{err}");
        assert!(matches!(
            fhir_fields(&lab(), b"not json"),
            Err(Error::Fhir(_))
        ));
    }

    #[test]
    fn an_issuance_opens_with_the_subjects_key_only() {
        let mut rng = rng(4);
        let (hospital, cardiologist, patient, stranger) = (
            party(&mut rng),
            party(&mut rng),
            party(&mut rng),
            party(&mut rng),
        );
        let schema = lab();
        let draft = Draft {
            subject: patient.id(),
            holder_name: "Maria Gonzalez".into(),
            date_of_birth: "1961-07-23".into(),
            fields: content_fields(&schema, &troponin()).unwrap(),
            documents: vec![document_digest("report", b"scan")],
            valid_days: 10,
            corrects: Some(Hash::digest(b"earlier")),
            linked: false,
        };
        let content = draft.content(&mut rng);
        let now = 100 * crate::build::DAY_MS;
        let issuance = issue_credential(
            "mpms-test",
            "http://127.0.0.1:26601",
            issuer(&hospital, Some(&cardiologist)),
            &schema,
            Recipient::Named {
                subject: patient.id(),
                encryption_key: &patient.decryption("a subject").unwrap().encryption_key(),
            },
            &content,
            draft.terms(now, 0),
            &mut rng,
        )
        .unwrap();
        let claim = &issuance.claim;
        assert_eq!(claim.certifier, hospital.id());
        assert_eq!(claim.practitioner, Some(cardiologist.id()));
        assert_eq!(claim.signer(), cardiologist.id());
        assert_eq!(claim.supersedes, draft.corrects);
        assert_eq!(claim.valid_from_ms, now - crate::build::DAY_MS);
        assert_eq!(claim.valid_until_ms, now + 10 * crate::build::DAY_MS);
        assert_eq!(claim.commitment, content.commitment());

        let sealed = subject_sealed(&issuance).unwrap();
        let delivery =
            open_delivery(&issuance, sealed, patient.decryption("a wallet").unwrap()).unwrap();
        assert_eq!(delivery.content, content);
        verify_content(
            "mpms-test",
            claim,
            &issuance.certifier_signature,
            &cardiologist.id(),
            &delivery.content,
        )
        .unwrap();
        // The certifier's Verifiable Credential travels with the content.
        let vc = mpms_light::vc::verify_jwt(&delivery.vc_jwt.unwrap()).unwrap();
        assert_eq!(vc.credential_id, claim.id());
        vc.matches(claim, &cardiologist.id()).unwrap();
        vc.matches_content(claim, &content).unwrap();

        assert!(open_delivery(&issuance, sealed, stranger.decryption("x").unwrap()).is_err());
    }
}
