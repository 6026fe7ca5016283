//! Agent configuration: a TOML file, with what it leaves out taken from the kernel command line
//! (`hvscope.aggregator=HOST:PORT`, `hvscope.rack=R`), because diskless nodes get their per-node
//! parameters from PXE.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hvscope_common::config::{ConfigError, parse_toml};
use hvscope_parse::cpuset::CpuSet;
use hvscope_parse::proc::cmdline;
use serde::Deserialize;

pub mod host;

pub use host::{HostConfig, NetConfig};

/// TLS material, as PEM files placed by the provisioning system. They are re-read when they
/// change on disk (certificate rotation), without a restart.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// CA bundle that signed the aggregators' server certificates.
    pub ca: PathBuf,
    /// This node's client certificate (chain); its DNS SAN (or CN) is the node's name.
    pub cert: PathBuf,
    /// The private key of `cert`.
    pub key: PathBuf,
    /// Name to verify the aggregator's certificate against, when it differs from the host part
    /// of the aggregator address.
    #[serde(default)]
    pub server_name: Option<String>,
}

/// CPU-pinning checks.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PinningConfig {
    /// Nova's `cpu_dedicated_set` (e.g. `"2-31,^16"`), used when `<host_root>/etc/nova/nova.conf`
    /// is absent; nova.conf wins when present.
    #[serde(default, deserialize_with = "de_cpuset")]
    pub cpu_dedicated_set: Option<CpuSet>,
    /// Nova's `cpu_shared_set`, likewise.
    #[serde(default, deserialize_with = "de_cpuset")]
    pub cpu_shared_set: Option<CpuSet>,
}

