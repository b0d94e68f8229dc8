//! Sharing credentials: a subject grants an organization access to one credential,
//! or to a set of them in one transaction, by re-sealing each content key to the
//! grantee's encryption key; the grantee opens and checks what it was granted.

use std::collections::BTreeMap;

use mpms_crypto::{CryptoRng, DecryptionKey, EncryptionKey, Hash, PublicKey, RngCore, Sealed};
use mpms_ledger::credential::{
    granted_key, issuance_of, open_content, reseal_key, subject_sealed, verify_content,
    ContentError, CredentialContent,
};
use mpms_ledger::erasable::Erasable;
use mpms_ledger::records::{Credential, CredentialStatus, Grant, GrantSet};
use mpms_ledger::transaction::{
    grant_id, set_member_grant_id, CredentialIssuance, GrantSelection, GrantedEntry,
};
use mpms_ledger::{Payload, SignedTransaction};
use serde_json::{json, Value};

use crate::api::Client;
use crate::error::{Error, GrantError, Result};
use crate::party::Party;

/// The issuance `tx` carries; [`Error::Malformed`] if it carries none.
pub fn issuance_in(tx: &SignedTransaction) -> Result<&CredentialIssuance> {
    issuance_of(tx)
        .ok_or_else(|| Error::malformed(tx.hash().to_string(), "does not issue a credential"))
}

/// The content key of `issuance`, opened with its subject's key `subject` and
/// sealed again to `grantee_key`.
pub fn reseal<R: RngCore + CryptoRng>(
    issuance: &CredentialIssuance,
    subject: &DecryptionKey,
    grantee_key: &EncryptionKey,
    rng: &mut R,
) -> Result<Sealed> {
    Ok(reseal_key(
        &issuance.claim.id(),
        subject_sealed(issuance)?,
        subject,
        grantee_key,
        rng,
    )?)
}

/// A subject (key `subject`) grants `grantee` (encryption key `grantee_key`)
/// access to the credential `issuance` issued, until `expires_at_ms`, answering
/// `request` if given. The grant's id is [`grant_id`] of the sender and the nonce
/// the transaction is signed with.
#[allow(clippy::too_many_arguments)]
pub fn grant_access<R: RngCore + CryptoRng>(
    issuance: &CredentialIssuance,
    subject: &DecryptionKey,
    grantee: PublicKey,
    grantee_key: &EncryptionKey,
    request: Option<Hash>,
    expires_at_ms: u64,
    rng: &mut R,
) -> Result<Payload> {
    Ok(Payload::GrantAccess {
        credential: issuance.claim.id(),
        grantee,
        request,
        sealed_key: Erasable::new(reseal(issuance, subject, grantee_key, rng)?),
        expires_at_ms,
    })
}

/// A subject grants `grantee` access to every credential `issuances` issued, in one
/// transaction (a referral, a transfer), chosen by `selection`. Each entry's grant
/// id is [`set_member_grant_id`] of the set's ([`set_grant_ids`]).
#[allow(clippy::too_many_arguments)]
pub fn grant_access_set<R: RngCore + CryptoRng>(
    issuances: &[&CredentialIssuance],
    selection: GrantSelection,
    subject: &DecryptionKey,
    grantee: PublicKey,
    grantee_key: &EncryptionKey,
    request: Option<Hash>,
    expires_at_ms: u64,
    rng: &mut R,
) -> Result<Payload> {
    let mut entries = Vec::with_capacity(issuances.len());
    for issuance in issuances {
        entries.push(GrantedEntry {
            credential: issuance.claim.id(),
            sealed_key: Erasable::new(reseal(issuance, subject, grantee_key, rng)?),
        });
    }
    Ok(Payload::GrantAccessSet {
        grantee,
        request,
        selection,
        entries,
        expires_at_ms,
    })
}

/// The ids of a set grant sent by `sender` with `nonce` granting `credentials` (in
/// that order): the set's, and each entry's `(credential, grant)`.
pub fn set_grant_ids(
    sender: &PublicKey,
    nonce: u64,
    credentials: &[Hash],
) -> (Hash, Vec<(Hash, Hash)>) {
    let set = grant_id(sender, nonce);
    let entries = credentials
        .iter()
        .enumerate()
        .map(|(i, c)| (*c, set_member_grant_id(&set, i as u32)))
        .collect();
    (set, entries)
}

