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
    /// With a `wal_dir`: full (closed) chunks go to unnamed files in it instead of staying on
    /// the heap, as Prometheus keeps its head's full chunks in `chunks_head/`; the heap keeps
    /// only the open chunks, the index and where each closed chunk is. Nothing to clean up: the
    /// files have no name and the WAL rebuilds the head on start. `false`: every chunk on the
    /// heap.
    pub chunks_on_disk: bool,
    /// Bound on the chunk bytes in those files (`hvscope_aggregator_tsdb_chunk_disk_bytes`):
    /// beyond it the oldest samples go before their retention, as under `max_memory_bytes`.
    /// 0: no bound but the retention.
    pub max_chunk_disk_bytes: u64,
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
            chunks_on_disk: true,
            max_chunk_disk_bytes: 0,
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

/// One `[[remote_write]]` target: a Prometheus remote-write 1.0 receiver (Prometheus with
/// `--web.enable-remote-write-receiver`, VictoriaMetrics, Mimir, Thanos Receive, Cortex) fed
/// from the WAL. Needs `[storage] wal_dir`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    /// Name in the self-metrics' `target` label and of the checkpoint file (unique; default:
    /// the URL).
    #[serde(default)]
    pub name: Option<String>,
    /// `http://` or `https://` URL of the receiver's write endpoint.
    pub url: String,
    /// File whose first line is sent as `Authorization: Bearer <token>` (re-read per request).
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// HTTP basic authentication.
    #[serde(default)]
    pub basic_auth: Option<BasicAuthConfig>,
    /// TLS towards an `https://` receiver (required for one: the CA to trust).
    #[serde(default)]
    pub tls: Option<RemoteWriteTlsConfig>,
    /// Extra request headers (e.g. `X-Scope-OrgID` for Mimir tenants).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Labels added to every series sent (a label the series has itself is kept, as in
    /// Prometheus), e.g.
    /// `cluster` and `__replica__` for Mimir's HA tracker, or `replica` for VictoriaMetrics.
    #[serde(default)]
    pub external_labels: std::collections::BTreeMap<String, String>,
    /// Queue settings.
    #[serde(default)]
    pub queue: QueueConfig,
}

impl RemoteWriteConfig {
    /// The target's name.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.url)
    }
}

/// HTTP basic authentication of a remote-write target.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    pub username: String,
    /// File whose first line is the password.
    pub password_file: PathBuf,
}

/// TLS towards a remote-write receiver.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteTlsConfig {
    /// CA bundle that signs the receiver's certificate.
    pub ca: PathBuf,
    /// Client certificate (chain), when the receiver wants one.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Its private key.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Name to verify the receiver's certificate against (default: the URL's host).
    #[serde(default)]
    pub server_name: Option<String>,
}

