//! The demo run: certificates, aggregator, two agents (this machine, and the bundled sample
//! hypervisor), then one line per finding as it opens or clears and a status line per node
//! every 10 s.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hvscope_agent::config::{Config as AgentConfig, TlsConfig as AgentTls};
use hvscope_agent::run::Agent;
use hvscope_aggregator::config::{Config, GrpcConfig, HttpConfig, HttpTlsConfig, TlsConfig};
use hvscope_aggregator::nodes::NodesView;
use tokio::sync::watch;

use crate::sample;

/// The demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Certs(#[from] hvscope_aggregator::certs::CertsError),
    #[error(transparent)]
    Serve(#[from] hvscope_aggregator::ServeError),
    #[error(transparent)]
    Agent(#[from] hvscope_agent::run::RunError),
    #[error(transparent)]
    Sample(#[from] sample::SampleError),
}

/// The agent reading this machine.
pub const LOCAL_NODE: &str = "demo-node";
/// The agent reading the sample hypervisor (its certificate's name, and its rack).
pub const SAMPLE_NODE: &str = "demo-sample";

/// The sources the agent reads, and whether this machine has them: every one is collected
/// where present; an absent one yields no series (and no findings), not an error.
fn sources_here() -> [(&'static str, bool); 4] {
    let has = |p: &str| Path::new(p).exists();
    [
        (
            "host /proc and /sys (cpu, memory, load, net)",
            has("/proc/stat"),
        ),
        (
            "libvirt domains (/run/libvirt/qemu)",
            has("/run/libvirt/qemu"),
        ),
        (
            "Open vSwitch (/run/openvswitch/db.sock)",
            has("/run/openvswitch/db.sock"),
        ),
        (
            "iSCSI sessions (/sys/class/iscsi_session)",
            has("/sys/class/iscsi_session"),
        ),
    ]
}

/// The shipped Prometheus rules, when this checkout has them.
fn shipped_rules() -> Option<PathBuf> {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../monitoring/prometheus/hvscope.rules.yml");
    p.canonicalize().ok().filter(|p| p.is_file())
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A finding as the demo tracks it: node, check, subject.
type Key = (String, String, BTreeMap<String, String>);

fn subject_text(s: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (k, v) in s {
        let _ = write!(out, " {k}={v}");
    }
    out
}

/// A line for every finding opened or cleared since `open` was taken; updates it.
fn changes(t: f64, view: &NodesView, open: &mut BTreeMap<Key, String>) -> Vec<String> {
    let mut lines = Vec::new();
    let mut now: BTreeMap<Key, (String, &'static str)> = BTreeMap::new();
    for n in &view.nodes {
        for f in &n.findings {
            now.insert(
                (n.node.clone(), f.check.clone(), f.subject.clone()),
                (f.message.clone(), f.severity),
            );
        }
    }
    let gone: Vec<Key> = open
        .keys()
        .filter(|k| !now.contains_key(*k))
        .cloned()
        .collect();
    for k in gone {
        let sev = open.remove(&k).unwrap_or_default();
        lines.push(format!(
            "[{t:>4.0}s] CLEAR {sev:<8} {:<26} {}{}",
            k.1,
            k.0,
            subject_text(&k.2)
        ));
    }
    for (k, (message, sev)) in now {
        if open.contains_key(&k) {
            continue;
        }
        lines.push(format!(
            "[{t:>4.0}s] OPEN  {sev:<8} {:<26} {}{}: {message}",
            k.1,
            k.0,
            subject_text(&k.2)
        ));
        open.insert(k, sev.to_owned());
    }
    lines
}

fn agent_config(dir: &Path, node: &str, grpc: std::net::SocketAddr) -> AgentConfig {
    AgentConfig {
        aggregators: vec![grpc.to_string()],
        interval_secs: 1,
        tls: Some(AgentTls {
            ca: dir.join("ca.pem"),
            cert: dir.join(format!("{node}.pem")),
            key: dir.join(format!("{node}-key.pem")),
            server_name: Some("localhost".into()),
        }),
        ..AgentConfig::default()
    }
}

/// Runs the demo for `duration` (forever when `None`) or until `stop` turns true; with `https`
/// the HTTP port serves TLS (`[http.tls]`) with the throw-away server certificate.
pub async fn run(
    duration: Option<Duration>,
    https: bool,
    mut stop: watch::Receiver<bool>,
) -> Result<(), DemoError> {
    let dir = TempDir(std::env::temp_dir().join(format!("hvscope-demo-{}", std::process::id())));
    let d = dir.0.clone();
    hvscope_aggregator::certs::init(&d, &[])?;
    for node in [LOCAL_NODE, SAMPLE_NODE] {
        hvscope_aggregator::certs::node(&d, node, &d, 1)?;
    }
    let sample_root = d.join("sample-host");
    sample::write(&sample_root)?;
    println!(
        "hvscope demo: throw-away certificates in {} (removed on exit):\n  \
         ca.pem (the CA), aggregator.pem (the aggregator's server certificate), \
         {LOCAL_NODE}.pem and {SAMPLE_NODE}.pem (the agents' client certificates)",
        d.display()
    );

    let (tx, rx) = watch::channel(false);
    let config = Config {
        grpc: GrpcConfig {
            listen: "127.0.0.1:0".parse().expect("literal address"),
            handshake_timeout_secs: 10,
        },
        http: HttpConfig {
            listen: "127.0.0.1:0".parse().expect("literal address"),
            bearer_token_file: None,
            tls: https.then(|| HttpTlsConfig {
                cert: d.join("aggregator.pem"),
                key: d.join("aggregator-key.pem"),
                client_ca: None,
                handshake_timeout_secs: 10,
            }),
        },
        tls: TlsConfig {
            ca: d.join("ca.pem"),
            cert: d.join("aggregator.pem"),
            key: d.join("aggregator-key.pem"),
        },
        storage: Default::default(),
        remote_read: Default::default(),
        limits: Default::default(),
        remote_write: Vec::new(),
    };
    let running = hvscope_aggregator::start(config, rx.clone()).await?;
    let scheme = if https { "https" } else { "http" };
    let base = format!("{scheme}://{}", running.http_addr);
    println!(
        "\nTLS (the development PKI, as `hvscope-aggregator certs init` and `certs node` make it):\n  \
         gRPC {} : mutual TLS; an agent's node name is its client certificate's ({LOCAL_NODE}, {SAMPLE_NODE})",
        running.grpc_addr
    );
    if https {
        println!(
            "  HTTP {} : HTTPS ([http.tls] cert = aggregator.pem); clients trust ca.pem:\n    \
             curl --cacert {}/ca.pem {base}/api/v1/findings",
            running.http_addr,
            d.display()
        );
    } else {
        println!(
            "  HTTP {} : plain HTTP on loopback; `--https` serves it over TLS ([http.tls] with aggregator.pem)",
            running.http_addr
        );
    }

    let local = agent_config(&d, LOCAL_NODE, running.grpc_addr);
    let mut local = local;
    local.labels.insert("rack".into(), "demo".into());
    let mut sampled = agent_config(&d, SAMPLE_NODE, running.grpc_addr);
    sampled.host_root = sample_root.clone();
    sampled.labels.insert("rack".into(), SAMPLE_NODE.into());
    // The captures hold the VMs' processes only (no daemons were copied): no daemon check.
    sampled.host.daemons.clear();
    let agents = [
        tokio::spawn(Agent::new(local)?.run(rx.clone())),
        tokio::spawn(Agent::new(sampled)?.run(rx.clone())),
    ];
    println!("\nagents (the real agent code, in this process, every 1 s):");
    println!("  {LOCAL_NODE:<12} rack demo         reads this machine (host root /)");
    println!(
        "  {SAMPLE_NODE:<12} rack {SAMPLE_NODE:<12} reads the sample hypervisor in {}:\n               \
         real captures from agent/tests/fixtures: 2 nova VMs, web-a's vCPU 0 moved off its pinned CPU;\n               \
         iSCSI session2 FAILED (portal lost). No OVS in it: OVS findings come from a real OVS only.",
        sample_root.display()
    );
    println!("\n{LOCAL_NODE}'s sources on this machine (each one collected where present):");
    for (what, present) in sources_here() {
        let p = if present {
            "present: collected"
        } else {
            "absent here: nothing to read"
        };
        println!("  {what:<45} {p}");
    }
    println!("\nfleet page:   {base}/");
    println!("findings API: curl -s {base}/api/v1/findings   (also /api/v1/fleet, /api/v1/nodes)");
    println!("self-metrics: curl -s {base}/metrics");
    println!("remote-read:  POST {base}/api/v1/read");
    let mut yml = String::from("prometheus.yml (ready to use):\n");
    match shipped_rules() {
        Some(rules) => {
            let _ = writeln!(yml, "  rule_files:\n    - {}", rules.display());
        }
        None => yml.push_str(
            "  # rule_files: monitoring/prometheus/hvscope.rules.yml is not in this checkout\n",
        ),
    }
    let _ = write!(
        yml,
        "  remote_read:\n    - url: {base}/api/v1/read\n      read_recent: true\n"
    );
    if https {
        let _ = writeln!(
            yml,
            "      tls_config:\n        ca_file: {}/ca.pem",
            d.display()
        );
    }
    println!("{yml}");
    println!(
        "findings, one line as each opens or clears (OPEN/CLEAR severity check node subject):"
    );

    let started = Instant::now();
    let mut last = (Instant::now(), 0u64);
    let mut open: BTreeMap<Key, String> = BTreeMap::new();
    let mut next_status = Duration::from_secs(2);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        let t = started.elapsed().as_secs_f64();
        let view = running.store.view(false);
        for line in changes(t, &view, &mut open) {
            println!("{line}");
        }
        if started.elapsed() >= next_status {
            next_status += Duration::from_secs(10);
            let now = Instant::now();
            let samples = running.metrics.samples_received.load(Ordering::Relaxed);
            let rate = (samples - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
            last = (now, samples);
            let seen: BTreeSet<&str> = view.nodes.iter().map(|n| n.node.as_str()).collect();
            println!("[{t:>4.0}s] aggregator: {rate:.0} samples/s received");
            for n in &view.nodes {
                println!(
                    "[{t:>4.0}s] node={} connected={} series={} batches={} findings={}",
                    n.node,
                    n.connected,
                    n.series,
                    n.batches,
                    n.findings.len()
                );
            }
            for n in [LOCAL_NODE, SAMPLE_NODE] {
                if !seen.contains(n) {
                    println!("[{t:>4.0}s] node={n} waiting for its first batch…");
                }
            }
        }
        if duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
    }
    let _ = tx.send(true);
    for a in agents {
        let _ = a.await;
    }
    running.wait().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hvscope_aggregator::nodes::{FindingView, NodeView};

    fn view(findings: Vec<FindingView>) -> NodesView {
        NodesView {
            nodes: vec![NodeView {
                node: "n1".into(),
                connected: true,
                last_seen_ms: 0,
                series: 0,
                findings,
                labels: BTreeMap::new(),
                claimed_node: String::new(),
                agent_version: String::new(),
                image_version: String::new(),
                boot_id: String::new(),
                last_seq: 0,
                stream_first_seq: None,
                batches: 0,
                samples: 0,
                series_values: None,
            }],
        }
    }

    #[test]
    fn a_finding_opens_once_and_clears() {
        let f = || FindingView {
            check: "pinning.affinity_drift".into(),
            severity: "critical",
            subject: BTreeMap::from([("vcpu".to_owned(), "0".to_owned())]),
            message: "m".into(),
            since_ms: 0,
        };
        let mut open = BTreeMap::new();
        assert_eq!(
            changes(1.0, &view(vec![f()]), &mut open),
            vec!["[   1s] OPEN  critical pinning.affinity_drift     n1 vcpu=0: m"]
        );
        assert!(
            changes(2.0, &view(vec![f()]), &mut open).is_empty(),
            "still open: no line"
        );
        assert_eq!(
            changes(3.0, &view(vec![]), &mut open),
            vec!["[   3s] CLEAR critical pinning.affinity_drift     n1 vcpu=0"]
        );
        assert!(open.is_empty());
        assert_eq!(subject_text(&f().subject), " vcpu=0");
    }
}
