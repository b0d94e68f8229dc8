//! The composed libp2p behaviour.

use std::time::Duration;

use libp2p::allow_block_list::{self, AllowedPeers, BlockedPeers};
use libp2p::gossipsub::{self, MessageAuthenticity, MessageId, ValidationMode};
use libp2p::identity::Keypair;
use libp2p::kad::{self, store::MemoryStore};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{identify, StreamProtocol};
use mpms_crypto::Hash;

use crate::config::CheckedConfig;
use crate::wire::{SyncCodec, SYNC_PROTOCOL};

const IDENTIFY_PROTOCOL: &str = "/mpms/id/1";
const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/mpms/kad/1");

/// Everything a node speaks. The admission lists come first so a refused peer is
/// turned away before any other protocol sees the connection.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub admitted: Toggle<allow_block_list::Behaviour<AllowedPeers>>,
    pub banned: allow_block_list::Behaviour<BlockedPeers>,
    pub identify: identify::Behaviour,
    pub kad: Toggle<kad::Behaviour<MemoryStore>>,
    pub gossip: gossipsub::Behaviour,
    pub sync: request_response::Behaviour<SyncCodec>,
}

impl Behaviour {
    pub fn new(key: &Keypair, config: &CheckedConfig) -> Result<Behaviour, String> {
        let raw = &config.raw;
        let peer_id = key.public().to_peer_id();
        // Anonymous gossip: what travels on our topics authenticates itself (signed
        // transactions and statements, certified blocks), and peers are judged by who
        // forwarded a message. A publisher's libp2p signature would add nothing but
        // an ed25519 check of every copy received, duplicates included, before the
        // duplicate is even recognized.
        let gossip_config = gossipsub::ConfigBuilder::default()
            .validation_mode(ValidationMode::Anonymous)
            .validate_messages()
            .max_transmit_size(raw.max_message_bytes)
            .mesh_n(raw.mesh_n)
            .mesh_n_low(raw.mesh_n_low)
            .mesh_n_high(raw.mesh_n_high)
            .mesh_outbound_min(raw.mesh_n_low.min(raw.mesh_n / 2).saturating_sub(1).max(1))
            .heartbeat_interval(config.heartbeat())
            .duplicate_cache_time(Duration::from_secs(120))
            // Content-addressed ids: the same bytes from two publishers are one message.
            .message_id_fn(|message: &gossipsub::Message| {
                MessageId::from(Hash::digest(&message.data).as_bytes().to_vec())
            })
            .build()
            .map_err(|e| format!("gossip config: {e}"))?;
        let mut gossip = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gossip_config)
            .map_err(|e| format!("gossip: {e}"))?;
        gossip
            .with_peer_score(score_params(), score_thresholds())
            .map_err(|e| format!("gossip scoring: {e}"))?;

        let kad = raw.discovery.then(|| {
            let mut cfg = kad::Config::new(KAD_PROTOCOL);
            cfg.set_query_timeout(Duration::from_secs(30));
            let mut kad = kad::Behaviour::with_config(peer_id, MemoryStore::new(peer_id), cfg);
            kad.set_mode(Some(kad::Mode::Server));
            kad
        });

        let mut admitted = allow_block_list::Behaviour::<AllowedPeers>::default();
        for peer in &config.allowed_peers {
            admitted.allow_peer(*peer);
        }
        for (peer, _) in &config.boot_nodes {
            admitted.allow_peer(*peer);
        }

        Ok(Behaviour {
            admitted: Toggle::from(raw.permissioned.then_some(admitted)),
            banned: allow_block_list::Behaviour::default(),
            identify: identify::Behaviour::new(identify::Config::new(
                IDENTIFY_PROTOCOL.into(),
                key.public(),
            )),
            kad: Toggle::from(kad),
            gossip,
            sync: request_response::Behaviour::with_codec(
                SyncCodec {
                    max_request_bytes: 1 << 10,
                    max_response_bytes: raw.max_sync_response_bytes,
                },
                [(SYNC_PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_millis(raw.sync_timeout_ms)),
            ),
        })
    }
}

/// Peer scoring: invalid messages weigh heavily; the rest are gossipsub defaults,
/// except the IP colocation penalty, which is off.
fn score_params() -> gossipsub::PeerScoreParams {
    gossipsub::PeerScoreParams {
        // Gossipsub's default penalizes many peers behind one IP address (a Sybil
        // defence for open networks). Here every peer is admitted by identity, and
        // member institutions often share an address (NAT, one host running several
        // nodes, a local network on 127.0.0.1): with the penalty, a node with more than
        // ten such peers scores them all below the gossip threshold and stops
        // receiving forwarded messages.
        ip_colocation_factor_weight: 0.0,
        // Per-topic parameters are added as topics are joined (see `topic_score`).
        ..gossipsub::PeerScoreParams::default()
    }
}

/// Score parameters for one of our topics: every invalid message costs the sender
/// (the penalty grows with the square of the count and decays by a tenth a second).
/// No positive rewards: a peer cannot bank credit to spend on junk later.
pub(crate) fn topic_score() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        invalid_message_deliveries_weight: -200.0,
        invalid_message_deliveries_decay: 0.9,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        // Delivery-rate penalties suit steady high-volume topics; ours are bursty.
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        ..gossipsub::TopicScoreParams::default()
    }
}

/// At or below this score gossipsub ignores a peer; the node then disconnects it.
pub(crate) const GRAYLIST_THRESHOLD: f64 = -1_000.0;

fn score_thresholds() -> gossipsub::PeerScoreThresholds {
    gossipsub::PeerScoreThresholds {
        gossip_threshold: -100.0,
        publish_threshold: -500.0,
        graylist_threshold: GRAYLIST_THRESHOLD,
        ..gossipsub::PeerScoreThresholds::default()
    }
}
