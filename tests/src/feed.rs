//! Synthetic samples with exact timestamps, delivered two ways: to the aggregator over a real
//! agent stream (the agent crate's own transport: spool, mTLS gRPC, series definitions, acks)
//! and to a Prometheus remote-write receiver as a snappy `WriteRequest`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hvscope_agent::config::Compression;
use hvscope_agent::series::{Registry, SeriesBuf};
use hvscope_agent::transport::Link;
use hvscope_agent::transport::spool::SpooledBatch;
use hvscope_agent::transport::stream::{self, StreamParams};
use hvscope_aggregator::remote_read::proto::{Label, Sample, TimeSeries};
use hvscope_common::tls::{TlsFiles, install_crypto_provider};
use hvscope_proto::v1::{Batch, Hello};
use hvscope_testkit::prom::http_post;
use prost::Message;

use crate::Cluster;

/// Prometheus' staleness marker (`value.StaleNaN`).
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// One series: its labels (`__name__` included, sorted) and samples in time order.
#[derive(Debug, Clone)]
pub struct Series {
    pub labels: Vec<(String, String)>,
    pub samples: Vec<(i64, f64)>,
}

impl Series {
    /// A series named `name` with `labels`.
    pub fn new(name: &str, labels: &[(&str, &str)]) -> Self {
        let mut l: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        l.push(("__name__".to_owned(), name.to_owned()));
        l.sort();
        Self {
            labels: l,
            samples: Vec::new(),
        }
    }
}

/// `prometheus.WriteRequest` (remote-write 1.0: `prompb/remote.proto`, series only).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// Writes `series` to Prometheus' remote-write receiver in time slices of `slice_ms` (every
/// series' samples of one slice per request, slices in time order, so no sample falls behind
/// the head's appendable window). Panics on any status but 2xx.
pub fn remote_write(prom: SocketAddr, series: &[Series], slice_ms: i64) {
    let start = series
        .iter()
        .filter_map(|s| s.samples.first().map(|x| x.0))
        .min()
        .expect("samples");
    let end = series
        .iter()
        .filter_map(|s| s.samples.last().map(|x| x.0))
        .max()
        .expect("samples");
    let mut from = start;
    while from <= end {
        let to = from + slice_ms;
        let timeseries: Vec<TimeSeries> = series
            .iter()
            .filter_map(|s| {
                let samples: Vec<Sample> = s
                    .samples
                    .iter()
                    .filter(|x| x.0 >= from && x.0 < to)
                    .map(|&(timestamp, value)| Sample { value, timestamp })
                    .collect();
                (!samples.is_empty()).then(|| TimeSeries {
                    labels: s
                        .labels
                        .iter()
                        .map(|(name, value)| Label {
                            name: name.clone(),
                            value: value.clone(),
                        })
                        .collect(),
                    samples,
                })
            })
            .collect();
        post_write(prom, timeseries, &format!("[{from}, {to})"));
        from = to;
    }
}

/// Sends one remote-write 1.0 request (`WriteRequest`, snappy block) to Prometheus' receiver;
/// panics on any status but 2xx, naming `what`.
pub fn post_write(prom: SocketAddr, timeseries: Vec<TimeSeries>, what: &str) {
    let body = snap::raw::Encoder::new()
        .compress_vec(&WriteRequest { timeseries }.encode_to_vec())
        .expect("snappy");
    let headers = [
        ("Content-Type", "application/x-protobuf"),
        ("Content-Encoding", "snappy"),
        ("X-Prometheus-Remote-Write-Version", "0.1.0"),
    ];
    let r = http_post(prom, "/api/v1/write", &headers, &body).expect("remote write POST");
    assert!(
        (200..300).contains(&r.status),
        "remote write {what}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
}

/// The agent batches carrying `series`: one batch per distinct timestamp (an agent batch has
/// one collection time), sequences from 1, ids from `registry`. The `node` label is left out
/// (the aggregator stamps it from the certificate).
pub fn batches(series: &[Series], registry: &mut Registry) -> Vec<Batch> {
    let mut by_time: BTreeMap<i64, SeriesBuf> = BTreeMap::new();
    for s in series {
        let name = s
            .labels
            .iter()
            .find(|l| l.0 == "__name__")
            .map(|l| l.1.as_str())
            .expect("__name__");
        let others: Vec<(&str, &str)> = s
            .labels
            .iter()
            .filter(|l| l.0 != "__name__" && l.0 != "node")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        for &(t, v) in &s.samples {
            by_time
                .entry(t)
                .or_default()
                .push(name, "synthetic", &others, v);
        }
    }
    by_time
        .into_iter()
        .enumerate()
        .map(|(i, (t, buf))| {
            let seq = i as u64 + 1;
            let mut samples = registry.assign(&buf, seq);
            let mut b = Batch {
                seq,
                timestamp_ms: t,
                ..Default::default()
            };
            hvscope_proto::pack_samples(&mut b, &mut samples);
            b
        })
        .collect()
}

/// Streams `series` to `c`'s aggregator as node `node` (its client certificate must exist, see
/// [`Cluster::node_cert`]) with hello labels `hello_labels`, through the agent's transport, and
/// returns once every batch is acknowledged (panics after `timeout`).
pub fn stream_to_aggregator(
    c: &Cluster,
    node: &str,
    hello_labels: &[(&str, &str)],
    series: &[Series],
    timeout: Duration,
) {
    let mut registry = Registry::default();
    let all = batches(series, &mut registry);
    stream_batches(c, node, hello_labels, all, registry, timeout);
}

/// Streams prepared `all` batches (ids from `registry`) to `c`'s aggregator as node `node`,
/// like [`stream_to_aggregator`]; returns once every batch is acknowledged.
pub fn stream_batches(
    c: &Cluster,
    node: &str,
    hello_labels: &[(&str, &str)],
    all: Vec<Batch>,
    registry: Registry,
    timeout: Duration,
) {
    install_crypto_provider();
    let n = all.len();
    let link = Link::new(format!("127.0.0.1:{}", c.grpc_port), 1 << 30);
    for b in all {
        link.push(SpooledBatch::new(b));
    }
    let certs = c.certs();
    let params = StreamParams {
        tls: TlsFiles {
            ca: certs.join("ca.pem"),
            cert: certs.join(format!("{node}.pem")),
            key: certs.join(format!("{node}-key.pem")),
        },
        server_name: Some("localhost".to_owned()),
        hello: Hello {
            agent_version: "e2e-feed".into(),
            boot_id: format!("feed-{node}"),
            labels: hello_labels
                .iter()
                .map(|(k, v)| hvscope_proto::v1::Label {
                    name: (*k).to_owned(),
                    value: (*v).to_owned(),
                })
                .collect(),
            claimed_node: node.to_owned(),
            started_ms: 1,
            ..Default::default()
        },
        registry: Arc::new(Mutex::new(registry)),
        connect_timeout: Duration::from_secs(5),
        max_backoff: Duration::from_secs(1),
        compression: Compression::Gzip,
        ack_timeout: stream::ACK_TIMEOUT,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = rt.spawn(stream::run(link.clone(), params, stopped));
    let t0 = Instant::now();
    while !link.spool().is_empty() {
        assert!(
            t0.elapsed() < timeout,
            "{} of {n} batches unacknowledged after {timeout:?}\n{}",
            link.spool().len(),
            c.aggregator_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = stop.send(true);
    let _ = rt.block_on(task);
    assert_eq!(link.spool().acked(), n as u64, "every batch acknowledged");
}

/// A small deterministic generator (xorshift64*), so test data is the same on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
