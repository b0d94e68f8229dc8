//! `config/node.toml` documents the defaults: it must parse, and say exactly what the
//! defaults are.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

use mpms_node::config::NodeConfig;

#[test]
fn example_config_is_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/node.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let parsed = NodeConfig::parse(&text, &path).unwrap();
    assert_eq!(parsed, NodeConfig::default());
    parsed.check().unwrap();
}
