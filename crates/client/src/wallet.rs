//! A subject's wallet: its credentials fetched, decrypted with its key and checked
//! (certifier signature and commitment), kept in a file encrypted with a password;
//! stackable progress; a FHIR R4 export; Verifiable Credentials and proof bundles
//! to show.

use std::collections::BTreeSet;

use mpms_crypto::{
    CryptoRng, EntryTweak, Hash, KdfParams, Keystore, PublicKey, RngCore, SigningKey,
};
use mpms_ledger::credential::{open_delivery, subject_sealed, verify_content, CredentialContent};
use mpms_ledger::records::{Credential, CredentialStatus, Schema};
use mpms_light::{ProofBundle, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::Client;
use crate::error::{Error, Result, ResultExt};
use crate::grant::issuance_in;
use crate::party::Party;

/// The label of a wallet file's encrypted store.
pub const WALLET_LABEL: &str = "mpms-wallet";

/// One decrypted credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Held {
    /// Credential id.
    pub id: Hash,
    /// The on-chain record (claim, status).
    pub record: Credential,
    /// The decrypted content.
    pub content: CredentialContent,
    /// The certifier's Verifiable Credential (a `vc+jwt`), if it made one.
    #[serde(default)]
    pub vc_jwt: Option<String>,
    /// The certifier's SD-JWT VC (`dc+sd-jwt`, every disclosure), if it made one.
    #[serde(default)]
    pub sd_jwt: Option<String>,
}

/// The portfolio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Portfolio {
    /// The subject.
    pub subject: String,
    /// The chain.
    pub chain_id: String,
    /// The height synced at.
    pub height: u64,
    /// Credentials.
    pub credentials: Vec<Held>,
    /// Every schema of the chain (for stackable progress).
    pub schemas: Vec<Schema>,
    /// Who asked for, was granted, lost or used access to these credentials (the
    /// chain's audit trail at the synced height).
    #[serde(default)]
    pub audit: Vec<mpms_api::AuditEvent>,
    /// For each event of [`Portfolio::audit`], the note sealed to the subject that it
    /// carries, opened: a request's purpose, an inspection's outcome.
    #[serde(default)]
    pub audit_notes: Vec<Option<String>>,
    /// The subject's entry keys found so far (see [`crate::entries`]).
    #[serde(default)]
    pub entry_keys: Vec<EntryKeyRecord>,
    /// The height the next scan for entry keys starts from.
    #[serde(default)]
    pub scanned_height: u64,
}

/// An entry key of the wallet's subject, as the wallet keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryKeyRecord {
    /// The entry key.
    pub subject: PublicKey,
    /// Its tweak, hex (secret: with the subject's key, it signs for the entry).
    pub tweak: String,
}

impl EntryKeyRecord {
    fn tweak(&self) -> Result<EntryTweak> {
        let bytes: [u8; 32] = hex::decode(&self.tweak)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                Error::Input(format!("the wallet's key of {} is damaged", self.subject))
            })?;
        EntryTweak::from_bytes(bytes)
            .ok_or_else(|| Error::Input(format!("the wallet's key of {} is damaged", self.subject)))
    }
}

/// Where a stack (a schema with prerequisites) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stack {
    /// The schema itself is held.
    Held,
    /// Every prerequisite is held.
    Ready,
    /// Some prerequisite is missing.
    Missing,
}

/// Progress on a stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// The stacked schema.
    pub schema: String,
    /// Where it stands.
    pub state: Stack,
    /// Prerequisites held.
    pub have: Vec<String>,
    /// Prerequisites not held.
    pub missing: Vec<String>,
}

/// A sync's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Synced {
    /// The portfolio.
    pub portfolio: Portfolio,
    /// Credentials left out because their content was erased at the subject's
    /// request, with the erasure's height.
    pub erased: Vec<(Hash, u64)>,
    /// Credentials naming the subject (or one of its entry keys) that its key does
    /// not open, or whose content does not match the claim: left out, with why.
    /// Anyone accredited can issue to a key; what the subject cannot open is not its.
    pub unreadable: Vec<(Hash, String)>,
}

