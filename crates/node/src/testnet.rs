//! A local test network: one genesis and one home per node, every port on 127.0.0.1.
//!
//! Node `i` listens for peers on `base_port + 10 i`, serves the API on
//! `base_port + 10 i + 1` and the admin API on `base_port + 10 i + 2`. Every node
//! knows every validator as a boot node. Validators' keystore passwords are written
//! next to the keystores (`keys/password`): this is for local networks only.

use std::path::{Path, PathBuf};

use mpms_crypto::keystore::KdfParams;
use mpms_crypto::SigningKey;
use mpms_ledger::genesis::{
    GenesisAccount, GenesisAuthority, GenesisCertifier, GenesisOrganization,
};
use mpms_ledger::{Genesis, Params};
use rand::rngs::OsRng;
use rand::RngCore;

use crate::config::NodeConfig;
use crate::home::{init, peer_id_of, write_file, Home, HomeError, InitOptions};
use crate::keys::AccountKeys;

/// Options of [`generate`].
#[derive(Debug, Clone)]
pub struct TestnetOptions {
    /// Validators (authorities at genesis).
    pub validators: usize,
    /// Full nodes (follow the chain, serve the API, do not vote).
    pub full_nodes: usize,
    /// The chain id.
    pub chain_id: String,
    /// The first port.
    pub base_port: u16,
    /// Key derivation cost of the keystores.
    pub kdf: KdfParams,
    /// Genesis time (Unix ms).
    pub genesis_time_ms: u64,
    /// Empty-block heartbeat, ms (short on a test network so it visibly moves): a
    /// chain parameter, written in the genesis.
    pub heartbeat_ms: u64,
}

/// What a tool adds to a generated network (a benchmark: its certifiers, its
/// verifier, a cheap account proof of work, a high per-client submission rate).
#[derive(Debug, Clone, Default)]
pub struct TestnetExtras {
    /// Organizations registered at genesis.
    pub organizations: Vec<GenesisOrganization>,
    /// Certifiers accredited at genesis.
    pub certifiers: Vec<GenesisCertifier>,
    /// The genesis's minimum block interval (ms), if not the default.
    pub min_block_interval_ms: Option<u64>,
    /// The genesis's `account_creation_work_bits`, if not the default.
    pub account_creation_work_bits: Option<u8>,
    /// Every node's `api.max_submissions_per_sec`, if not the default.
    pub max_submissions_per_sec: Option<u32>,
}

/// One generated node.
#[derive(Debug, Clone)]
pub struct TestnetNode {
    /// Its name (`validator-0`, `full-0`).
    pub moniker: String,
    /// Its home.
    pub home: PathBuf,
    /// Its peer id.
    pub peer_id: String,
    /// Its peer-to-peer address.
    pub p2p: String,
    /// Its API address.
    pub api: String,
    /// Whether it is a validator.
    pub validator: bool,
}

/// Why a test network could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum TestnetError {
    /// Bad options.
    #[error("{0}")]
    Options(String),
    /// A home could not be written.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The genesis is invalid.
    #[error("genesis: {0}")]
    Genesis(String),
}

/// Writes the genesis and one home per node under `out` (`out/<moniker>`), and
/// `out/genesis.json`.
pub fn generate(out: &Path, options: &TestnetOptions) -> Result<Vec<TestnetNode>, TestnetError> {
    generate_with(out, options, &TestnetExtras::default())
}

