//! Aggregator configuration (TOML).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The configuration could not be loaded (shared with the agent: read or parse errors).
pub use hvscope_common::config::ConfigError;

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

/// HTTP listener (node view, self-metrics, remote-read).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address of the HTTP API (`/api/v1/nodes`, `/metrics`, `/api/v1/read`).
    pub listen: SocketAddr,
    /// File of bearer tokens (one per line). When set, every route but `/-/healthy` requires
    /// `Authorization: Bearer <token>`; the file is re-read when it changes.
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// Serve HTTPS instead of plain HTTP (every route: remote-read, the JSON API, the page).
    #[serde(default)]
    pub tls: Option<HttpTlsConfig>,
}

/// `[http.tls]`: the HTTP port's certificate, re-read when the files change (as the gRPC
/// port's). With `client_ca`, every client must present a certificate signed by it, as
/// Prometheus' own `web.config` `client_auth_type: RequireAndVerifyClientCert`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HttpTlsConfig {
    /// Server certificate (chain), PEM.
    pub cert: PathBuf,
    /// Its private key, PEM.
    pub key: PathBuf,
    /// CA bundle whose client certificates are required; unset: no client certificate asked.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// Seconds a client has to finish the TLS handshake.
    #[serde(default = "default_handshake_timeout_secs")]
    pub handshake_timeout_secs: u64,
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

/// Time-series storage.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Seconds of samples kept in memory; older chunks are dropped (checked every minute).
    pub retention_secs: u64,
    /// Seconds between two liveness samples (`hvscope_node_up`, last report) per node.
    pub liveness_interval_secs: u64,
    /// A connected node silent for longer than this many seconds counts as down.
    pub node_stale_after_secs: u64,
    /// Every node of a rack (two or more) down, gone silent within this many seconds of each
    /// other: `hvscope_rack_down{rack}` is 1.
    pub rack_down_window_secs: u64,
    /// Directory of the write-ahead log; unset: no WAL (an aggregator restart loses the
    /// samples it held; agents' spools cover only what was not yet acknowledged).
    pub wal_dir: Option<PathBuf>,
    /// `fdatasync` each batch before acknowledging it (survives power loss). `false`: the
    /// batch is in the page cache before the ack (survives a crash of the process only).
    pub wal_fsync: bool,
    /// Size at which a new WAL segment is started, bytes.
    pub wal_segment_bytes: u64,
    /// Largest total WAL size, bytes; beyond it the oldest segments are deleted (bounds disk
    /// use and replay time).
    pub wal_max_bytes: u64,
    /// Bound on the in-memory head (chunk bytes and per-series overhead as the TSDB accounts
    /// them), bytes: beyond it the oldest samples go before their retention (the last 10
    /// minutes always stay), counted in `hvscope_aggregator_tsdb_evicted_samples_total`.
    /// 0: half of the machine's memory (`MemTotal`) at start.
    pub max_memory_bytes: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            retention_secs: 24 * 3600,
            liveness_interval_secs: 10,
            node_stale_after_secs: 60,
            rack_down_window_secs: 30,
            wal_dir: None,
            wal_fsync: true,
            wal_segment_bytes: 64 << 20,
            wal_max_bytes: 4 << 30,
            max_memory_bytes: 0,
        }
    }
}

/// `POST /api/v1/read` (Prometheus remote-read) limits; each breach is answered with an HTTP
/// error naming the limit.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteReadConfig {
    /// Largest compressed request body, bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Largest request once snappy-decoded, bytes (413 beyond, checked before decoding).
    pub max_decoded_bytes: usize,
    /// Most queries in one request (400 beyond).
    pub max_queries: usize,
    /// Most matchers in one query (400 beyond).
    pub max_matchers_per_query: usize,
    /// Most samples in one `SAMPLES` response (422 beyond; streamed chunks are not limited).
    pub max_samples_per_response: usize,
    /// Target size of one `STREAMED_XOR_CHUNKS` frame, bytes.
    pub max_frame_bytes: usize,
    /// Remote reads served at once; more are refused with 503.
    pub max_concurrent_reads: usize,
}

impl Default for RemoteReadConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 32 << 20,
            max_decoded_bytes: 32 << 20,
            max_queries: 64,
            max_matchers_per_query: 256,
            max_samples_per_response: 50_000_000,
            max_frame_bytes: 1 << 20,
            max_concurrent_reads: 10,
        }
    }
}

/// The aggregator's configuration file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub grpc: GrpcConfig,
    pub http: HttpConfig,
    pub tls: TlsConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub remote_read: RemoteReadConfig,
    /// `[limits]`: per-node bounds (see [`crate::nodes::Limits`]).
    #[serde(default)]
    pub limits: crate::nodes::Limits,
}

fn default_handshake_timeout_secs() -> u64 {
    10
}

impl Config {
    /// Parses a TOML document.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        hvscope_common::config::parse_toml(text, path)
    }

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        hvscope_common::config::load_toml(path)
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
        assert_eq!(c.http.bearer_token_file, None);
        assert_eq!(c.http.tls, None);
        let https = ok.replace(
            "listen='127.0.0.1:9201'\n",
            "listen='127.0.0.1:9201'\n[http.tls]\ncert='h.pem'\nkey='h-key.pem'\nclient_ca='ca.pem'\n",
        );
        let t = Config::parse(&https, Path::new("x"))
            .unwrap()
            .http
            .tls
            .unwrap();
        assert_eq!(t.client_ca, Some(PathBuf::from("ca.pem")));
        assert_eq!(t.handshake_timeout_secs, 10);
        let e = Config::parse(&https.replace("client_ca", "clientca"), Path::new("x")).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        let e = Config::parse(&format!("{ok}bogus=1\n"), Path::new("x.toml")).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        assert_eq!(c.storage.retention_secs, 86_400);
        assert_eq!(c.remote_read.max_body_bytes, 32 << 20);
        let tuned =
            format!("{ok}[storage]\nretention_secs=60\n[remote_read]\nmax_concurrent_reads=2\n");
        let c = Config::parse(&tuned, Path::new("x")).unwrap();
        assert_eq!(c.storage.retention_secs, 60);
        assert_eq!(c.storage.liveness_interval_secs, 10);
        assert_eq!(c.remote_read.max_concurrent_reads, 2);
        let e =
            Config::parse(&format!("{ok}[storage]\nretention=1\n"), Path::new("x")).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        let e = Config::parse("[grpc]\nlisten='nope'", Path::new("x.toml")).unwrap_err();
        assert!(e.to_string().starts_with("x.toml: "), "{e}");
    }
}