/// Fetches the credentials of subject `party` from the node (those naming its
/// account, and those naming its entry keys, found by scanning the issuances since
/// `previous` was synced, or from the start), decrypts each with its key, checks it
/// (certifier signature and commitment) and returns the portfolio, with every schema
/// of the chain and the audit trail.
pub fn sync(client: &Client, party: &Party, previous: Option<&Portfolio>) -> Result<Synced> {
    let reader = party.decryption("a wallet")?;
    let status = client.node_status()?;
    let subject = party.id();
    // A previous portfolio of this subject on this chain: its entry keys stand, and
    // the scan goes on from where it stopped.
    let previous =
        previous.filter(|p| p.subject == subject.to_string() && p.chain_id == status.chain_id);
    let mut entry_keys = previous.map(|p| p.entry_keys.clone()).unwrap_or_default();
    let from = previous.map_or(1, |p| p.scanned_height.max(1));
    let (found, scanned_height) = crate::entries::scan(client, party, from)?;
    for entry in found {
        if !entry_keys.iter().any(|k| k.subject == entry.subject) {
            entry_keys.push(EntryKeyRecord {
                subject: entry.subject,
                tweak: hex::encode(entry.tweak.to_bytes()),
            });
        }
    }
    // Each key reads its own listing, audit trail and sealed keys (signed reads).
    let mut readers = vec![client.reading_as(&party.signing)?];
    for key in &entry_keys {
        readers.push(client.reading_as(&key.tweak()?.entry_signing_key(&party.signing))?);
    }
    let subjects: Vec<(PublicKey, &Client)> = std::iter::once(subject)
        .chain(entry_keys.iter().map(|k| k.subject))
        .zip(readers.iter())
        .collect();
    let mut credentials = Vec::new();
    let mut erased = Vec::new();
    let mut unreadable = Vec::new();
    for (named, client) in &subjects {
        for (id, record) in client.subject_credentials(named)? {
            if let Some(height) = record.erased_height {
                erased.push((id, height));
                continue;
            }
            match open_held(client, reader, id, record) {
                Ok(held) => credentials.push(held),
                Err(e) => unreadable.push((id, e.to_string())),
            }
        }
    }
    let schemas = client.schemas()?;
    let mut lines = Vec::new();
    let signers: Vec<SigningKey> = std::iter::once(Ok(party.signing.clone()))
        .chain(
            entry_keys
                .iter()
                .map(|k| Ok(k.tweak()?.entry_signing_key(&party.signing))),
        )
        .collect::<Result<_>>()?;
    for ((named, client), signer) in subjects.iter().zip(&signers) {
        for event in client.audit(named)? {
            let note = opened_note(signer, &event);
            lines.push((event, note));
        }
    }
    lines.sort_by_key(|(event, _)| event.time_ms());
    let (audit, audit_notes): (Vec<_>, Vec<_>) = lines.into_iter().unzip();
    Ok(Synced {
        portfolio: Portfolio {
            audit,
            subject: subject.to_string(),
            chain_id: status.chain_id,
            height: status.height,
            credentials,
            schemas,
            entry_keys,
            scanned_height,
            audit_notes,
        },
        erased,
        unreadable,
    })
}

/// The note `event` carries, opened with the subject's `key`: a request's purpose,
/// an inspection's outcome (`None` for other events, or a note that does not open).
fn opened_note(key: &SigningKey, event: &mpms_api::AuditEvent) -> Option<String> {
    use mpms_api::AuditEvent;
    use mpms_ledger::transaction::InspectionOutcome;
    match event {
        AuditEvent::Request {
            requester, purpose, ..
        } => mpms_ledger::notes::open_purpose(key, requester, purpose).ok(),
        AuditEvent::Inspection { grant, outcome, .. } => {
            match mpms_ledger::notes::open_outcome(key, grant, outcome).ok()? {
                InspectionOutcome::Verified => Some("verified".into()),
                InspectionOutcome::Failed(reason) => Some(format!("failed: {reason}")),
            }
        }
        _ => None,
    }
}

