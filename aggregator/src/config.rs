//! Aggregator configuration (TOML).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
}

/// gRPC ingest listener.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GrpcConfig {
    /// Address agents stream to (mTLS).
    pub listen: SocketAddr,
    /// Seconds a client has to finish the TLS handshake.
    #[serde(default = "default_handshake_timeout_secs")]
    pub handshake_timeout_secs: u64,
}

/// HTTP listener (node view and self-metrics).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address of the HTTP API (`/api/v1/nodes`, `/metrics`).
    pub listen: SocketAddr,
}

/// The aggregator's certificate and the CA that signs agents' client certificates. Re-read when
/// they change on disk.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// CA bundle that signs agents' client certificates.
    pub ca: PathBuf,
    /// The aggregator's server certificate (chain).
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// The aggregator's configuration file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub grpc: GrpcConfig,
    pub http: HttpConfig,
    pub tls: TlsConfig,
}

fn default_handshake_timeout_secs() -> u64 {
    10
}

impl Config {
    /// Parses a TOML document.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.message().to_owned(),
        })
    }

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_unknown_keys() {
        let ok = "[grpc]\nlisten='127.0.0.1:4317'\n[http]\nlisten='127.0.0.1:9201'\n\
                  [tls]\nca='c'\ncert='a'\nkey='k'\n";
        let c = Config::parse(ok, Path::new("x")).unwrap();
        assert_eq!(c.grpc.listen.port(), 4317);
        assert_eq!(c.grpc.handshake_timeout_secs, 10);
        let e = Config::parse(&format!("{ok}bogus=1\n"), Path::new("x.toml")).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        let e = Config::parse("[grpc]\nlisten='nope'", Path::new("x.toml")).unwrap_err();
        assert!(e.to_string().starts_with("x.toml: "), "{e}");
    }
}
