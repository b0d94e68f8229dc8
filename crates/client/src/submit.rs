//! Signing a payload and sending it: the sender's next nonce, the node's chain id,
//! submission and (optionally) waiting for the block.

use std::time::{Duration, Instant};

use mpms_crypto::{Hash, SigningKey};
use mpms_ledger::{Payload, SignedTransaction, Transaction};

use crate::api::Client;
use crate::error::{Error, Result};
use crate::party::Party;

/// How long [`Wait::Committed`] usually waits for a block.
pub const COMMIT_WAIT: Duration = Duration::from_secs(60);

/// How long a sender's first transaction usually waits for the node to know its
/// account ([`Client::send_when_known`]).
pub const ACCOUNT_WAIT: Duration = Duration::from_secs(15);

/// The transaction `payload` from `signer`'s account with `nonce`, for chain
/// `chain_id`, signed.
pub fn sign(
    chain_id: &str,
    signer: &SigningKey,
    nonce: u64,
    payload: Payload,
) -> SignedTransaction {
    Transaction {
        chain_id: chain_id.to_string(),
        sender: signer.public_key(),
        nonce,
        payload,
    }
    .sign(signer)
}

/// When [`Client::send`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Once the node admitted the transaction.
    Admitted,
    /// Once the transaction is in a committed block, waiting at most this long.
    Committed(Duration),
}

/// A sent transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Its hash.
    pub hash: Hash,
    /// The nonce it was signed with (the ids a transaction creates, such as a
    /// grant's or a request's, derive from it).
    pub nonce: u64,
    /// Its block's height, if it was waited for.
    pub height: Option<u64>,
}

impl Client {
    /// Signs `payload` as `party` with its next nonce on the node's chain, submits
    /// it and waits as `wait` says. A refused transaction is [`Error::Refused`].
    pub fn send(&self, party: &Party, payload: Payload, wait: Wait) -> Result<Sent> {
        let chain_id = self.chain_id()?;
        let nonce = self.next_nonce(&party.id())?;
        let tx = sign(&chain_id, &party.signing, nonce, payload);
        let hash = self.submit(&tx)?;
        let height = match wait {
            Wait::Admitted => None,
            Wait::Committed(limit) => Some(self.wait_committed(&hash, limit)?.height),
        };
        Ok(Sent {
            hash,
            nonce,
            height,
        })
    }

    /// [`Client::send`], retrying for up to `patience` while the node does not know
    /// the sender's account yet: an account funded moments ago through another node
    /// exists on this one once it has applied that block. `on_unknown` runs once, the
    /// first time the node answers that it does not know the account.
    pub fn send_when_known(
        &self,
        party: &Party,
        payload: Payload,
        wait: Wait,
        patience: Duration,
        mut on_unknown: impl FnMut(),
    ) -> Result<Sent> {
        let deadline = Instant::now() + patience;
        let mut told = false;
        loop {
            match self.send(party, payload.clone(), wait) {
                Err(Error::Refused(reason))
                    if reason.starts_with("unknown account") && Instant::now() < deadline =>
                {
                    if !told {
                        on_unknown();
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn a_signed_transaction_is_the_signers_with_the_nonce_and_chain() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let party = Party::generate(&mut rng);
        let tx = sign("mpms-test", &party.signing, 7, Payload::Bond { amount: 5 });
        assert_eq!(tx.tx.sender, party.id());
        assert_eq!(tx.tx.nonce, 7);
        assert_eq!(tx.tx.chain_id, "mpms-test");
        tx.verify(&party.id()).unwrap();
        let other = Party::generate(&mut rng);
        assert!(tx.verify(&other.id()).is_err());
    }
}
