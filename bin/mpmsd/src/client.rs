//! Which node's API a client command talks to.

pub use mpms_client::{Client, DEVNET_API};

/// The API address a client command uses: `--node` if given, else the API of the
/// node whose home is given (its `api.listen`), else [`DEVNET_API`].
pub fn api_url(node: Option<String>, home: Option<&std::path::Path>) -> anyhow::Result<String> {
    if let Some(node) = node {
        return Ok(node);
    }
    let Some(home) = home else {
        return Ok(DEVNET_API.to_string());
    };
    let checked = mpms_node::Home::new(home).load_config()?;
    let mut addr = checked.api;
    // A node listening on every interface is reached on loopback from its machine.
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    Ok(format!("http://{addr}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// `--home` alone talks to that home's API (it used to go to the devnet's port).
    #[test]
    fn a_home_names_its_own_api() {
        let dir = tempfile::tempdir().unwrap();
        let home = mpms_node::Home::new(dir.path());
        let mut config = mpms_node::NodeConfig::default();
        config.api.listen = "0.0.0.0:19999".into();
        mpms_node::home::write_file(&home.config_path(), &config.to_toml(), false).unwrap();
        assert_eq!(
            api_url(None, Some(dir.path())).unwrap(),
            "http://127.0.0.1:19999"
        );
        assert_eq!(
            api_url(Some("http://10.0.0.5:8080".into()), Some(dir.path())).unwrap(),
            "http://10.0.0.5:8080"
        );
        assert_eq!(api_url(None, None).unwrap(), DEVNET_API);
        // A home whose configuration is broken says so, naming the field.
        config.api.listen = "nowhere".into();
        std::fs::write(home.config_path(), config.to_toml()).unwrap();
        let err = api_url(None, Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains("api.listen"), "{err}");
    }
}
