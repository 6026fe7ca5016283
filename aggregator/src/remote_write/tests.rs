//! Remote-write against an in-process receiver: what arrives equals what the TSDB stored
//! (stale markers and finding series included), a 400 drops one request and the queue moves
//! on, and a restart resumes from the checkpoint without sending anything twice.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use hvscope_proto::v1::{Batch, Finding, Hello, Label, SeriesDef, Severity};
use prost::Message;
use tokio::sync::watch;

use super::codec::WriteRequest;
use super::metrics::DropReason;
use crate::config::{QueueConfig, RemoteWriteConfig};
use crate::labels::{MatchKind, Matcher};
use crate::nodes::{Limits, NodeStore};
use crate::tsdb::{Db, xor};
use crate::wal::{Wal, WalOptions};

type Got = BTreeMap<Vec<(String, String)>, Vec<(i64, u64)>>;

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Got>>,
    requests: Arc<Mutex<u32>>,
    refuse: Arc<Mutex<Vec<u32>>>,
    /// Samples in each request, refused ones included.
    sizes: Arc<Mutex<Vec<usize>>>,
}

async fn write(State(r): State<Receiver>, body: axum::body::Bytes) -> (StatusCode, String) {
    let n = {
        let mut n = r.requests.lock().unwrap();
        *n += 1;
        *n
    };
    let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
    let req = WriteRequest::decode(raw.as_slice()).unwrap();
    let size = req.timeseries.iter().map(|t| t.samples.len()).sum();
    r.sizes.lock().unwrap().push(size);
    if r.refuse.lock().unwrap().contains(&n) {
        return (StatusCode::BAD_REQUEST, format!("request {n} refused"));
    }
    let mut got = r.got.lock().unwrap();
    for ts in req.timeseries {
        let labels: Vec<(String, String)> =
            ts.labels.into_iter().map(|l| (l.name, l.value)).collect();
        let v = got.entry(labels).or_default();
        for s in ts.samples {
            assert!(
                v.last().is_none_or(|(t, _)| *t < s.timestamp),
                "out of order"
            );
            v.push((s.timestamp, s.value.to_bits()));
        }
    }
    (StatusCode::NO_CONTENT, String::new())
}

async fn receiver() -> (Receiver, SocketAddr) {
    let r = Receiver::default();
    let app = axum::Router::new()
        .route("/api/v1/write", axum::routing::post(write))
        .with_state(r.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (r, addr)
}

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.into(),
        value: value.into(),
    }
}

fn def(id: u64, name: &str) -> SeriesDef {
    SeriesDef {
        id,
        labels: vec![label("__name__", name), label("vm", &id.to_string())],
    }
}

/// Batch `seq`: series 1..=6 defined in the first, series 6 gone from the third on, a finding
/// open in batches 2 and 3.
fn batch(seq: u64) -> (Batch, Vec<(u64, f64)>) {
    let ids: Vec<u64> = if seq >= 3 {
        (1..=5).collect()
    } else {
        (1..=6).collect()
    };
    let findings = if (2..=3).contains(&seq) {
        vec![Finding {
            check: "host.rootfs_fill".into(),
            severity: Severity::Warning as i32,
            subject: vec![label("mount", "/")],
            message: "full".into(),
        }]
    } else {
        vec![]
    };
    let b = Batch {
        seq,
        timestamp_ms: 1_000_000 + seq as i64 * 10_000,
        defs: if seq == 1 {
            ids.iter().map(|i| def(*i, "m")).collect()
        } else {
            vec![]
        },
        id_deltas: std::iter::once(1)
            .chain(std::iter::repeat_n(1, ids.len() - 1))
            .collect(),
        values: ids.iter().map(|i| (*i * 100 + seq) as f64).collect(),
        findings,
        ..Default::default()
    };
    let s = hvscope_proto::unpack_samples(&b).unwrap();
    (b, s)
}