fn de_cpuset<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<CpuSet>, D::Error> {
    let s = String::deserialize(d)?;
    CpuSet::parse(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Compression of the gRPC stream (`cargo bench -p hvscope-agent --bench wire` measures both,
/// with zstd and other levels beside them).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// The protobuf as it is (the default). Costs the node and the aggregator no CPU beyond
    /// TLS; a steady-state batch is 9-31 B per sample on the wire (~12 KB per 10 s for ~1,100
    /// series: 3,000 such nodes send ~28 Mbit/s into an aggregator).
    #[default]
    None,
    /// gzip per message, at tonic's fixed level 6: 2-6x fewer bytes in steady state (5-11x for
    /// the first batch with every definition) for 0.04-0.65 ms of CPU per batch on the node
    /// (0.24-0.9 ms with musl's allocator, the static agent's, which unmaps and faults in the
    /// deflate state of every message again) and 0.01-0.06 ms to decompress on the aggregator.
    /// For an aggregator behind a slow or metered link.
    Gzip,
}

/// The agent's configuration file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Aggregators to stream to, as `host:port`; every one gets every batch (HA pair). Empty:
    /// taken from `hvscope.aggregator=` on the kernel command line (comma-separated).
    #[serde(default)]
    pub aggregators: Vec<String>,
    /// Seconds between collections (one batch each).
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u64,
    /// Directory the host's filesystem is seen under.
    #[serde(default = "default_host_root")]
    pub host_root: PathBuf,
    /// Upper bound of the in-memory spool of unacknowledged batches, per aggregator, in bytes
    /// (encoded size). When full, the oldest batches are dropped and counted.
    #[serde(default = "default_spool_max_bytes")]
    pub spool_max_bytes: usize,
    /// Seconds to wait for a TCP + TLS connection to an aggregator.
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: u64,
    /// Upper bound of the reconnect backoff, in seconds (exponential from 0.5 s, with jitter).
    #[serde(default = "default_max_backoff_secs")]
    pub max_backoff_secs: u64,
    /// Compression of the stream: `"none"` (default) or `"gzip"`.
    #[serde(default)]
    pub compression: Compression,
    /// What the agent calls itself in its hello. Informational only: the aggregator names the
    /// node from the client certificate. Default: the host name.
    #[serde(default)]
    pub node_name: Option<String>,
    /// Version of the OS image, reported in the hello. Default: `IMAGE_VERSION` or `VERSION_ID`
    /// of `<host_root>/etc/os-release`.
    #[serde(default)]
    pub image_version: Option<String>,
    /// TLS files. Required (from the file; there is no kernel parameter for them).
    pub tls: Option<TlsConfig>,
    /// CPU-pinning checks.
    #[serde(default)]
    pub pinning: PinningConfig,
    /// Per-VM SLI sampling and thresholds.
    #[serde(default)]
    pub sli: crate::sli::SliConfig,
    /// Static labels added to every series (rack, az, …). `rack` defaults to `hvscope.rack=`
    /// from the kernel command line. A `node` label is ignored by the aggregator.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Host checks: root filesystem thresholds, required daemons.
    #[serde(default)]
    pub host: HostConfig,
    /// Uplink interfaces.
    #[serde(default)]
    pub net: NetConfig,
    /// Open vSwitch: bridges, `ovs-ofctl`, timeouts and dirty-flow rules.
    #[serde(default)]
    pub ovs: crate::sources::ovs::config::OvsConfig,
    /// iSCSI checks and the disk-delay SLI (`[iscsi]`).
    #[serde(default)]
    pub iscsi: crate::sources::iscsi::IscsiConfig,
}

fn default_interval_secs() -> u64 {
    10
}
fn default_host_root() -> PathBuf {
    PathBuf::from("/")
}
fn default_spool_max_bytes() -> usize {
    16 << 20
}
fn default_connect_timeout_secs() -> u64 {
    5
}
fn default_max_backoff_secs() -> u64 {
    30
}

impl Default for Config {
    fn default() -> Self {
        toml::from_str("").expect("empty config deserializes")
    }
}

impl Config {
    /// Parses a TOML document (no defaults from the kernel yet).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Self = parse_toml(text, path)?;
        // sections whose mistakes would otherwise surface only at collection time
        config
            .ovs
            .validate()
            .map_err(|message| ConfigError::Parse {
                path: path.to_path_buf(),
                message,
            })?;
        Ok(config)
    }

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Fills what the file left out from the kernel command line's `hvscope.*` parameters.
    pub fn merge_cmdline(&mut self, cmdline_text: &str) {
        let params = cmdline::hvscope_params(cmdline_text);
        let last = |key: &str| {
            params
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        if self.aggregators.is_empty()
            && let Some(a) = last("aggregator")
        {
            self.aggregators = a
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if !self.labels.contains_key("rack")
            && let Some(r) = last("rack")
        {
            self.labels.insert("rack".to_owned(), r);
        }
    }

    /// Checks what can be checked without touching the network.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.aggregators.is_empty() {
            return Err(ConfigError::Invalid(
                "no aggregators: set `aggregators` or hvscope.aggregator= on the kernel command line"
                    .into(),
            ));
        }
        for a in &self.aggregators {
            split_host_port(a).map_err(ConfigError::Invalid)?;
        }
        if self.tls.is_none() {
            return Err(ConfigError::Invalid(
                "missing [tls] section (ca, cert, key)".into(),
            ));
        }
        if self.interval_secs == 0 || self.interval_secs > 3600 {
            return Err(ConfigError::Invalid(
                "interval_secs must be 1..=3600".into(),
            ));
        }
        if self.spool_max_bytes < 64 << 10 {
            return Err(ConfigError::Invalid(
                "spool_max_bytes must be at least 65536".into(),
            ));
        }
        if !(100..=10_000).contains(&self.sli.sample_interval_ms) {
            return Err(ConfigError::Invalid(
                "sli.sample_interval_ms must be 100..=10000".into(),
            ));
        }
        if self.max_backoff_secs == 0 || self.connect_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "max_backoff_secs and connect_timeout_secs must be at least 1".into(),
            ));
        }
        self.host.validate().map_err(ConfigError::Invalid)?;
        self.iscsi.validate().map_err(ConfigError::Invalid)?;
        for k in self.labels.keys() {
            if !valid_label_name(k) || k.starts_with("__") {
                return Err(ConfigError::Invalid(format!(
                    "label name {k:?} is not valid"
                )));
            }
        }
        Ok(())
    }
}

