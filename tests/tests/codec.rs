//! The stream's codecs through the real binaries: one agent with `compression = "none"` (the
//! default) and one with `compression = "gzip"` stream to one aggregator at the same time, each
//! through a loopback TCP relay that counts the bytes the agent sends. Both nodes' series
//! arrive; the gzip stream carries several times fewer bytes than the plain one over the same
//! batches (so gzip is really on the wire and really decoded by the aggregator, and "none"
//! really sends the protobuf as it is).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hvscope_e2e::Cluster;
use hvscope_testkit::wait_for;

const T: Duration = Duration::from_secs(30);

/// Copies `from` to `to` until either side closes, adding the bytes to `count`.
fn pump(mut from: TcpStream, mut to: TcpStream, count: Option<Arc<AtomicU64>>) {
    let mut buf = [0u8; 16 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                if let Some(c) = &count {
                    c.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// A relay on a free loopback port to `target`; returns its port and the count of bytes sent
/// towards `target`. Its threads end with the connections (the agent is killed at the end).
fn relay(target: u16) -> (u16, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind relay");
    let port = l.local_addr().expect("relay addr").port();
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(down) = conn else { break };
            let Ok(up) = TcpStream::connect(("127.0.0.1", target)) else {
                continue;
            };
            let (d2, u2) = (
                down.try_clone().expect("clone"),
                up.try_clone().expect("clone"),
            );
            let c = c.clone();
            std::thread::spawn(move || pump(down, up, Some(c)));
            std::thread::spawn(move || pump(u2, d2, None));
        }
    });
    (port, count)
}

fn series(c: &Cluster, node: &str) -> u64 {
    c.node(node, true)
        .and_then(|n| n["series"].as_u64())
        .unwrap_or(0)
}

#[test]
fn none_and_gzip_streams_both_arrive_and_gzip_sends_fewer_bytes() {
    let mut c = Cluster::new("codec");
    c.start_aggregator();
    let mut agents = Vec::new();
    let mut counts = Vec::new();
    for (node, codec) in [("node-plain", "none"), ("node-gzip", "gzip")] {
        c.node_cert(node, 30);
        let (port, count) = relay(c.grpc_port);
        let cfg = c.agent_config(
            &format!("{node}.toml"),
            node,
            &format!("compression = \"{codec}\""),
            "",
        );
        let text = std::fs::read_to_string(&cfg).expect("agent config");
        let direct = format!("127.0.0.1:{}", c.grpc_port);
        assert!(text.contains(&direct), "{text}");
        std::fs::write(&cfg, text.replace(&direct, &format!("127.0.0.1:{port}")))
            .expect("write agent config");
        agents.push(c.start_agent(&cfg, &format!("{node}.log")));
        counts.push(count);
    }
    for (node, agent) in ["node-plain", "node-gzip"].iter().zip(&agents) {
        wait_for(T, || (series(&c, node) > 10).then_some(())).unwrap_or_else(|| {
            panic!(
                "{node}'s series never arrived\n{}\n{}",
                c.aggregator_log(),
                agent.log()
            )
        });
    }
    // Both have sent their first batch (every definition) and a few more, 1 s apart.
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    let (plain, gzip) = (
        counts[0].load(Ordering::Relaxed),
        counts[1].load(Ordering::Relaxed),
    );
    let elapsed = t.elapsed();
    println!("agent -> aggregator bytes so far: none {plain}, gzip {gzip}");
    for (node, agent) in ["node-plain", "node-gzip"].iter().zip(&agents) {
        let log = agent.log();
        assert!(
            !log.contains("stream to aggregator failed"),
            "{node}: {log}"
        );
    }
    let agg = c.aggregator_log();
    assert!(!agg.contains("isn't supported"), "{agg}");
    // The first batch dominates: ~10x on this host's series; 3x leaves room for other hosts.
    assert!(
        gzip * 3 < plain,
        "gzip stream sent {gzip} B, the plain one {plain} B (after {elapsed:?})"
    );
}