fn store(dir: &std::path::Path) -> NodeStore {
    let mut s = NodeStore::with_db(Arc::new(Db::default()));
    let (wal, _) = Wal::open(
        WalOptions {
            dir: dir.to_path_buf(),
            fsync: false,
            segment_bytes: 2048,
            max_bytes: 1 << 30,
        },
        |r| {
            s.replay(r);
        },
    )
    .unwrap();
    s.set_wal(Arc::new(wal));
    s
}

/// Every sample of the TSDB, as the receiver keys them.
fn stored(s: &NodeStore) -> Got {
    let all = Matcher::new(MatchKind::Regex, "__name__", ".+").unwrap();
    s.db()
        .select(&[all], i64::MIN, i64::MAX)
        .unwrap()
        .into_iter()
        .map(|x| {
            let v = x
                .chunks
                .iter()
                .flat_map(|c| xor::decode(&c.data).unwrap())
                .map(|(t, v)| (t, v.to_bits()))
                .collect();
            (x.labels.to_vec(), v)
        })
        .collect()
}

fn target(addr: SocketAddr, max: usize) -> RemoteWriteConfig {
    RemoteWriteConfig {
        name: Some("test".into()),
        url: format!("http://{addr}/api/v1/write"),
        bearer_token_file: None,
        basic_auth: None,
        tls: None,
        headers: BTreeMap::new(),
        external_labels: BTreeMap::new(),
        queue: QueueConfig {
            max_samples_per_send: max,
            batch_send_deadline_ms: 50,
            shards: 2,
            min_backoff_ms: 10,
            max_backoff_ms: 50,
            ..Default::default()
        },
    }
}