/// Which of `credentials` (a subject's, with their ids) a grant of schema `schema`
/// covers at `now_ms`: those of the schema neither erased, revoked nor expired
/// (corrected ones included: they are the history).
pub fn grantable(credentials: &[(Hash, Credential)], schema: &str, now_ms: u64) -> Vec<Hash> {
    credentials
        .iter()
        .filter(|(_, c)| {
            c.claim.schema == schema
                && c.erased_height.is_none()
                && c.status == CredentialStatus::Active
                && c.claim.valid_until_ms > now_ms
        })
        .map(|(_, c)| c.claim.id())
        .collect()
}

/// Whether `reader` may open the credential of grant `id` at `now_ms`: the grant is
/// its own, not revoked and not expired.
pub fn usable(id: &Hash, grant: &Grant, reader: &PublicKey, now_ms: u64) -> Result<(), GrantError> {
    if &grant.grantee != reader {
        return Err(GrantError::NotGrantee {
            grant: *id,
            grantee: grant.grantee,
            reader: *reader,
        });
    }
    if let Some(height) = grant.revoked_height {
        return Err(GrantError::Revoked { grant: *id, height });
    }
    if grant.expires_at_ms <= now_ms {
        return Err(GrantError::Expired {
            grant: *id,
            expired_at_ms: grant.expires_at_ms,
        });
    }
    Ok(())
}

/// The content of grant `id` (`grant`), opened by its grantee (key `reader`) with
/// the key the granting transaction sealed to it, and checked: commitment, and the
/// signature of the claim's signer.
pub fn open_grant_content(
    id: &Hash,
    grant: &Grant,
    issuing: &SignedTransaction,
    granting: &SignedTransaction,
    reader: &DecryptionKey,
) -> Result<CredentialContent> {
    let issuance = issuance_in(issuing)?;
    let sealed = granted_key(granting, grant.entry)
        .filter(|k| k.digest() == grant.sealed_key)
        .ok_or(GrantError::KeyMissing {
            grant: *id,
            granted_tx: grant.granted_tx,
        })?
        .get()
        .ok_or(ContentError::Erased)?;
    let content = open_content(issuance, sealed, reader)?;
    verify_content(
        &issuing.tx.chain_id,
        &issuance.claim,
        &issuance.certifier_signature,
        &issuance.claim.signer(),
        &content,
    )?;
    Ok(content)
}

impl Client {
    /// Credential `id`'s record and the transaction that issued it.
    pub fn issued(&self, id: &Hash) -> Result<(Credential, SignedTransaction)> {
        let record = self.credential(id)?;
        let tx = self.committed_tx(&record.issued_tx)?;
        issuance_in(&tx)?;
        Ok((record, tx))
    }
}

/// The subject `subject` grants `grantee` (a registered organization or certifier)
/// access to `credential` until `expires_at_ms`, answering `request` if given.
pub fn prepare_grant<R: RngCore + CryptoRng>(
    client: &Client,
    subject: &Party,
    credential: &Hash,
    grantee: PublicKey,
    request: Option<Hash>,
    expires_at_ms: u64,
    rng: &mut R,
) -> Result<Payload> {
    let grantee_key = client.organization_key(&grantee)?;
    // The sealed key is served to the credential's subject: a read it signs.
    let (_, tx) = client.reading_as(&subject.signing)?.issued(credential)?;
    grant_access(
        issuance_in(&tx)?,
        subject.decryption("granting access")?,
        grantee,
        &grantee_key,
        request,
        expires_at_ms,
        rng,
    )
}

/// Which credentials a set grant covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetSelection {
    /// Every credential of the schema neither erased, revoked nor expired
    /// ([`grantable`]).
    Schema(String),
    /// These.
    Listed(Vec<Hash>),
}

/// A set grant, ready to send.
#[derive(Debug, Clone)]
pub struct PreparedSet {
    /// The payload.
    pub payload: Payload,
    /// The credentials granted, in the entries' order.
    pub credentials: Vec<Hash>,
}

