//! The join request: everything the consortium needs from an institution that wants
//! to join, in one file the institution sends them.
//!
//! It names the institution's node (peer id), its operator account and, for a
//! validator, its consensus key, and carries the institution's organization
//! registration already signed: a new account's first transaction has nonce 0, so
//! the applicant signs it before its node is admitted, and any member submits it.
//! The whole request is signed by the operator key, so nobody between the applicant
//! and the consortium can swap the peer id or the consensus key.

use std::path::Path;

use mpms_crypto::{Domain, PublicKey, Signature};
use mpms_ledger::transaction::OrganizationKind;
use mpms_ledger::{codec, Payload, SignedTransaction, Transaction};
use serde::{Deserialize, Serialize};

use crate::config::NodeConfig;
use crate::home::{peer_id_of, Home, HomeError};

/// Largest join request file read.
pub const MAX_JOIN_REQUEST_BYTES: u64 = 64 << 10;

/// What an institution sends the consortium to join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The statement the operator signed.
    #[serde(flatten)]
    pub body: JoinRequestBody,
    /// The operator key's signature over the canonical encoding of `body`.
    pub signature: Signature,
}

/// The signed part of a [`JoinRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequestBody {
    /// The chain it asks to join.
    pub chain_id: String,
    /// The node's name.
    pub moniker: String,
    /// The organization's public name.
    pub organization: String,
    /// The organization's kind.
    pub kind: OrganizationKind,
    /// The operator account (holds the stake, signs the institution's transactions).
    pub operator: PublicKey,
    /// The node's peer id, for `admit-node` and `add-authority`.
    pub peer_id: String,
    /// The consensus key, for `add-authority` (validators only).
    pub consensus_key: Option<PublicKey>,
    /// The organization's registration, signed by the operator (canonical bytes, hex).
    pub registration: String,
}

/// Why a join request cannot be made or used.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The home could not be read.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The request file could not be read.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The request is not valid.
    #[error("join request: {0}")]
    Invalid(String),
}

fn invalid(reason: impl Into<String>) -> JoinError {
    JoinError::Invalid(reason.into())
}

impl JoinRequest {
    /// The request of the institution whose node lives in `home`.
    pub fn create(
        home: &Home,
        config: &NodeConfig,
        organization: &str,
        kind: OrganizationKind,
    ) -> Result<JoinRequest, JoinError> {
        let genesis = home.load_genesis(config)?;
        let operator = home.load_operator(config)?;
        let consensus_key = home
            .load_consensus_keys(config)?
            .map(|k| k.newest().public_key());
        let peer_id =
            peer_id_of(home.load_node_key(config)?).map_err(|e| invalid(e.to_string()))?;
        let registration = Transaction {
            chain_id: genesis.chain_id.clone(),
            sender: operator.id(),
            nonce: 0,
            payload: Payload::RegisterOrganization {
                name: organization.to_string(),
                kind,
                encryption_key: operator.decryption.encryption_key(),
                // The requirement at genesis; governance may have raised it since
                // (then the registration is refused with the reason: make a new
                // request).
                work: mpms_ledger::work::stamp(
                    &genesis.chain_id,
                    &operator.id(),
                    genesis.params.account_creation_work_bits,
                ),
            },
        }
        .sign(&operator.signing);
        let body = JoinRequestBody {
            chain_id: genesis.chain_id,
            moniker: config.node.moniker.clone(),
            organization: organization.to_string(),
            kind,
            operator: operator.id(),
            peer_id,
            consensus_key,
            registration: hex::encode(codec::encode(&registration)),
        };
        let signature =
            operator
                .signing
                .sign(&body.chain_id, Domain::Network, &codec::encode(&body));
        let request = JoinRequest { body, signature };
        // What the consortium will check, checked here first.
        request.verify()?;
        Ok(request)
    }

    /// Reads and checks a request file.
    pub fn load(path: &Path) -> Result<JoinRequest, JoinError> {
        let file_error = |reason: String| JoinError::File {
            path: path.display().to_string(),
            reason,
        };
        let size = std::fs::metadata(path)
            .map_err(|e| file_error(e.to_string()))?
            .len();
        if size > MAX_JOIN_REQUEST_BYTES {
            return Err(file_error(format!(
                "{size} bytes: a join request is at most {MAX_JOIN_REQUEST_BYTES}"
            )));
        }
        let text = std::fs::read(path).map_err(|e| file_error(e.to_string()))?;
        let request: JoinRequest =
            serde_json::from_slice(&text).map_err(|e| file_error(e.to_string()))?;
        request.verify()?;
        Ok(request)
    }

