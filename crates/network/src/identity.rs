//! Node identities: the libp2p key a node is known by on the network.

use libp2p::identity::Keypair;
use libp2p::PeerId;

/// Why a node key cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid node key: {0}")]
pub struct IdentityError(String);

/// The ed25519 node keypair from its 32-byte secret.
pub fn keypair_from_secret(secret: [u8; 32]) -> Result<Keypair, IdentityError> {
    let mut secret = secret;
    Keypair::ed25519_from_bytes(&mut secret).map_err(|e| IdentityError(e.to_string()))
}

/// A fresh random node keypair.
pub fn generate() -> Keypair {
    Keypair::generate_ed25519()
}

/// Parses a peer id in text form (as stored on chain and in config).
pub fn parse_peer_id(text: &str) -> Result<PeerId, IdentityError> {
    text.parse()
        .map_err(|e| IdentityError(format!("peer id {text:?}: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn same_secret_same_peer_and_text_round_trips() {
        let a = keypair_from_secret([7; 32]).unwrap();
        let b = keypair_from_secret([7; 32]).unwrap();
        let c = keypair_from_secret([8; 32]).unwrap();
        assert_eq!(a.public().to_peer_id(), b.public().to_peer_id());
        assert_ne!(a.public().to_peer_id(), c.public().to_peer_id());
        let text = a.public().to_peer_id().to_string();
        assert_eq!(parse_peer_id(&text).unwrap(), a.public().to_peer_id());
        assert!(parse_peer_id("not-a-peer").is_err());
    }
}