/// The subject `subject` grants `grantee` access to the credentials `selection`
/// names at `now_ms`, until `expires_at_ms`, in one transaction.
#[allow(clippy::too_many_arguments)]
pub fn prepare_grant_set<R: RngCore + CryptoRng>(
    client: &Client,
    subject: &Party,
    grantee: PublicKey,
    selection: SetSelection,
    request: Option<Hash>,
    expires_at_ms: u64,
    now_ms: u64,
    rng: &mut R,
) -> Result<PreparedSet> {
    // The listing and the sealed keys are served to the subject: reads it signs.
    let client = &client.reading_as(&subject.signing)?;
    let (selection, credentials) = match selection {
        SetSelection::Schema(schema) => {
            let held = client.subject_credentials(&subject.id())?;
            let ids = grantable(&held, &schema, now_ms);
            if ids.is_empty() {
                return Err(Error::Input(format!(
                    "no credential of schema {schema} to grant"
                )));
            }
            (GrantSelection::Schema(schema), ids)
        }
        SetSelection::Listed(ids) => (GrantSelection::Listed, ids),
    };
    let grantee_key = client.organization_key(&grantee)?;
    let mut txs = Vec::with_capacity(credentials.len());
    for credential in &credentials {
        txs.push(client.issued(credential)?.1);
    }
    let issuances = txs.iter().map(issuance_in).collect::<Result<Vec<_>>>()?;
    let payload = grant_access_set(
        &issuances,
        selection,
        subject.decryption("granting access")?,
        grantee,
        &grantee_key,
        request,
        expires_at_ms,
        rng,
    )?;
    Ok(PreparedSet {
        payload,
        credentials,
    })
}

/// The set grants that give `grantee` the credentials `selection` names of subject
/// `party`, one per key they are issued to (the account, or an entry key: the chain
/// links no two entry keys, so no single transaction may either), each with the
/// party that sends it. By schema: every grantable credential of the schema under
/// the account and under each of its entry keys.
#[allow(clippy::too_many_arguments)]
pub fn prepare_grant_sets<R: RngCore + CryptoRng>(
    client: &Client,
    party: &Party,
    grantee: PublicKey,
    selection: SetSelection,
    request: Option<Hash>,
    expires_at_ms: u64,
    now_ms: u64,
    rng: &mut R,
) -> Result<Vec<(Party, PreparedSet)>> {
    // (acting party, what it grants)
    let mut groups: Vec<(Party, SetSelection)> = Vec::new();
    match selection {
        SetSelection::Listed(ids) => {
            for id in ids {
                let acting = crate::entries::acting_for(client, party, &id)?;
                match groups.iter_mut().find(|(p, _)| p.id() == acting.id()) {
                    Some((_, SetSelection::Listed(listed))) => listed.push(id),
                    _ => groups.push((acting, SetSelection::Listed(vec![id]))),
                }
            }
        }
        SetSelection::Schema(schema) => {
            let (entries, _) = crate::entries::scan(client, party, 1)?;
            let keys =
                std::iter::once(party.clone()).chain(entries.iter().map(|e| party.entry(&e.tweak)));
            for acting in keys {
                let held = client
                    .reading_as(&acting.signing)?
                    .subject_credentials(&acting.id())?;
                if !grantable(&held, &schema, now_ms).is_empty() {
                    groups.push((acting, SetSelection::Schema(schema.clone())));
                }
            }
            if groups.is_empty() {
                return Err(Error::Input(format!(
                    "no credential of schema {schema} to grant"
                )));
            }
        }
    }
    groups
        .into_iter()
        .map(|(acting, selection)| {
            let prepared = prepare_grant_set(
                client,
                &acting,
                grantee,
                selection,
                request,
                expires_at_ms,
                now_ms,
                rng,
            )?;
            Ok((acting, prepared))
        })
        .collect()
}

/// A credential a grantee opened and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    /// The credential's id.
    pub credential: Hash,
    /// Its record on chain (claim, status, correction).
    pub record: Credential,
    /// The content, checked against the claim's commitment and its signer's
    /// signature.
    pub content: CredentialContent,
}

