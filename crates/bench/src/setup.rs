//! Before a step: the subjects (and, on an existing network, the verifier)
//! register with the proof of work the chain asks for, and every certifier
//! registers its schema, all in finalized blocks.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use mpms_crypto::Hash;
use mpms_ledger::codec;

use crate::api::{Api, Failure};
use crate::workload::Actors;

/// Registers `actors`' subjects and schemas (and the verifier, if asked) through
/// `api` and waits until every registration is in a finalized block (at most
/// `timeout`).
pub async fn register(
    api: &Api,
    actors: &mut Actors,
    verifier: bool,
    timeout: Duration,
) -> Result<(), Failure> {
    let params = api.get_json("/v1/params").await?;
    let bits = params["account_creation_work_bits"]
        .as_u64()
        .and_then(|b| u8::try_from(b).ok())
        .ok_or_else(|| {
            Failure::Transport("/v1/params without account_creation_work_bits".into())
        })?;
    let mut txs = Vec::new();
    if verifier {
        txs.push(actors.register_verifier(bits));
    }
    for j in 0..actors.subjects.len() {
        txs.push(actors.register_subject(j, bits));
    }
    for k in 0..actors.certifiers.len() {
        txs.push(actors.register_schema(k));
    }
    let mut confirmations = api.confirmations().await?;
    let mut waiting: HashSet<Hash> = HashSet::new();
    for tx in &txs {
        let hash = api.submit(Bytes::from(codec::encode(tx))).await?;
        waiting.insert(hash);
    }
    let deadline = tokio::time::Instant::now() + timeout;
    while !waiting.is_empty() {
        match tokio::time::timeout_at(deadline, confirmations.recv()).await {
            Ok(Some(c)) => {
                waiting.remove(&c.hash);
            }
            Ok(None) => return Err(Failure::Transport("the event stream closed".into())),
            Err(_) => {
                return Err(Failure::NotConfirmed(timeout));
            }
        }
    }
    Ok(())
}