/// [`generate`], with `extras` in the genesis and the nodes' configurations.
pub fn generate_with(
    out: &Path,
    options: &TestnetOptions,
    extras: &TestnetExtras,
) -> Result<Vec<TestnetNode>, TestnetError> {
    if options.validators == 0 {
        return Err(TestnetError::Options(
            "a network needs at least one validator".into(),
        ));
    }
    let total = options.validators + options.full_nodes;
    if u32::from(options.base_port) + 10 * total as u32 + 2 > u32::from(u16::MAX) {
        return Err(TestnetError::Options(format!(
            "ports from {} do not fit {total} nodes",
            options.base_port
        )));
    }
    // Node identities first: every configuration names every validator as boot node.
    struct Plan {
        moniker: String,
        node_secret: [u8; 32],
        peer_id: String,
        operator: AccountKeys,
        consensus: Option<SigningKey>,
        port: u16,
    }
    let mut plans = Vec::new();
    for i in 0..total {
        let validator = i < options.validators;
        let mut node_secret = [0u8; 32];
        OsRng.fill_bytes(&mut node_secret);
        let peer_id = peer_id_of(node_secret).map_err(|e| TestnetError::Options(e.to_string()))?;
        plans.push(Plan {
            moniker: if validator {
                format!("validator-{i}")
            } else {
                format!("full-{}", i - options.validators)
            },
            node_secret,
            peer_id,
            operator: AccountKeys::generate(),
            consensus: validator.then(|| SigningKey::generate(&mut OsRng)),
            port: options.base_port + 10 * i as u16,
        });
    }
    let mut params = Params::default();
    params.consensus.heartbeat_ms = options.heartbeat_ms;
    params.consensus.min_block_interval_ms = params
        .consensus
        .min_block_interval_ms
        .min(options.heartbeat_ms);
    if let Some(interval) = extras.min_block_interval_ms {
        params.consensus.min_block_interval_ms = interval;
    }
    if let Some(bits) = extras.account_creation_work_bits {
        params.account_creation_work_bits = bits;
    }
    let genesis = Genesis {
        chain_id: options.chain_id.clone(),
        genesis_time_ms: options.genesis_time_ms,
        params: params.clone(),
        authorities: plans
            .iter()
            .filter_map(|p| {
                p.consensus.as_ref().map(|k| GenesisAuthority {
                    operator: p.operator.id(),
                    consensus_key: k.public_key(),
                    peer_id: p.peer_id.clone(),
                    stake: params.min_authority_stake * 10,
                    balance: 1_000_000,
                })
            })
            .collect(),
        accounts: Vec::<GenesisAccount>::new(),
        organizations: extras.organizations.clone(),
        certifiers: extras.certifiers.clone(),
    };
    genesis
        .build()
        .map_err(|e| TestnetError::Genesis(e.to_string()))?;
    write_file(&out.join("genesis.json"), &genesis.to_json(), false)?;
    let boot_nodes: Vec<String> = plans
        .iter()
        .filter(|p| p.consensus.is_some())
        .map(|p| format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", p.port, p.peer_id))
        .collect();
    let full_node_ids: Vec<String> = plans
        .iter()
        .filter(|p| p.consensus.is_none())
        .map(|p| p.peer_id.clone())
        .collect();
    let mut nodes = Vec::new();
    for plan in plans {
        let home = Home::new(out.join(&plan.moniker));
        let mut config = NodeConfig::default();
        config.network.listen = vec![format!("/ip4/127.0.0.1/tcp/{}", plan.port)];
        let self_addr = format!("/p2p/{}", plan.peer_id);
        config.network.boot_nodes = boot_nodes
            .iter()
            .filter(|b| !b.ends_with(&self_addr))
            .cloned()
            .collect();
        // Full nodes are not on chain: every node admits them by configuration.
        config.network.allowed_peers = full_node_ids.clone();
        config.network.heartbeat_ms = 200;
        config.api.listen = format!("127.0.0.1:{}", plan.port + 1);
        config.api.admin_listen = format!("127.0.0.1:{}", plan.port + 2);
        if let Some(rate) = extras.max_submissions_per_sec {
            config.api.max_submissions_per_sec = rate;
        }
        let mut password = [0u8; 16];
        OsRng.fill_bytes(&mut password);
        let password = hex::encode(password);
        let validator = plan.consensus.is_some();
        init(
            &home,
            InitOptions {
                moniker: &plan.moniker,
                config,
                genesis: Some(&genesis),
                password: &password,
                operator: Some(plan.operator),
                validator: validator.then_some(plan.consensus),
                node_secret: Some(plan.node_secret),
                store_password: true,
                kdf: options.kdf,
            },
        )?;
        nodes.push(TestnetNode {
            moniker: plan.moniker,
            home: home.root().to_path_buf(),
            peer_id: plan.peer_id,
            p2p: format!("/ip4/127.0.0.1/tcp/{}", plan.port),
            api: format!("http://127.0.0.1:{}", plan.port + 1),
            validator,
        });
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn writes_a_consistent_network() {
        let dir = tempfile::tempdir().unwrap();
        let nodes = generate(
            dir.path(),
            &TestnetOptions {
                validators: 4,
                full_nodes: 1,
                chain_id: "mpms-testnet".into(),
                base_port: 36_000,
                kdf: KdfParams::INSECURE_FAST,
                genesis_time_ms: 1_767_225_600_000,
                heartbeat_ms: 1_000,
            },
        )
        .unwrap();
        assert_eq!(nodes.len(), 5);
        let genesis =
            Genesis::from_json(&std::fs::read(dir.path().join("genesis.json")).unwrap()).unwrap();
        assert_eq!(genesis.authorities.len(), 4);
        for (i, node) in nodes.iter().enumerate() {
            let home = Home::new(&node.home);
            let config = home.load_config().unwrap().raw;
            assert_eq!(home.load_genesis(&config).unwrap(), genesis);
            let secret = home.load_node_key(&config).unwrap();
            assert_eq!(crate::home::peer_id_of(secret).unwrap(), node.peer_id);
            let keys = home.load_validator(&config).unwrap();
            assert_eq!(genesis.params.consensus.heartbeat_ms, 1_000);
            if i < 4 {
                let (keys, _) = keys.unwrap();
                assert_eq!(genesis.authorities[i].operator, keys.operator.public_key());
                assert_eq!(genesis.authorities[i].peer_id, node.peer_id);
                assert_eq!(config.network.boot_nodes.len(), 3);
            } else {
                assert!(keys.is_none());
                assert_eq!(config.network.boot_nodes.len(), 4);
            }
        }
        assert!(generate(
            dir.path(),
            &TestnetOptions {
                validators: 0,
                full_nodes: 0,
                chain_id: "x".into(),
                base_port: 1,
                kdf: KdfParams::INSECURE_FAST,
                genesis_time_ms: 0,
                heartbeat_ms: 1_000,
            }
        )
        .is_err());
    }
}