impl Opened {
    /// The fields, each as one line of text.
    pub fn field_texts(&self) -> BTreeMap<String, String> {
        self.content
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), v.display()))
            .collect()
    }

    /// A JSON summary: credential, schema, certifier, practitioner, supersedes,
    /// superseded_by, holder_name, fields (as text), status and
    /// `"signature_and_commitment": "valid"`.
    pub fn to_json(&self) -> Value {
        let claim = &self.record.claim;
        json!({
            "credential": self.credential.to_string(),
            "schema": claim.schema,
            "certifier": claim.certifier.to_string(),
            "practitioner": claim.practitioner.map(|p| p.to_string()),
            "supersedes": claim.supersedes.map(|c| c.to_string()),
            "superseded_by": self.record.superseded_by.map(|c| c.to_string()),
            "holder_name": self.content.holder_name,
            "fields": self.field_texts(),
            "status": self.record.status,
            "signature_and_commitment": "valid",
        })
    }
}

/// What a grant opened: one credential, or each entry of a set grant.
#[derive(Debug, Clone, PartialEq)]
pub enum OpenedGrant {
    /// A single grant's credential.
    Single(Box<Opened>),
    /// A set grant's credentials.
    Set {
        /// The set grant's id.
        id: Hash,
        /// Its record.
        set: Box<GrantSet>,
        /// Each entry, in order.
        entries: Vec<Opened>,
    },
}

impl OpenedGrant {
    /// The credentials opened.
    pub fn entries(&self) -> &[Opened] {
        match self {
            OpenedGrant::Single(opened) => std::slice::from_ref(opened.as_ref()),
            OpenedGrant::Set { entries, .. } => entries,
        }
    }

    /// A JSON summary: [`Opened::to_json`], or for a set `grant_set`, `selection`
    /// and `entries`.
    pub fn to_json(&self) -> Value {
        match self {
            OpenedGrant::Single(opened) => opened.to_json(),
            OpenedGrant::Set { id, set, entries } => json!({
                "grant_set": id.to_string(),
                "selection": set.selection,
                "entries": entries.iter().map(Opened::to_json).collect::<Vec<_>>(),
            }),
        }
    }
}

/// The grantee `reader` opens the credential shared with it by grant `grant` at
/// `now_ms`, and checks it (usable grant, signature, commitment).
pub fn open_granted(client: &Client, reader: &Party, grant: &Hash, now_ms: u64) -> Result<Opened> {
    let g = client.grant(grant)?;
    usable(grant, &g, &reader.id(), now_ms)?;
    // The ciphertext and the sealed keys are served to the grantee: reads it signs.
    let client = &client.reading_as(&reader.signing)?;
    let (record, issuing) = client.issued(&g.credential)?;
    if record.erased_height.is_some() {
        return Err(Error::Content(ContentError::Erased).context(format!(
            "credential {}: content erased at its subject's request",
            g.credential
        )));
    }
    let granting = client.committed_tx(&g.granted_tx)?;
    let content = open_grant_content(
        grant,
        &g,
        &issuing,
        &granting,
        reader.decryption("opening a credential")?,
    )?;
    Ok(Opened {
        credential: g.credential,
        record,
        content,
    })
}

