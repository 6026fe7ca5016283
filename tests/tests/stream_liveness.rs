//! A stream whose aggregator stops answering (SIGSTOP: its TCP connection stays open, nothing
//! comes back) is taken for dead once a batch has gone unacknowledged for the ack timeout, with
//! no keep-alive ping or timer of its own: the batches the agent sends every interval wake it
//! to look. When the aggregator answers again the stream is made again and every batch is
//! acknowledged.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hvscope_agent::config::Compression;
use hvscope_agent::series::Registry;
use hvscope_agent::transport::Link;
use hvscope_agent::transport::spool::SpooledBatch;
use hvscope_agent::transport::stream::{self, StreamParams};
use hvscope_common::tls::{TlsFiles, install_crypto_provider};
use hvscope_e2e::Cluster;
use hvscope_e2e::feed::{Series, batches};
use hvscope_proto::v1::Hello;

const ACK_TIMEOUT: Duration = Duration::from_secs(2);

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig} {pid}");
}

/// Waits up to `timeout` for `cond`, pushing the next batch every 200 ms as an agent would
/// every interval; returns how long it took.
fn pushing_until(
    link: &Link,
    next: &mut impl Iterator<Item = Arc<SpooledBatch>>,
    timeout: Duration,
    what: &str,
    cond: impl Fn() -> bool,
) -> Duration {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < timeout, "{what}: not within {timeout:?}");
        if let Some(b) = next.next() {
            link.push(b);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    t0.elapsed()
}

#[test]
fn a_stream_whose_batches_go_unacked_is_made_again() {
    install_crypto_provider();
    let mut c = Cluster::new("liveness");
    c.start_aggregator();
    c.node_cert("node-live", 30);
    let mut series = Series::new("liveness_probe", &[("k", "v")]);
    series.samples = (0..200)
        .map(|i| (1_700_000_000_000 + i * 10_000, i as f64))
        .collect();
    let mut registry = Registry::default();
    let all = batches(&[series], &mut registry);
    let total = all.len() as u64;
    let mut next = all.into_iter().map(SpooledBatch::new);

    let link = Link::new(format!("127.0.0.1:{}", c.grpc_port), 1 << 30);
    let certs = c.certs();
    let params = StreamParams {
        tls: TlsFiles {
            ca: certs.join("ca.pem"),
            cert: certs.join("node-live.pem"),
            key: certs.join("node-live-key.pem"),
        },
        server_name: Some("localhost".to_owned()),
        hello: Hello {
            agent_version: "e2e-liveness".into(),
            boot_id: "liveness".into(),
            claimed_node: "node-live".into(),
            started_ms: 1,
            ..Default::default()
        },
        registry: Arc::new(Mutex::new(registry)),
        connect_timeout: Duration::from_secs(1),
        max_backoff: Duration::from_millis(500),
        compression: Compression::None,
        ack_timeout: ACK_TIMEOUT,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let handle = std::thread::spawn({
        let link = link.clone();
        move || rt.block_on(stream::run(link, params, stopped))
    });

    pushing_until(&link, &mut next, Duration::from_secs(20), "acked", || {
        link.connected.load(Ordering::Relaxed) && link.spool().acked() >= 3
    });
    assert_eq!(link.connects.load(Ordering::Relaxed), 1);

    let pid = c.aggregator.as_ref().expect("aggregator").child.id();
    signal(pid, "-STOP");
    let took = pushing_until(
        &link,
        &mut next,
        Duration::from_secs(10),
        "given up",
        || !link.connected.load(Ordering::Relaxed),
    );
    eprintln!("a frozen aggregator's stream given up after {took:?}");
    assert!(took >= ACK_TIMEOUT - Duration::from_millis(500), "{took:?}");
    signal(pid, "-CONT");

    pushing_until(
        &link,
        &mut next,
        Duration::from_secs(30),
        "made again",
        || link.connects.load(Ordering::Relaxed) >= 2 && link.spool().is_empty(),
    );
    for b in next.by_ref() {
        link.push(b);
    }
    pushing_until(
        &link,
        &mut next,
        Duration::from_secs(30),
        "all acked",
        || link.spool().is_empty(),
    );
    assert_eq!(link.spool().acked(), total, "every batch acknowledged");
    let _ = stop.send(true);
    handle.join().expect("stream thread");
    let log = c.aggregator_log();
    assert!(!log.contains("panicked"), "{log}");
}