/// Credential `id` (its `record`) fetched, opened with `reader` and checked.
fn open_held(
    client: &Client,
    reader: &mpms_crypto::DecryptionKey,
    id: Hash,
    record: Credential,
) -> Result<Held> {
    let tx = client.committed_tx(&record.issued_tx)?;
    let issuance = issuance_in(&tx)?;
    let delivery = open_delivery(issuance, subject_sealed(issuance)?, reader)
        .context_with(|| format!("decrypting credential {id}"))?;
    let content = delivery.content;
    verify_content(
        &tx.tx.chain_id,
        &issuance.claim,
        &issuance.certifier_signature,
        &issuance.claim.signer(),
        &content,
    )
    .context_with(|| format!("checking credential {id}"))?;
    Ok(Held {
        id,
        record,
        content,
        vc_jwt: delivery.vc_jwt,
        sd_jwt: delivery.sd_jwt,
    })
}

impl Portfolio {
    /// The key that signs as the subject of `held`: `party`'s own when the credential
    /// names its account, else the entry key it names.
    pub fn signer(&self, held: &Held, party: &Party) -> Result<SigningKey> {
        let subject = held.record.claim.subject;
        if subject == party.id() {
            return Ok(party.signing.clone());
        }
        let record = self
            .entry_keys
            .iter()
            .find(|k| k.subject == subject)
            .ok_or_else(|| Error::Input(format!("{} is not an entry of this wallet", held.id)))?;
        let signing = record.tweak()?.entry_signing_key(&party.signing);
        if signing.public_key() != subject {
            return Err(Error::Input(format!(
                "the key is not the subject of {}: another subject's wallet?",
                held.id
            )));
        }
        Ok(signing)
    }

    /// The portfolio encrypted under `password` (a wallet file's store).
    pub fn seal<R: RngCore + CryptoRng>(
        &self,
        password: &str,
        kdf: KdfParams,
        rng: &mut R,
    ) -> Result<Keystore> {
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(self).map_err(|e| Error::Input(format!("portfolio: {e}")))?,
        );
        Ok(Keystore::encrypt(WALLET_LABEL, &plain, password, kdf, rng)?)
    }

    /// The portfolio `store` holds, decrypted with `password`.
    pub fn unseal(store: &Keystore, password: &str) -> Result<Portfolio> {
        if store.label != WALLET_LABEL {
            return Err(Error::Input("not a wallet".into()));
        }
        let plain = store.decrypt(password)?;
        serde_json::from_slice(&plain).map_err(|e| Error::malformed("wallet", e))
    }

    /// Credential `id`, if the wallet holds it.
    pub fn find(&self, id: &Hash) -> Result<&Held> {
        self.credentials
            .iter()
            .find(|c| &c.id == id)
            .ok_or_else(|| {
                Error::Input(format!(
                    "credential {id} is not in the wallet (run wallet sync)"
                ))
            })
    }

    /// Schemas held now (active credentials).
    fn held_schemas(&self) -> BTreeSet<String> {
        self.credentials
            .iter()
            .filter(|c| matches!(c.record.status, CredentialStatus::Active))
            .map(|c| c.record.claim.schema.clone())
            .collect()
    }

    /// Progress on every schema with prerequisites that the subject has started on.
    pub fn progress(&self) -> Vec<Progress> {
        let held = self.held_schemas();
        let mut out = Vec::new();
        for s in self.schemas.iter().filter(|s| !s.prerequisites.is_empty()) {
            let (have, missing): (Vec<String>, Vec<String>) = s
                .prerequisites
                .iter()
                .cloned()
                .partition(|p| held.contains(p));
            if have.is_empty() && !held.contains(&s.id) {
                continue;
            }
            let state = if held.contains(&s.id) {
                Stack::Held
            } else if missing.is_empty() {
                Stack::Ready
            } else {
                Stack::Missing
            };
            out.push(Progress {
                schema: s.id.clone(),
                state,
                have,
                missing,
            });
        }
        out
    }

    /// The current view and the history: the entries no correction superseded, and
    /// those corrections replaced.
    pub fn current_and_corrected(&self) -> (Vec<&Held>, Vec<&Held>) {
        self.credentials
            .iter()
            .partition(|c| c.record.superseded_by.is_none())
    }

    /// The current entries whose schema maps to a FHIR resource type, as a FHIR R4
    /// Bundle (a `collection`). Each resource's author is the practitioner who
    /// signed it, else its certifier (account ids: the chain keeps no one's name
    /// for them).
    pub fn fhir_bundle(&self) -> Value {
        let mut resources = Vec::new();
        for held in &self.credentials {
            if held.record.superseded_by.is_some() {
                continue;
            }
            let Some(kind) = self
                .schemas
                .iter()
                .find(|s| s.id == held.record.claim.schema)
                .and_then(|s| s.fhir_resource.as_deref())
                .and_then(mpms_fhir::ResourceType::parse)
            else {
                continue;
            };
            let author = held.record.claim.signer().to_string();
            let mut resource = mpms_fhir::resource(
                kind,
                &held.content.fields,
                mpms_fhir::Parties {
                    subject: &held.content.holder_name,
                    author: &author,
                },
            );
            resource["id"] = serde_json::json!(held.id.to_string());
            resources.push(resource);
        }
        mpms_fhir::bundle(resources)
    }
}