/// Prometheus label name syntax: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn valid_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// Splits `host:port` (`[v6]:port` for IPv6).
pub fn split_host_port(addr: &str) -> Result<(&str, u16), String> {
    let bad = || format!("aggregator address {addr:?} is not host:port");
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
aggregators = ["127.0.0.1:4317", "[::1]:4318"]
interval_secs = 2
spool_max_bytes = 1048576
[tls]
ca = "/etc/hvscope/ca.pem"
cert = "/etc/hvscope/node.pem"
key = "/etc/hvscope/node-key.pem"
[labels]
az = "az1"
"#;

    #[test]
    fn parses_and_validates() {
        let c = Config::parse(FULL, Path::new("a.toml")).unwrap();
        c.validate().unwrap();
        assert_eq!(c.interval_secs, 2);
        assert_eq!(c.host_root, PathBuf::from("/"));
        assert_eq!(c.compression, Compression::None);
        assert_eq!(split_host_port(&c.aggregators[1]).unwrap(), ("::1", 4318));
    }

    #[test]
    fn compression_is_none_or_gzip() {
        let with =
            |v: &str| Config::parse(&format!("compression = {v}\n{FULL}"), Path::new("a.toml"));
        assert_eq!(with("\"gzip\"").unwrap().compression, Compression::Gzip);
        assert_eq!(with("\"none\"").unwrap().compression, Compression::None);
        let e = with("\"zstd\"").unwrap_err().to_string();
        assert!(
            e.contains("zstd") && e.contains("none") && e.contains("gzip"),
            "{e}"
        );
    }

    #[test]
    fn host_and_net_sections() {
        let c = Config::default();
        assert_eq!(c.host.rootfs_fill_warning_percent, 80.0);
        assert_eq!(c.host.daemons[0], "libvirtd|virtqemud");
        assert!(c.net.uplinks.is_empty());
        let text = "[host]\nrootfs_fill_warning_percent = 70\ndaemons = ['x']\n[net]\nuplink_bonds = ['bond0']";
        let c = Config::parse(text, Path::new("a")).unwrap();
        assert_eq!(
            (
                c.host.rootfs_fill_warning_percent,
                c.host.rootfs_fill_critical_percent
            ),
            (70.0, 90.0)
        );
        assert_eq!(c.net.uplink_bonds, vec!["bond0"]);
        assert!(Config::parse("[host]\nrootfs_fill = 1", Path::new("a")).is_err());
        assert!(Config::parse("[net]\nuplink = ['a']", Path::new("a")).is_err());
        let bad =
            Config::parse("[host]\nrootfs_fill_warning_percent = 95", Path::new("a")).unwrap();
        assert!(bad.host.validate().is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = Config::parse("intervall_secs = 3", Path::new("a.toml")).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        assert!(e.to_string().starts_with("a.toml: "), "{e}");
    }

    #[test]
    fn kernel_command_line_fills_gaps_only() {
        let mut c = Config::parse("[tls]\nca='a'\ncert='b'\nkey='c'", Path::new("x")).unwrap();
        assert!(c.validate().is_err());
        c.merge_cmdline("quiet hvscope.aggregator=agg1:4317,agg2:4317 hvscope.rack=r7");
        c.validate().unwrap();
        assert_eq!(c.aggregators, vec!["agg1:4317", "agg2:4317"]);
        assert_eq!(c.labels["rack"], "r7");

        let mut c = Config::parse(FULL, Path::new("x")).unwrap();
        c.labels.insert("rack".into(), "file".into());
        c.merge_cmdline("hvscope.aggregator=other:1 hvscope.rack=r7");
        assert_eq!(c.aggregators[0], "127.0.0.1:4317");
        assert_eq!(c.labels["rack"], "file");
    }

    #[test]
    fn invalid_values_are_refused() {
        for (patch, what) in [
            ("interval_secs = 0", "interval_secs"),
            ("spool_max_bytes = 10", "spool_max_bytes"),
            ("[labels]\n\"bad-name\" = \"x\"", "label name"),
        ] {
            let text = format!("aggregators=['a:1']\n{patch}\n[tls]\nca='a'\ncert='b'\nkey='c'");
            let text = if patch.starts_with("[labels]") {
                format!("aggregators=['a:1']\n[tls]\nca='a'\ncert='b'\nkey='c'\n{patch}")
            } else {
                text
            };
            let e = Config::parse(&text, Path::new("x"))
                .unwrap()
                .validate()
                .unwrap_err();
            assert!(e.to_string().contains(what), "{e}");
        }
        for bad in ["nohost", "h:", ":1", "h:0", "h:99999"] {
            assert!(split_host_port(bad).is_err(), "{bad}");
        }
    }
}
