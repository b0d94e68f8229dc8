//! After a step: every transaction of the step that is in a finalized block was
//! counted once, at the block the chain holds it in, and nothing counted is missing
//! from the chain.

use std::collections::HashMap;

use mpms_crypto::Hash;

use crate::api::{Api, Failure};
use crate::run::StepResult;

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Blocks read.
    pub blocks: u64,
    /// Transactions of the step found in them.
    pub committed: usize,
}

/// Reads blocks `from..=` the latest through `api` and checks `result` against them.
pub async fn against_chain(api: &Api, result: &StepResult, from: u64) -> Result<Verified, String> {
    let ours: HashMap<Hash, usize> = result
        .samples
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.hash.map(|h| (h, i)))
        .collect();
    let latest = api
        .get_json("/v1/blocks/latest")
        .await
        .map_err(|e: Failure| e.to_string())?["header"]["height"]
        .as_u64()
        .ok_or("the latest block has no height")?;
    let mut seen: HashMap<Hash, u64> = HashMap::new();
    for height in from..=latest {
        let block = api
            .get_json(&format!("/v1/blocks/{height}"))
            .await
            .map_err(|e| format!("block {height}: {e}"))?;
        for tx in block["transactions"].as_array().into_iter().flatten() {
            let Some(hash) = tx.as_str().and_then(|h| h.parse::<Hash>().ok()) else {
                return Err(format!("block {height} lists a malformed transaction hash"));
            };
            if !ours.contains_key(&hash) {
                continue;
            }
            if let Some(first) = seen.insert(hash, height) {
                return Err(format!("{hash} is in blocks {first} and {height}"));
            }
        }
    }
    for (hash, i) in &ours {
        let sample = &result.samples[*i];
        match (seen.get(hash), sample.height) {
            (Some(h), Some(counted)) if *h == counted => {}
            (Some(h), Some(counted)) => {
                return Err(format!(
                    "{hash} counted at block {counted}, the chain holds it at {h}"
                ))
            }
            (Some(h), None) => return Err(format!("{hash} is in block {h} but was not counted")),
            (None, Some(counted)) => {
                return Err(format!(
                    "{hash} counted at block {counted}, not in the chain"
                ))
            }
            (None, None) => {}
        }
    }
    Ok(Verified {
        blocks: latest.saturating_sub(from) + 1,
        committed: seen.len(),
    })
}