impl Held {
    /// A presentation of the certifier's SD-JWT VC that shows only the members named
    /// in `show` (`holder_name`, `date_of_birth`, `documents`, or a field by its
    /// name), bound with `holder` (the subject's key) to the verifier's `audience` and
    /// `nonce`; checked as a verifier will check it before it is handed out.
    pub fn present(
        &self,
        show: &[String],
        holder: &SigningKey,
        audience: &str,
        nonce: &str,
        now_ms: u64,
    ) -> Result<String> {
        let sd_jwt = self.sd_jwt.as_deref().ok_or_else(|| {
            Error::Input(format!("the certifier delivered no SD-JWT for {}", self.id))
        })?;
        if holder.public_key() != self.record.claim.subject {
            return Err(Error::Input(format!(
                "the key is not the subject of {}",
                self.id
            )));
        }
        let presentation =
            mpms_light::sd_jwt::present(sd_jwt, show, holder, audience, nonce, now_ms)?;
        let checked = mpms_light::sd_jwt::verify_presentation(
            &presentation,
            audience,
            nonce,
            now_ms,
            mpms_light::sd_jwt::KB_CLOCK_SKEW_MS,
        )?;
        checked.matches(&self.record.claim, &checked.issuer_key)?;
        Ok(presentation)
    }

    /// The certifier's Verifiable Credential, checked before it is handed out: its
    /// signature, and that it is this credential's claim and content.
    pub fn verified_vc(&self) -> Result<&str> {
        let jwt = self.vc_jwt.as_deref().ok_or_else(|| {
            Error::Input(format!(
                "the certifier delivered no Verifiable Credential for {}",
                self.id
            ))
        })?;
        let vc = mpms_light::vc::verify_jwt(jwt)?;
        vc.matches(&self.record.claim, &vc.issuer_key)?;
        vc.matches_content(&self.record.claim, &self.content)?;
        Ok(jwt)
    }
}