    /// The JSON text of the request.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks the operator's signature, the peer id and the registration (signed by
    /// the operator, nonce 0, this chain, the organization named).
    pub fn verify(&self) -> Result<(), JoinError> {
        let body = &self.body;
        body.operator
            .verify(
                &body.chain_id,
                Domain::Network,
                &codec::encode(body),
                &self.signature,
            )
            .map_err(|_| invalid("the operator's signature does not match the request"))?;
        mpms_network::identity::parse_peer_id(&body.peer_id).map_err(|e| invalid(e.to_string()))?;
        let registration = self.registration()?;
        let tx = &registration.tx;
        if tx.sender != body.operator || tx.nonce != 0 || tx.chain_id != body.chain_id {
            return Err(invalid(
                "the registration is not the operator's first transaction on this chain",
            ));
        }
        match &tx.payload {
            Payload::RegisterOrganization { name, kind, .. }
                if *name == body.organization && *kind == body.kind => {}
            _ => {
                return Err(invalid(
                    "the registration does not register the organization named",
                ))
            }
        }
        registration
            .verify(&body.operator)
            .map_err(|_| invalid("the registration's signature is not the operator's"))?;
        Ok(())
    }

    /// The signed registration transaction.
    pub fn registration(&self) -> Result<SignedTransaction, JoinError> {
        let bytes = hex::decode(&self.body.registration)
            .map_err(|e| invalid(format!("registration: not hex: {e}")))?;
        codec::decode(&bytes).map_err(|e| invalid(format!("registration: {e}")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use mpms_crypto::keystore::KdfParams;
    use mpms_crypto::SigningKey;

    use super::*;
    use crate::home::{init, write_file, InitOptions};

    fn home(dir: &Path) -> (Home, NodeConfig) {
        let home = Home::new(dir.join("home"));
        let mut config = NodeConfig::default();
        config.node.password_file = dir.join("pw");
        write_file(&config.node.password_file, "correct horse", true).unwrap();
        let genesis = mpms_ledger::testkit::TestChain::new(4, 1).genesis;
        init(
            &home,
            InitOptions {
                moniker: "clinic",
                config,
                genesis: Some(&genesis),
                password: "correct horse",
                operator: None,
                validator: Some(None),
                node_secret: None,
                store_password: false,
                kdf: KdfParams::INSECURE_FAST,
            },
        )
        .unwrap();
        let config = home.load_config().unwrap().raw;
        (home, config)
    }

    #[test]
    fn a_request_verifies_and_tampering_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let (home, config) = home(dir.path());
        let request = JoinRequest::create(
            &home,
            &config,
            "Regional Clinic",
            OrganizationKind::Hospital,
        )
        .unwrap();
        let path = dir.path().join("join-request.json");
        std::fs::write(&path, request.to_json()).unwrap();
        let back = JoinRequest::load(&path).unwrap();
        assert_eq!(back, request);
        assert!(back.body.consensus_key.is_some());

        // A swapped peer id or consensus key breaks the operator's signature.
        let mut swapped = request.clone();
        swapped.body.consensus_key = Some(SigningKey::from_seed(&[9; 32]).public_key());
        assert!(swapped.verify().is_err());
        let mut swapped = request.clone();
        swapped.body.peer_id = "12D3KooWGarbage".into();
        assert!(swapped.verify().is_err());
        // A registration of someone else's is refused.
        let mut other = request.clone();
        other.body.organization = "Another".into();
        assert!(other.verify().is_err());
        // Garbage and oversized files are refused with the file named.
        std::fs::write(&path, b"{not json").unwrap();
        let err = JoinRequest::load(&path).unwrap_err().to_string();
        assert!(err.contains("join-request.json"), "{err}");
        std::fs::write(&path, vec![b' '; MAX_JOIN_REQUEST_BYTES as usize + 1]).unwrap();
        assert!(JoinRequest::load(&path).is_err());
    }
}
