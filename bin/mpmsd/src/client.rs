//! Which node's API a client command talks to, and which certificates it trusts.

use anyhow::Context;
pub use mpms_client::{Client, DEVNET_API};

/// The environment variable naming a PEM file of certificates to trust besides the
/// public authorities: an institution's own certificate authority, or a node's
/// self-signed certificate.
pub const CA_CERT_ENV: &str = "MPMS_CA_CERT";

/// The client a command uses: the node of [`api_url`]; over TLS it trusts the
/// public authorities, the certificates of `$MPMS_CA_CERT` if set, and, when the
/// node is the home's own, the home's `api.tls_cert`.
pub fn connect(node: Option<String>, home: Option<&std::path::Path>) -> anyhow::Result<Client> {
    let own_cert = match (&node, home) {
        (None, Some(home)) => {
            let home = mpms_node::Home::new(home);
            let config = home.load_config()?.raw;
            (!config.api.tls_cert.as_os_str().is_empty())
                .then(|| home.resolve(&config.api.tls_cert))
        }
        _ => None,
    };
    let url = api_url(node, home)?;
    let mut pem = Vec::new();
    if let Some(path) = std::env::var_os(CA_CERT_ENV) {
        let path = std::path::PathBuf::from(path);
        pem = std::fs::read(&path)
            .with_context(|| format!("{CA_CERT_ENV}: reading {}", path.display()))?;
    }
    if let Some(path) = own_cert {
        pem.push(b'\n');
        pem.extend(
            std::fs::read(&path)
                .with_context(|| format!("api.tls_cert: reading {}", path.display()))?,
        );
    }
    if pem.iter().all(u8::is_ascii_whitespace) {
        return Ok(Client::new(&url));
    }
    Ok(Client::with_trusted(&url, &pem)?)
}

/// The API address a client command uses: `--node` if given, else the API of the
/// node whose home is given (its `api.listen`; `https://` when it serves TLS), else
/// [`DEVNET_API`].
pub fn api_url(node: Option<String>, home: Option<&std::path::Path>) -> anyhow::Result<String> {
    if let Some(node) = node {
        return Ok(node);
    }
    let Some(home) = home else {
        return Ok(DEVNET_API.to_string());
    };
    let checked = mpms_node::Home::new(home).load_config()?;
    let scheme = if checked.raw.api.tls_cert.as_os_str().is_empty() {
        "http"
    } else {
        "https"
    };
    let mut addr = checked.api;
    // A node listening on every interface is reached on loopback from its machine.
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    Ok(format!("{scheme}://{addr}"))
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
        // A home serving TLS is reached over TLS.
        config.api.tls_cert = "config/api.crt".into();
        config.api.tls_key = "config/api.key".into();
        std::fs::write(home.config_path(), config.to_toml()).unwrap();
        assert_eq!(
            api_url(None, Some(dir.path())).unwrap(),
            "https://127.0.0.1:19999"
        );
        // A home whose configuration is broken says so, naming the field.
        config.api.listen = "nowhere".into();
        std::fs::write(home.config_path(), config.to_toml()).unwrap();
        let err = api_url(None, Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains("api.listen"), "{err}");
    }
}
