//! The example files shipped in `config/` stay valid.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mpms::ledger::Genesis;

#[test]
fn example_genesis_builds() {
    let text = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/genesis.example.json"
    ))
    .unwrap();
    let genesis = Genesis::from_json(&text).expect("parses");
    let built = genesis.build().expect("builds");
    assert_eq!(built.authority_set.len(), 1);
}

#[test]
fn bad_genesis_names_the_field() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/genesis.example.json"
    ))
    .unwrap();
    let unknown = text.replacen("\"chain_id\"", "\"chain_idd\"", 1);
    let err = Genesis::from_json(unknown.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("chain_idd"), "{err}");
    let mut g = Genesis::from_json(text.as_bytes()).unwrap();
    g.authorities[0].stake = 1;
    let err = g.build().unwrap_err().to_string();
    assert!(
        err.contains("authorities[0]") && err.contains("min_authority_stake"),
        "{err}"
    );
    g.authorities.clear();
    assert!(g.build().unwrap_err().to_string().contains("authorities"));
    let mut g = Genesis::from_json(text.as_bytes()).unwrap();
    g.params.slash_fraction_bps = 20_000;
    assert!(g
        .build()
        .unwrap_err()
        .to_string()
        .contains("slash_fraction_bps"));
    // Consensus timing is the chain's, checked at genesis like every parameter.
    let mut g = Genesis::from_json(text.as_bytes()).unwrap();
    assert_eq!(g.params.consensus.heartbeat_ms, 5_000);
    g.params.consensus.heartbeat_ms = 0;
    let err = g.build().unwrap_err().to_string();
    assert!(err.contains("consensus.heartbeat_ms"), "{err}");
}

#[test]
fn four_validator_example_builds() {
    let text = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/genesis.4-validators.example.json"
    ))
    .unwrap();
    let genesis = Genesis::from_json(&text).expect("parses");
    let built = genesis.build().expect("builds");
    assert_eq!(built.authority_set.len(), 4);
    for a in &genesis.authorities {
        assert!(a.peer_id.starts_with("12D3KooW"), "{}", a.peer_id);
    }
}