/// [`open_granted`] of grant `id`, or of every entry if `id` is a set grant.
pub fn open_grant_or_set(
    client: &Client,
    reader: &Party,
    id: &Hash,
    now_ms: u64,
) -> Result<OpenedGrant> {
    let Some(set) = client.grant_set(id)? else {
        return Ok(OpenedGrant::Single(Box::new(open_granted(
            client, reader, id, now_ms,
        )?)));
    };
    let mut entries = Vec::with_capacity(set.grants.len());
    for (_, grant) in &set.grants {
        entries.push(open_granted(client, reader, grant, now_ms)?);
    }
    Ok(OpenedGrant::Set {
        id: *id,
        set: Box::new(set),
        entries,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::issue::{content_fields, issue_credential, issuer, Draft};
    use crate::submit::sign;
    use crate::testing::{party, rng, schema};
    use mpms_ledger::credential::open_key;

    fn grant(grantee: PublicKey) -> Grant {
        Grant {
            credential: Hash::digest(b"credential"),
            subject: mpms_crypto::SigningKey::from_seed(&[2; 32]).public_key(),
            grantee,
            request: None,
            sealed_key: Hash::digest(b"sealed key"),
            granted_tx: Hash::digest(b"granting transaction"),
            entry: 0,
            expires_at_ms: 10_000,
            granted_height: 3,
            revoked_height: None,
            inspection_count: 0,
        }
    }

    #[test]
    fn an_expired_grant_is_refused_as_a_revoked_one_is() {
        let board = mpms_crypto::SigningKey::from_seed(&[3; 32]).public_key();
        let id = Hash::digest(b"grant");
        let g = grant(board);
        usable(&id, &g, &board, 9_999).unwrap();
        let expired = usable(&id, &g, &board, 10_000).unwrap_err();
        assert!(expired.to_string().contains("expired"), "{expired}");
        let mut revoked = g.clone();
        revoked.revoked_height = Some(7);
        let refused = usable(&id, &revoked, &board, 0).unwrap_err();
        assert!(
            refused.to_string().contains("revoked at height 7"),
            "{refused}"
        );
        let other = mpms_crypto::SigningKey::from_seed(&[4; 32]).public_key();
        assert!(matches!(
            usable(&id, &g, &other, 0),
            Err(GrantError::NotGrantee { .. })
        ));
    }

    /// A credential issued to `subject` by a fresh certifier, signed into a
    /// transaction.
    fn issued_to(subject: &Party, seed: u64) -> SignedTransaction {
        let mut rng = rng(seed);
        let certifier = party(&mut rng);
        let schema = schema("record.note", &["note:text"], None);
        let draft = Draft {
            subject: subject.id(),
            holder_name: "Dr. Amina Okafor".into(),
            date_of_birth: "1998-04-12".into(),
            fields: content_fields(&schema, &[("note".into(), format!("entry {seed}"))]).unwrap(),
            documents: vec![],
            valid_days: 30,
            corrects: None,
            linked: false,
        };
        let issuance = issue_credential(
            "mpms-test",
            "http://127.0.0.1:26601",
            issuer(&certifier, None),
            &schema,
            mpms_ledger::credential::Recipient::Named {
                subject: subject.id(),
                encryption_key: &subject.decryption("a subject").unwrap().encryption_key(),
            },
            &draft.content(&mut rng),
            draft.terms(1_000_000, 0),
            &mut rng,
        )
        .unwrap();
        sign(
            "mpms-test",
            &certifier.signing,
            0,
            Payload::IssueCredential(Box::new(issuance)),
        )
    }

    fn record_of(tx: &SignedTransaction) -> Grant {
        let issuance = issuance_in(tx).unwrap();
        Grant {
            credential: issuance.claim.id(),
            ..grant(PublicKey::from_bytes([0; 32]))
        }
    }

    #[test]
    fn a_grant_reseals_the_key_to_the_grantee_and_opens_for_it_only() {
        let mut rng = rng(10);
        let (intern, board, stranger) = (party(&mut rng), party(&mut rng), party(&mut rng));
        let issuing = issued_to(&intern, 11);
        let issuance = issuance_in(&issuing).unwrap();
        let board_key = board.decryption("x").unwrap().encryption_key();
        let payload = grant_access(
            issuance,
            intern.decryption("granting access").unwrap(),
            board.id(),
            &board_key,
            None,
            5_000,
            &mut rng,
        )
        .unwrap();
        let Payload::GrantAccess {
            credential,
            grantee,
            sealed_key,
            expires_at_ms,
            ..
        } = &payload
        else {
            panic!("{payload:?}");
        };
        assert_eq!(*credential, issuance.claim.id());
        assert_eq!(*grantee, board.id());
        assert_eq!(*expires_at_ms, 5_000);
        // The re-sealed key opens with the grantee's key, and not with another's.
        let sealed = sealed_key.get().unwrap();
        open_key(credential, sealed, board.decryption("x").unwrap()).unwrap();
        assert!(open_key(credential, sealed, stranger.decryption("x").unwrap()).is_err());

        let granting = sign("mpms-test", &intern.signing, 4, payload.clone());
        granting.verify(&intern.id()).unwrap();
        let mut record = record_of(&issuing);
        record.grantee = board.id();
        record.sealed_key = sealed_key.digest();
        let id = grant_id(&intern.id(), 4);
        let content = open_grant_content(
            &id,
            &record,
            &issuing,
            &granting,
            board.decryption("x").unwrap(),
        )
        .unwrap();
        assert_eq!(content.field_text("note"), "entry 11");
        assert!(open_grant_content(
            &id,
            &record,
            &issuing,
            &granting,
            stranger.decryption("x").unwrap()
        )
        .is_err());
        // A grant record naming another key than the transaction holds is refused.
        record.sealed_key = Hash::digest(b"other");
        assert!(matches!(
            open_grant_content(
                &id,
                &record,
                &issuing,
                &granting,
                board.decryption("x").unwrap()
            ),
            Err(Error::Grant(GrantError::KeyMissing { .. }))
        ));
        // Only the subject can re-seal.
        assert!(grant_access(
            issuance,
            stranger.decryption("x").unwrap(),
            board.id(),
            &board_key,
            None,
            5_000,
            &mut rng
        )
        .is_err());
    }

    #[test]
    fn a_set_grant_reseals_every_entry_and_names_their_grants() {
        let mut rng = rng(20);
        let (patient, riverside) = (party(&mut rng), party(&mut rng));
        let txs = [issued_to(&patient, 21), issued_to(&patient, 22)];
        let issuances: Vec<_> = txs.iter().map(|t| issuance_in(t).unwrap()).collect();
        let payload = grant_access_set(
            &issuances,
            GrantSelection::Listed,
            patient.decryption("x").unwrap(),
            riverside.id(),
            &riverside.decryption("x").unwrap().encryption_key(),
            None,
            9_000,
            &mut rng,
        )
        .unwrap();
        let Payload::GrantAccessSet { entries, .. } = &payload else {
            panic!("{payload:?}");
        };
        assert_eq!(entries.len(), 2);
        for (entry, issuance) in entries.iter().zip(&issuances) {
            assert_eq!(entry.credential, issuance.claim.id());
            open_key(
                &entry.credential,
                entry.sealed_key.get().unwrap(),
                riverside.decryption("x").unwrap(),
            )
            .unwrap();
        }
        let ids: Vec<Hash> = issuances.iter().map(|i| i.claim.id()).collect();
        let (set, members) = set_grant_ids(&patient.id(), 3, &ids);
        assert_eq!(set, grant_id(&patient.id(), 3));
        assert_eq!(members[1], (ids[1], set_member_grant_id(&set, 1)));

        // Each entry opens through its own grant record.
        let granting = sign("mpms-test", &patient.signing, 3, payload.clone());
        let mut record = record_of(&txs[1]);
        record.grantee = riverside.id();
        record.entry = 1;
        record.sealed_key = entries[1].sealed_key.digest();
        let content = open_grant_content(
            &members[1].1,
            &record,
            &txs[1],
            &granting,
            riverside.decryption("x").unwrap(),
        )
        .unwrap();
        assert_eq!(content.field_text("note"), "entry 22");
    }

    #[test]
    fn a_schema_grant_covers_live_entries_of_the_schema_only() {
        let mut rng = rng(30);
        let patient = party(&mut rng);
        let tx = issued_to(&patient, 31);
        let issuance = issuance_in(&tx).unwrap();
        let record = Credential {
            claim: issuance.claim.clone(),
            certifier_signature: issuance.certifier_signature,
            issued_height: 2,
            issued_tx: tx.hash(),
            status: CredentialStatus::Active,
            superseded_by: Some(Hash::digest(b"correction")),
            erased_height: None,
        };
        let id = record.claim.id();
        let until = record.claim.valid_until_ms;
        let mut revoked = record.clone();
        revoked.status = CredentialStatus::Revoked {
            reason: "error".into(),
            height: 5,
        };
        let mut erased = record.clone();
        erased.erased_height = Some(6);
        let held = vec![(id, record), (id, revoked), (id, erased)];
        // Corrected entries are part of the history and granted.
        assert_eq!(grantable(&held, "record.note", until - 1), vec![id]);
        assert!(grantable(&held, "record.note", until).is_empty());
        assert!(grantable(&held, "record.other", 0).is_empty());
    }
}
