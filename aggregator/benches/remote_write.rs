//! Remote-write throughput from the WAL: a WAL of `NODES` nodes × `SERIES` series × `BATCHES`
//! batches (agent-shaped: one batch per node and interval) is written through the node store,
//! then one target replays it through its shadow store, encodes and sends it to an in-process
//! receiver on loopback that answers 204. Prints samples/s, the process CPU spent per sample,
//! and the RSS the target added (its shadow: labels and newest sample per series).
//! Run: `cargo bench -p hvscope-aggregator --bench remote_write`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hvscope_aggregator::config::{QueueConfig, RemoteWriteConfig};
use hvscope_aggregator::nodes::{Limits, NodeStore};
use hvscope_aggregator::tsdb::Db;
use hvscope_aggregator::wal::{Wal, WalOptions};
use hvscope_proto::v1::{Batch, Hello, Label, SeriesDef};

const NODES: usize = 50;
const SERIES: usize = 2000;
const BATCHES: usize = 30;

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn cpu_s() -> f64 {
    // utime + stime of this process, from /proc/self/stat (clock ticks of 10 ms)
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn batch(seq: u64, t: i64) -> Batch {
    let defs = if seq == 1 {
        (1..=SERIES as u64)
            .map(|id| SeriesDef {
                id,
                labels: vec![
                    Label {
                        name: "__name__".into(),
                        value: format!("hvscope_bench_metric_{}", id % 40),
                    },
                    Label {
                        name: "instance_id".into(),
                        value: format!("vm-{}", id / 40),
                    },
                    Label {
                        name: "rack".into(),
                        value: "r1".into(),
                    },
                ],
            })
            .collect()
    } else {
        vec![]
    };
    Batch {
        seq,
        timestamp_ms: t,
        defs,
        id_deltas: std::iter::once(1)
            .chain(std::iter::repeat_n(1, SERIES - 1))
            .collect(),
        values: (0..SERIES).map(|i| (i as u64 * seq) as f64).collect(),
        ..Default::default()
    }
}

fn main() {
    let dir = std::env::temp_dir().join(format!("hvscope-rw-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut store = NodeStore::with_db(Arc::new(Db::default()));
    let (wal, _) = Wal::open(
        WalOptions {
            dir: dir.clone(),
            fsync: false,
            segment_bytes: 64 << 20,
            max_bytes: 1 << 40,
        },
        |_| {},
    )
    .expect("wal");
    store.set_wal(Arc::new(wal));
    let t0 = hvscope_common::clock::now_ms() - (BATCHES as i64) * 10_000;
    for n in 0..NODES {
        store.open_stream(&format!("n{n}"), &Hello::default(), 0);
    }
    for b in 1..=BATCHES as u64 {
        for n in 0..NODES {
            let bt = batch(b, t0 + b as i64 * 10_000);
            let s = hvscope_proto::unpack_samples(&bt).expect("unpack");
            store.apply(&format!("n{n}"), &bt, &s, true, 0);
        }
    }
    drop(store);
    let total = (NODES * SERIES * BATCHES) as u64;
    let wal_bytes: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let app = axum::Router::new().route(
            "/api/v1/write",
            axum::routing::post(|_b: axum::body::Bytes| async { axum::http::StatusCode::NO_CONTENT }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        let cfg = RemoteWriteConfig {
            name: Some("bench".into()),
            url: format!("http://{addr}/api/v1/write"),
            bearer_token_file: None,
            basic_auth: None,
            tls: None,
            headers: Default::default(),
            external_labels: Default::default(),
            queue: QueueConfig::default(),
        };
        let (rss0, cpu0, start) = (rss_kb(), cpu_s(), Instant::now());
        let (_stop, sd) = tokio::sync::watch::channel(false);
        let m = hvscope_aggregator::remote_write::start(
            &[cfg],
            &dir,
            Limits::default(),
            i64::MAX,
            sd,
        )
        .expect("start");
        while m[0].samples_sent.load(Ordering::Relaxed) < total {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let secs = start.elapsed().as_secs_f64();
        let cpu = cpu_s() - cpu0;
        println!(
            "remote-write from the WAL: {total} samples ({NODES} nodes x {SERIES} series x {BATCHES} batches, \
             WAL {:.1} MB) in {secs:.2} s = {:.0} samples/s; CPU {cpu:.2} s = {:.2} us/sample \
             (feed, encoding, HTTP and the receiver together); {} requests; RSS +{} MB for the target",
            wal_bytes as f64 / 1e6,
            total as f64 / secs,
            cpu * 1e6 / total as f64,
            m[0].requests_sent.load(Ordering::Relaxed),
            rss_kb().saturating_sub(rss0) / 1024,
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}