async fn settle(m: &super::TargetMetrics, sent_at_least: u64) {
    for _ in 0..200 {
        let done = m.samples_sent.load(Ordering::Relaxed)
            + m.dropped(DropReason::Refused)
            + m.dropped(DropReason::DuplicateAfterRestart);
        if done >= sent_at_least && m.pending_samples.load(Ordering::Relaxed) == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("remote-write did not settle: {m:?}");
}

fn tmp(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("hvscope-rw-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_what_the_tsdb_stored_and_resumes_after_a_restart() {
    let dir = tmp("same");
    let s = store(&dir);
    let hello = Hello {
        boot_id: "b".into(),
        started_ms: 1,
        labels: vec![label("rack", "r1")],
        ..Default::default()
    };
    s.open_stream("n1", &hello, 0);
    for seq in 1..=5 {
        let (b, samples) = batch(seq);
        s.apply("n1", &b, &samples, true, 0);
    }
    // silent: every series ended by the stale declaration (logged in the WAL)
    s.record_liveness(1_055_000, 60_000, 30_000);
    let (rx, addr) = receiver().await;
    let (stop, sd) = watch::channel(false);
    let m = super::start(&[target(addr, 7)], &dir, Limits::default(), i64::MAX, sd).unwrap();
    // everything, the liveness series (logged once per tick) included
    let want = stored(&s);
    assert!(
        want.keys()
            .any(|l| l.iter().any(|(_, v)| v == "hvscope_node_up"))
    );
    let total: usize = want.values().map(Vec::len).sum();
    settle(&m[0], total as u64).await;
    let got = rx.got.lock().unwrap().clone();
    assert_eq!(got, want, "sample for sample, stale markers included");
    let markers = got
        .values()
        .flatten()
        .filter(|(_, v)| *v == crate::nodes::STALE_NAN_BITS)
        .count();
    assert!(
        markers >= 7,
        "series 6, the finding, and the stale node: {markers}"
    );
    assert_eq!(m[0].samples_sent.load(Ordering::Relaxed), total as u64);
    let text = {
        let mut o = String::new();
        super::metrics::render(&mut o, &m);
        o
    };
    assert!(
        text.contains("samples_sent_total{target=\"test\"}"),
        "{text}"
    );

    // restart: nothing is sent again; new batches are
    stop.send(true).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = *rx.requests.lock().unwrap();
    let (stop, sd) = watch::channel(false);
    let m = super::start(&[target(addr, 7)], &dir, Limits::default(), i64::MAX, sd).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        *rx.requests.lock().unwrap(),
        before,
        "resumed at the checkpoint"
    );
    s.open_stream("n1", &hello, 0);
    let (b, samples) = batch(6);
    s.apply("n1", &b, &samples, true, 0);
    settle(&m[0], 5).await;
    assert_eq!(m[0].samples_sent.load(Ordering::Relaxed), 5);
    let got = rx.got.lock().unwrap().clone();
    assert_eq!(got, stored(&s));
    stop.send(true).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_is_dropped_and_counted_and_the_queue_moves_on() {
    let dir = tmp("refused");
    let s = store(&dir);
    s.open_stream("n1", &Hello::default(), 0);
    for seq in 1..=4 {
        let (b, samples) = batch(seq);
        s.apply("n1", &b, &samples, true, 0);
    }
    let (rx, addr) = receiver().await;
    rx.refuse.lock().unwrap().push(1);
    let (stop, sd) = watch::channel(false);
    let mut t = target(addr, 1000);
    t.queue.shards = 1;
    t.queue.batch_send_deadline_ms = 5000;
    t.queue.max_samples_per_send = 6;
    let m = super::start(&[t], &dir, Limits::default(), i64::MAX, sd).unwrap();
    let total = stored(&s).values().map(Vec::len).sum::<usize>() as u64;
    settle(&m[0], total).await;
    let refused = m[0].dropped(DropReason::Refused);
    assert_eq!(refused, 6, "the first request: batch 1's six samples");
    assert_eq!(m[0].samples_sent.load(Ordering::Relaxed), total - refused);
    let got: usize = rx.got.lock().unwrap().values().map(Vec::len).sum();
    assert_eq!(got as u64, total - refused);
    stop.send(true).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_crash_the_request_in_flight_is_sent_again_exactly() {
    use super::checkpoint::{Checkpoint, CheckpointFile, ShardProgress};
    use crate::wal::reader::{Follower, Next, Position};

    let dir = tmp("resend");
    let s = store(&dir);
    s.open_stream("n1", &Hello::default(), 0);
    let mut sizes = Vec::new();
    for seq in 1..=5 {
        let (b, samples) = batch(seq);
        s.apply("n1", &b, &samples, true, 0);
        sizes.push(samples.len() + b.findings.len());
    }
    let mut ends = Vec::new();
    let mut f = Follower::new(&dir, Position::default());
    while let Next::Record(_, end) = f.next_record().unwrap() {
        ends.push(end);
    }
    assert_eq!(ends.len(), 5);
    // Died while sending records 2 and 3 (acked through record 1).
    CheckpointFile::new(&dir, "test")
        .store(&Checkpoint {
            shards: vec![ShardProgress {
                acked: ends[0],
                inflight: Some(ends[2]),
            }],
        })
        .unwrap();
    let (rx, addr) = receiver().await;
    // The receiver had it: Prometheus refuses a request of older samples as out of order.
    rx.refuse.lock().unwrap().push(1);
    let (stop, sd) = watch::channel(false);
    let mut t = target(addr, 1000);
    t.queue.shards = 1;
    let m = super::start(&[t], &dir, Limits::default(), i64::MAX, sd).unwrap();
    let total: usize = stored(&s).values().map(Vec::len).sum();
    let first_record = sizes[0];
    settle(&m[0], (total - first_record) as u64).await;
    let got = rx.sizes.lock().unwrap().clone();
    // batch 2 and 3: 6 + 1 finding, then 5 + 1 finding and series 6's stale marker
    assert_eq!(got[0], 7 + 7, "records 2 and 3 exactly: {got:?}");
    assert_eq!(m[0].dropped(DropReason::DuplicateAfterRestart), 14);
    assert_eq!(m[0].dropped(DropReason::Refused), 0);
    assert_eq!(
        m[0].samples_sent.load(Ordering::Relaxed) as usize,
        total - first_record - 14,
        "the rest is sent as usual"
    );
    stop.send(true).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
