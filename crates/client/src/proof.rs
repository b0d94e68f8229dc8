//! Proof bundles from a node, checked as a verifier checks them.

use mpms_crypto::Hash;
use mpms_ledger::credential::CredentialContent;
use mpms_light::verify::verify_bundle;
use mpms_light::{Anchor, Policy, ProofBundle, Verdict};

use crate::api::Client;
use crate::error::Result;

/// `bundle` checked at `now_ms` under `policy` against the anchor its own genesis
/// block gives (with `content` against the claim's commitment, if given). This
/// shows the node's answer is consistent; a verifier brings its own anchor
/// ([`mpms_light::verify::verify_bundle`]).
pub fn self_anchored_verdict(
    bundle: &ProofBundle,
    content: Option<&CredentialContent>,
    now_ms: u64,
    policy: &Policy,
) -> Result<Verdict> {
    let anchor = Anchor::from_published(&bundle.genesis, &bundle.genesis.header.hash())?;
    Ok(verify_bundle(bundle, &anchor, content, now_ms, policy))
}

/// Credential `id`'s proof bundle from the node, and its
/// [`self_anchored_verdict`] at `now_ms`, as its holder checks it
/// ([`Policy::holder`]).
pub fn fetch_checked(client: &Client, id: &Hash, now_ms: u64) -> Result<(ProofBundle, Verdict)> {
    let bundle = client.bundle(id)?;
    let verdict = self_anchored_verdict(&bundle, None, now_ms, &Policy::holder())?;
    Ok((bundle, verdict))
}