/// How a remote-write target's queue sends.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Samples per request, at most (a request always holds whole WAL records, so one large
    /// record may exceed it).
    pub max_samples_per_send: usize,
    /// A request is sent at the latest this many milliseconds after its first sample.
    pub batch_send_deadline_ms: u64,
    /// Requests in flight at once: series are spread over this many shards by a hash of their
    /// labels, each sending in order (so a series' samples arrive in timestamp order).
    pub shards: usize,
    /// Samples read from the WAL but not yet answered, at most (bounds memory: beyond it,
    /// reading pauses; the WAL keeps the rest on disk). At least 2 x shards x
    /// max_samples_per_send.
    pub capacity: usize,
    /// First retry delay, milliseconds; doubled each retry.
    pub min_backoff_ms: u64,
    /// Longest retry delay, milliseconds.
    pub max_backoff_ms: u64,
    /// Seconds to connect (TCP and TLS).
    pub connect_timeout_secs: u64,
    /// Seconds for one request, from sending to the end of the answer.
    pub timeout_secs: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_samples_per_send: 2000,
            batch_send_deadline_ms: 5000,
            shards: 4,
            capacity: 100_000,
            min_backoff_ms: 30,
            max_backoff_ms: 5000,
            connect_timeout_secs: 10,
            timeout_secs: 30,
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
    /// Remote-write targets (`[[remote_write]]`, any number).
    #[serde(default)]
    pub remote_write: Vec<RemoteWriteConfig>,
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

    /// What the file's parts cannot check alone: remote-write needs the WAL (it is fed from
    /// it), names must be unique, queue sizes positive.
    pub fn validate(&self) -> Result<(), String> {
        if !self.remote_write.is_empty() && self.storage.wal_dir.is_none() {
            return Err(
                "[[remote_write]] needs [storage] wal_dir: remote-write is fed from the \
                        write-ahead log, so that a restart or a receiver outage loses nothing"
                    .to_owned(),
            );
        }
        let mut names = std::collections::BTreeSet::new();
        for rw in &self.remote_write {
            if !names.insert(rw.name()) {
                return Err(format!("[[remote_write]] name {:?} given twice", rw.name()));
            }
            let q = &rw.queue;
            if q.max_samples_per_send == 0 || q.shards == 0 || q.capacity == 0 {
                return Err(format!(
                    "[[remote_write]] {:?}: max_samples_per_send, shards and capacity must be > 0",
                    rw.name()
                ));
            }
            if q.capacity < 2 * q.shards * q.max_samples_per_send {
                return Err(format!(
                    "[[remote_write]] {:?}: capacity must be at least 2 x shards x \
                     max_samples_per_send ({}), so every shard can fill a request",
                    rw.name(),
                    2 * q.shards * q.max_samples_per_send
                ));
            }
            if q.min_backoff_ms > q.max_backoff_ms {
                return Err(format!(
                    "[[remote_write]] {:?}: min_backoff_ms is above max_backoff_ms",
                    rw.name()
                ));
            }
            if rw.url.starts_with("https://") && rw.tls.is_none() {
                return Err(format!(
                    "[[remote_write]] {:?}: an https:// url needs [remote_write.tls] ca",
                    rw.name()
                ));
            }
            if !rw.url.starts_with("https://") && !rw.url.starts_with("http://") {
                return Err(format!(
                    "[[remote_write]] {:?}: url must start with http:// or https://",
                    rw.name()
                ));
            }
        }
        Ok(())
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

    #[test]
    fn remote_write_targets_need_the_wal() {
        let base = "[grpc]\nlisten='127.0.0.1:4317'\n[http]\nlisten='127.0.0.1:9201'\n\
                    [tls]\nca='c'\ncert='a'\nkey='k'\n";
        let rw = "[[remote_write]]\nurl='http://vm:8428/api/v1/write'\n\
                  external_labels={__replica__='a'}\n[remote_write.queue]\nshards=2\n\
                  [[remote_write]]\nname='prom'\nurl='http://p:9090/api/v1/write'\n";
        let c = Config::parse(&format!("{base}{rw}"), Path::new("x")).unwrap();
        assert_eq!(c.remote_write.len(), 2);
        assert_eq!(c.remote_write[0].queue.shards, 2);
        assert_eq!(c.remote_write[0].queue.max_samples_per_send, 2000);
        assert_eq!(c.remote_write[0].name(), "http://vm:8428/api/v1/write");
        assert_eq!(c.remote_write[1].name(), "prom");
        let e = c.validate().unwrap_err();
        assert!(e.contains("wal_dir"), "{e}");
        let c = Config::parse(
            &format!("{base}[storage]\nwal_dir='/w'\n{rw}"),
            Path::new("x"),
        )
        .unwrap();
        c.validate().unwrap();
        let twice = format!(
            "{base}[storage]\nwal_dir='/w'\n{rw}[[remote_write]]\nname='prom'\nurl='http://q'\n"
        );
        let e = Config::parse(&twice, Path::new("x"))
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.contains("twice"), "{e}");
        // the second target's queue (the last table) gets a capacity too small for its shards
        let small =
            format!("{base}[storage]\nwal_dir='/w'\n{rw}[remote_write.queue]\ncapacity=100\n");
        let e = Config::parse(&small, Path::new("x"))
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.contains("capacity must be at least"), "{e}");
    }
}
