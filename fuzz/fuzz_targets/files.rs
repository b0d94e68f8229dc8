//! Files an operator is handed or keeps: a genesis file, node.toml, an encrypted
//! keystore, a join request. Parsing and checking never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpms_crypto::keystore::Keystore;
use mpms_ledger::Genesis;
use mpms_node::config::NodeConfig;
use mpms_node::join::JoinRequest;

fuzz_target!(|data: &[u8]| {
    let Some((kind, bytes)) = data.split_first() else {
        return;
    };
    match kind % 4 {
        0 => {
            if let Ok(genesis) = Genesis::from_json(bytes) {
                let _ = genesis.build();
            }
        }
        1 => {
            if let Ok(text) = std::str::from_utf8(bytes) {
                if let Ok(config) = NodeConfig::parse(text, std::path::Path::new("node.toml")) {
                    let _ = config.check();
                }
            }
        }
        2 => {
            if let Ok(store) = Keystore::from_json(bytes) {
                // Only cheap key derivations: the costly ones are bounded by the
                // keystore itself and would only slow the search down.
                let kdf = store.kdf;
                if kdf.memory_kib <= 256 && kdf.iterations <= 2 && kdf.parallelism <= 2 {
                    let _ = store.decrypt("password");
                }
            }
        }
        _ => {
            if let Ok(request) = serde_json::from_slice::<JoinRequest>(bytes) {
                let _ = request.verify();
                let _ = request.registration();
            }
        }
    }
});
