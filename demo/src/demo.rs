//! The demo run: certificates, aggregator, agent, then a line per node every 2 s.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hvscope_agent::config::{Config as AgentConfig, TlsConfig as AgentTls};
use hvscope_agent::run::Agent;
use hvscope_aggregator::config::{Config, GrpcConfig, HttpConfig, TlsConfig};
use tokio::sync::watch;

/// The demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Certs(#[from] hvscope_aggregator::certs::CertsError),
    #[error(transparent)]
    Serve(#[from] hvscope_aggregator::ServeError),
    #[error(transparent)]
    Agent(#[from] hvscope_agent::run::RunError),
}

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

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the demo for `duration` (forever when `None`) or until `stop` turns true.
pub async fn run(
    duration: Option<Duration>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), DemoError> {
    let dir = TempDir(std::env::temp_dir().join(format!("hvscope-demo-{}", std::process::id())));
    let node = "demo-node";
    hvscope_aggregator::certs::init(&dir.0, &[])?;
    hvscope_aggregator::certs::node(&dir.0, node, &dir.0, 1)?;
    println!(
        "hvscope demo: throw-away CA and certificates in {}",
        dir.0.display()
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
            tls: None,
        },
        tls: TlsConfig {
            ca: dir.0.join("ca.pem"),
            cert: dir.0.join("aggregator.pem"),
            key: dir.0.join("aggregator-key.pem"),
        },
        storage: Default::default(),
        remote_read: Default::default(),
        limits: Default::default(),
    };
    let running = hvscope_aggregator::start(config, rx.clone()).await?;
    println!(
        "aggregator: gRPC (mTLS) on {}, HTTP on http://{}",
        running.grpc_addr, running.http_addr
    );

    let mut agent_cfg = AgentConfig {
        aggregators: vec![running.grpc_addr.to_string()],
        interval_secs: 1,
        tls: Some(AgentTls {
            ca: dir.0.join("ca.pem"),
            cert: dir.0.join(format!("{node}.pem")),
            key: dir.0.join(format!("{node}-key.pem")),
            server_name: Some("localhost".into()),
        }),
        ..AgentConfig::default()
    };
    agent_cfg.labels.insert("rack".into(), "demo".into());
    let agent = Agent::new(agent_cfg)?;
    let agent_task = tokio::spawn(agent.run(rx.clone()));
    println!("agent: reading this machine (host root /), certificate {node}, every 1 s\n");
    println!("sources (each one collected where present):");
    for (what, present) in sources_here() {
        let p = if present {
            "present: collected"
        } else {
            "absent here: nothing to read"
        };
        println!("  {what:<45} {p}");
    }
    println!(
        "\nPrometheus remote-read: POST http://{addr}/api/v1/read; in prometheus.yml:\n  \
         remote_read:\n    - url: http://{addr}/api/v1/read\n      read_recent: true\n",
        addr = running.http_addr
    );
    println!(
        "node view: curl -s http://{}/api/v1/nodes",
        running.http_addr
    );
    println!(
        "self-metrics: curl -s http://{}/metrics\n",
        running.http_addr
    );

    let started = Instant::now();
    let mut last = (Instant::now(), 0u64);
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        let now = Instant::now();
        let samples = running.metrics.samples_received.load(Ordering::Relaxed);
        let rate = (samples - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
        last = (now, samples);
        let view = running.store.view(false);
        for n in &view.nodes {
            println!(
                "[{:>4.0}s] node={} connected={} series={} batches={} samples/s={:.0} findings={}",
                started.elapsed().as_secs_f64(),
                n.node,
                n.connected,
                n.series,
                n.batches,
                rate,
                n.findings.len()
            );
        }
        if view.nodes.is_empty() {
            println!(
                "[{:>4.0}s] waiting for the agent…",
                started.elapsed().as_secs_f64()
            );
        }
        if duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
    }
    let _ = tx.send(true);
    let _ = agent_task.await;
    running.wait().await;
    Ok(())
}
