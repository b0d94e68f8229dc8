//! A subject's entry keys: finding the entries issued to them, and acting for one.
//!
//! A certifier issues each entry of a patient's record to a fresh entry key of the
//! patient (see [`mpms_crypto::entry`]), so the chain shows no link between the
//! entries, nor between an entry and the patient's account. The patient's side
//! finds its entries by deriving, from every issuance's sealed-key `enc`
//! ([`Client::issuances`]), whether the subject it names is one of its entry keys;
//! a correction names the entry key of the entry it corrects. To grant access to an
//! entry, or to erase it, the patient signs with that entry's key
//! ([`acting_for`]).

use mpms_crypto::{EncryptionKey, EntryTweak, Hash, PublicKey};
use mpms_ledger::credential::entry_tweak;

use crate::api::Client;
use crate::error::{Error, Result};
use crate::party::Party;

/// One of a subject's entry keys, found on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundEntry {
    /// The entry key (the subject its claims name).
    pub subject: PublicKey,
    /// What turns the subject's key into it.
    pub tweak: EntryTweak,
    /// The credential issued to it first (later ones correct it).
    pub credential: Hash,
}

/// The entry keys of `party` (a subject with its decryption key) among the
/// issuances from `from_height` to the last final block, and the height to scan from
/// next time.
pub fn scan(client: &Client, party: &Party, from_height: u64) -> Result<(Vec<FoundEntry>, u64)> {
    let reader = party.decryption("finding entries")?;
    let signing_key = party.id();
    let mut found: Vec<FoundEntry> = Vec::new();
    let mut height = from_height.max(1);
    loop {
        let page = client.issuances(height)?;
        for note in &page.issuances {
            if found.iter().any(|f| f.subject == note.subject) {
                continue;
            }
            if let Some(tweak) = entry_tweak(&note.subject, &signing_key, reader, &note.enc) {
                found.push(FoundEntry {
                    subject: note.subject,
                    tweak,
                    credential: note.credential,
                });
            }
        }
        if page.next_height <= height {
            return Err(Error::malformed(
                "/v1/issuances",
                "the scan did not advance",
            ));
        }
        height = page.next_height;
        if height > page.height {
            return Ok((found, height));
        }
    }
}

/// The `enc` of the content key sealed to the subject of credential `id`, issued at
/// `height` (from the issuances the node lists for anyone); `None` once erased.
fn issuance_enc(client: &Client, id: &Hash, height: u64) -> Result<Option<EncryptionKey>> {
    let page = client.issuances(height)?;
    Ok(page
        .issuances
        .iter()
        .find(|note| &note.credential == id)
        .map(|note| note.enc))
}

/// Most corrections followed back to an entry's first issuance.
const MAX_CORRECTIONS: usize = 1_000;

/// The party that acts for `party` on credential `id` as its subject: `party`
/// itself when the credential names its account, or the entry key of `party` it
/// names (found from the sealed key of the entry's first issuance: a correction names
/// the entry key of the entry it corrects).
pub fn acting_for(client: &Client, party: &Party, id: &Hash) -> Result<Party> {
    let record = client.credential(id)?;
    let subject = record.claim.subject;
    if subject == party.id() {
        return Ok(party.clone());
    }
    let reader = party.decryption("acting for an entry")?;
    let mut current = *id;
    for _ in 0..MAX_CORRECTIONS {
        let record = client.credential(&current)?;
        if let Some(enc) = issuance_enc(client, &current, record.issued_height)? {
            if let Some(tweak) = entry_tweak(&subject, &party.id(), reader, &enc) {
                return Ok(party.entry(&tweak));
            }
        }
        match record.claim.supersedes {
            Some(earlier) => current = earlier,
            None => break,
        }
    }
    Err(Error::Input(format!(
        "credential {id} names subject {subject}: neither this account nor one of its entry keys"
    )))
}
