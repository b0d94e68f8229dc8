//! Proof bundles from a node, checked as a verifier checks them.

use mpms_crypto::Hash;
use mpms_ledger::credential::CredentialContent;
use mpms_light::verify::verify_bundle;
use mpms_light::{Anchor, ProofBundle, Verdict};

use crate::api::Client;
use crate::error::Result;

/// `bundle` checked at `now_ms` against the anchor its own genesis gives (with
/// `content` against the claim's commitment, if given). This shows the node's
/// answer is consistent; a verifier brings its own anchor
/// ([`mpms_light::verify::verify_bundle`]).
pub fn self_anchored_verdict(
    bundle: &ProofBundle,
    content: Option<&CredentialContent>,
    now_ms: u64,
) -> Result<Verdict> {
    let anchor = Anchor::from_genesis(&bundle.genesis)?;
    Ok(verify_bundle(bundle, &anchor, content, now_ms))
}

/// Credential `id`'s proof bundle from the node, and its
/// [`self_anchored_verdict`] at `now_ms`.
pub fn fetch_checked(client: &Client, id: &Hash, now_ms: u64) -> Result<(ProofBundle, Verdict)> {
    let bundle = client.bundle(id)?;
    let verdict = self_anchored_verdict(&bundle, None, now_ms)?;
    Ok((bundle, verdict))
}