/// The proof bundle of `held` from the node, with its content unless
/// `without_content`, checked at `now_ms` before it is handed out
/// ([`crate::proof::self_anchored_verdict`]); [`Error::BundleCheck`] names the first
/// failed check.
pub fn proof_bundle(
    client: &Client,
    held: &Held,
    without_content: bool,
    now_ms: u64,
) -> Result<(ProofBundle, Verdict)> {
    let mut bundle = client.bundle(&held.id)?;
    if !without_content {
        bundle.content = Some(held.content.clone());
    }
    let verdict =
        crate::proof::self_anchored_verdict(&bundle, None, now_ms, &mpms_light::Policy::holder())?;
    if let Some(failed) = verdict.first_failure() {
        return Err(Error::BundleCheck(failed.name.to_string()));
    }
    Ok((bundle, verdict))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::issue::{content_fields, issue_credential, issuer, Draft};
    use crate::testing::{party, rng, schema};

    /// A held credential of `schema` issued to a fresh subject by a fresh certifier.
    fn held(schema: &Schema, fields: &[(&str, &str)], seed: u64) -> Held {
        let mut rng = rng(seed);
        let (certifier, subject) = (party(&mut rng), party(&mut rng));
        let given: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let draft = Draft {
            subject: subject.id(),
            holder_name: "Maria Gonzalez".into(),
            date_of_birth: "1961-07-23".into(),
            fields: content_fields(schema, &given).unwrap(),
            documents: vec![],
            valid_days: 30,
            corrects: None,
            linked: false,
        };
        let content = draft.content(&mut rng);
        let issuance = issue_credential(
            "mpms-test",
            "http://127.0.0.1:26601",
            issuer(&certifier, None),
            schema,
            mpms_ledger::credential::Recipient::Named {
                subject: subject.id(),
                encryption_key: &subject.decryption("x").unwrap().encryption_key(),
            },
            &content,
            draft.terms(1_000_000, 0),
            &mut rng,
        )
        .unwrap();
        let delivery = open_delivery(
            &issuance,
            subject_sealed(&issuance).unwrap(),
            subject.decryption("x").unwrap(),
        )
        .unwrap();
        Held {
            id: issuance.claim.id(),
            record: Credential {
                claim: issuance.claim.clone(),
                certifier_signature: issuance.certifier_signature,
                issued_height: 3,
                issued_tx: Hash::digest(b"tx"),
                status: CredentialStatus::Active,
                superseded_by: None,
                erased_height: None,
            },
            content: delivery.content,
            vc_jwt: delivery.vc_jwt,
            sd_jwt: delivery.sd_jwt,
        }
    }

    #[test]
    fn a_sync_opens_and_checks_each_credential_and_skips_erased_ones() {
        let mut rng = rng(50);
        let (certifier, intern) = (party(&mut rng), party(&mut rng));
        let bls = course("cardio.bls", &[]);
        let given: Vec<(String, String)> = course_fields()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let draft = Draft {
            subject: intern.id(),
            holder_name: "Dr. Amina Okafor".into(),
            date_of_birth: "1998-04-12".into(),
            fields: content_fields(&bls, &given).unwrap(),
            documents: vec![],
            valid_days: 30,
            corrects: None,
            linked: false,
        };
        let issuance = issue_credential(
            "mpms-test",
            "http://127.0.0.1:26601",
            issuer(&certifier, None),
            &bls,
            mpms_ledger::credential::Recipient::Named {
                subject: intern.id(),
                encryption_key: &intern.decryption("x").unwrap().encryption_key(),
            },
            &draft.content(&mut rng),
            draft.terms(1_000_000, 1),
            &mut rng,
        )
        .unwrap();
        let tx = crate::sign(
            "mpms-test",
            &certifier.signing,
            0,
            mpms_ledger::Payload::IssueCredential(Box::new(issuance.clone())),
        );
        let record = Credential {
            claim: issuance.claim.clone(),
            certifier_signature: issuance.certifier_signature,
            issued_height: 3,
            issued_tx: tx.hash(),
            status: CredentialStatus::Active,
            superseded_by: None,
            erased_height: None,
        };
        let erased_id = Hash::digest(b"erased");
        let erased = Credential {
            erased_height: Some(4),
            ..record.clone()
        };
        let id = record.claim.id();
        let json = |v: serde_json::Value| v.to_string();
        let (base, requests) = crate::testing::canned_node(vec![
            (
                200,
                json(serde_json::json!(mpms_api::Status {
                    chain_id: "mpms-test".into(),
                    height: 6,
                    ..mpms_api::Status::default()
                })),
            ),
            (
                200,
                json(serde_json::json!(mpms_api::IssuanceNotes {
                    issuances: vec![],
                    next_height: 7,
                    height: 6,
                })),
            ),
            // The subject's own reads are signed: the client reads the chain id.
            (
                200,
                json(serde_json::json!(mpms_api::Status {
                    chain_id: "mpms-test".into(),
                    height: 6,
                    ..mpms_api::Status::default()
                })),
            ),
            (
                200,
                json(serde_json::json!({"subject": intern.id(), "credentials": [
                    {"id": id, "credential": record},
                    {"id": erased_id, "credential": erased},
                ]})),
            ),
            (
                200,
                json(serde_json::json!({
                    "hash": record.issued_tx,
                    "status": "committed",
                    "height": 3,
                    "transaction_bytes": hex::encode(mpms_ledger::codec::encode(&tx)),
                })),
            ),
            (200, json(serde_json::json!({"schemas": [bls]}))),
            (
                200,
                json(serde_json::json!(mpms_api::SubjectAudit {
                    subject: intern.id(),
                    as_of_height: 6,
                    truncated: false,
                    next: None,
                    events: vec![mpms_api::AuditEvent::GrantRevoked {
                        grant: id,
                        credential: id,
                        grantee: intern.id(),
                        height: 5,
                        time_ms: 5_000,
                    }],
                })),
            ),
        ]);
        let synced = sync(&Client::new(&base), &intern, None).unwrap();
        assert_eq!(synced.erased, vec![(erased_id, 4)]);
        let p = &synced.portfolio;
        assert_eq!((p.chain_id.as_str(), p.height), ("mpms-test", 6));
        assert_eq!(p.subject, intern.id().to_string());
        assert_eq!(p.credentials.len(), 1);
        assert_eq!(p.credentials[0].id, id);
        assert_eq!(p.credentials[0].content.holder_name, "Dr. Amina Okafor");
        assert!(p.credentials[0].verified_vc().is_ok());
        assert_eq!(p.schemas, vec![bls]);
        assert_eq!(p.audit.len(), 1);
        let paths: Vec<String> = requests.iter().take(7).map(|(l, _)| l).collect();
        assert_eq!(paths[1], "GET /v1/issuances?from_height=1 HTTP/1.1");
        assert_eq!(
            paths[3],
            format!(
                "GET /v1/subjects/{}/credentials?limit=1000 HTTP/1.1",
                intern.id()
            )
        );

        // Keys that only sign cannot hold a wallet.
        let signer = Party::signing_only(certifier.signing);
        assert!(matches!(
            sync(&Client::new(&base), &signer, None),
            Err(Error::NoDecryptionKey(_))
        ));
    }

    fn course(id: &str, prerequisites: &[&str]) -> Schema {
        let mut s = schema(id, &[], None);
        s.prerequisites = prerequisites.iter().map(|p| p.to_string()).collect();
        s
    }

    fn course_fields() -> [(&'static str, &'static str); 4] {
        [
            ("description", "16 hours"),
            ("start_date", "2026-01-05"),
            ("end_date", "2026-01-07"),
            ("result", "passed"),
        ]
    }

    fn portfolio(credentials: Vec<Held>, schemas: Vec<Schema>) -> Portfolio {
        Portfolio {
            subject: "subject".into(),
            chain_id: "mpms-test".into(),
            height: 9,
            credentials,
            schemas,
            audit: vec![],
            audit_notes: vec![],
            entry_keys: vec![],
            scanned_height: 0,
        }
    }

    #[test]
    fn progress_shows_held_ready_and_missing_stacks() {
        let bls = course("cardio.bls", &[]);
        let acls = course("cardio.acls", &["cardio.bls"]);
        let ecg = course("cardio.ecg", &["cardio.bls", "cardio.rhythm"]);
        let unrelated = course("neuro.advanced", &["neuro.basic"]);
        let schemas = vec![bls.clone(), acls.clone(), ecg, unrelated];
        let only_bls = portfolio(vec![held(&bls, &course_fields(), 1)], schemas.clone());
        let progress = only_bls.progress();
        assert_eq!(progress.len(), 2, "{progress:?}");
        assert_eq!(progress[0].schema, "cardio.acls");
        assert_eq!(progress[0].state, Stack::Ready);
        assert_eq!(progress[1].state, Stack::Missing);
        assert_eq!(progress[1].missing, vec!["cardio.rhythm".to_string()]);
        assert_eq!(
            serde_json::to_value(&progress[0]).unwrap()["state"],
            "ready"
        );

        let both = portfolio(
            vec![
                held(&bls, &course_fields(), 1),
                held(&acls, &course_fields(), 2),
            ],
            schemas,
        );
        assert_eq!(both.progress()[0].state, Stack::Held);
    }

    #[test]
    fn a_wallet_opens_with_its_password_only() {
        let bls = course("cardio.bls", &[]);
        let p = portfolio(vec![held(&bls, &course_fields(), 1)], vec![bls]);
        let store = p
            .seal("pass phrase", KdfParams::INSECURE_FAST, &mut rng(5))
            .unwrap();
        assert_eq!(Portfolio::unseal(&store, "pass phrase").unwrap(), p);
        assert!(matches!(
            Portfolio::unseal(&store, "wrong"),
            Err(Error::Keystore(_))
        ));
        let other = Keystore::encrypt(
            "other",
            b"{}",
            "pass phrase",
            KdfParams::INSECURE_FAST,
            &mut rng(6),
        )
        .unwrap();
        assert!(Portfolio::unseal(&other, "pass phrase").is_err());
        let id = p.credentials[0].id;
        assert_eq!(p.find(&id).unwrap().id, id);
        assert!(p.find(&Hash::digest(b"no")).is_err());
    }

    #[test]
    fn the_fhir_export_holds_current_mapped_entries() {
        let lab = schema(
            "record.lab-result",
            &[
                "status:text",
                "code:code:http://loinc.org",
                "value:number:ng/L",
                "effective:date",
            ],
            Some("Observation"),
        );
        let note = schema("record.note", &["note:text"], None);
        let fields = [
            ("status", "final"),
            ("code", "10839-9|Troponin I.cardiac"),
            ("value", "85"),
            ("effective", "2026-11-02"),
        ];
        let current = held(&lab, &fields, 7);
        let mut corrected = held(&lab, &fields, 8);
        corrected.record.superseded_by = Some(current.id);
        let unmapped = held(&note, &[("note", "rest")], 9);
        let p = portfolio(vec![current.clone(), corrected, unmapped], vec![lab, note]);
        let bundle = p.fhir_bundle();
        assert_eq!(bundle["resourceType"], "Bundle");
        let entries = bundle["entry"].as_array().unwrap();
        assert_eq!(entries.len(), 1, "{bundle}");
        let resource = &entries[0]["resource"];
        assert_eq!(resource["resourceType"], "Observation");
        assert_eq!(resource["id"], current.id.to_string());
        assert_eq!(resource["valueQuantity"]["value"], 85);
        let (now, history) = p.current_and_corrected();
        assert_eq!((now.len(), history.len()), (2, 1));
    }

    #[test]
    fn a_verifiable_credential_is_checked_before_it_is_handed_out() {
        let bls = course("cardio.bls", &[]);
        let mut h = held(&bls, &course_fields(), 1);
        assert!(h.verified_vc().unwrap().contains('.'));
        // Content that is not the credential's is refused.
        h.content.holder_name = "Someone Else".into();
        assert!(matches!(h.verified_vc(), Err(Error::Vc(_))));
        h.vc_jwt = None;
        assert!(matches!(h.verified_vc(), Err(Error::Input(_))));
    }
}
