//! Wire cost of the agent's batches: bytes per sample on the wire (protobuf payload, with and
//! without the stream's gzip) and encode time, for (a) what this machine's host source produces
//! and (b) a synthetic node with 2,000 series (half counters, half gauges, like a hypervisor
//! with ~40 VMs). Run: `cargo bench -p hvscope-agent --bench wire`.
//!
//! Per-message framing is added separately: gRPC 5 bytes + HTTP/2 DATA frame 9 bytes + TLS 1.3
//! record 22 bytes (header 5, tag 16, content type 1) ≈ 36 bytes per batch.

use std::io::Write;
use std::time::Instant;

use hvscope_agent::io::HostRoot;
use hvscope_agent::series::{Registry, SeriesBuf};
use hvscope_agent::snapshot::Snapshot;
use hvscope_proto::v1::Batch;
use prost::Message;

const FRAMING: usize = 36;

fn gzip(bytes: &[u8]) -> usize {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("in-memory write");
    e.finish().expect("in-memory finish").len()
}

struct Figures {
    samples: usize,
    raw: usize,
    gz: usize,
    first_with_defs: usize,
    encode_ns: f64,
}

fn measure(mut make: impl FnMut(u64) -> SeriesBuf, batches: u64) -> Figures {
    let mut reg = Registry::default();
    let (mut raw, mut gz, mut samples, mut first) = (0, 0, 0, 0);
    let mut encode_ns = 0.0;
    for seq in 1..=batches {
        let buf = make(seq);
        let t = Instant::now();
        let mut s = reg.assign(&buf, seq);
        let mut b = Batch {
            seq,
            timestamp_ms: 1_795_000_000_000 + seq as i64 * 10_000,
            ..Default::default()
        };
        hvscope_proto::pack_samples(&mut b, &mut s);
        let bytes = b.encode_to_vec();
        encode_ns += t.elapsed().as_nanos() as f64;
        if seq == 1 {
            // The first batch of a stream carries every series definition once.
            let mut with_defs = b.clone();
            for (id, _) in &s {
                let labels = reg.labels(*id).expect("just assigned");
                with_defs.defs.push(hvscope_proto::v1::SeriesDef {
                    id: *id,
                    labels: labels
                        .pairs()
                        .map(|(n, v)| hvscope_proto::v1::Label {
                            name: n.to_owned(),
                            value: v.to_owned(),
                        })
                        .collect(),
                });
            }
            first = with_defs.encoded_len();
            continue;
        }
        raw += bytes.len() + FRAMING;
        gz += gzip(&bytes) + FRAMING;
        samples += s.len();
    }
    Figures {
        samples,
        raw,
        gz,
        first_with_defs: first,
        encode_ns: encode_ns / batches as f64,
    }
}

fn report(name: &str, f: &Figures, per_batch: usize) {
    println!(
        "{name}: {per_batch} samples/batch | steady state: {:.2} B/sample raw, {:.2} B/sample gzip \
         (incl. {FRAMING} B framing per batch) | first batch with definitions: {} B | encode {:.1} µs/batch",
        f.raw as f64 / f.samples as f64,
        f.gz as f64 / f.samples as f64,
        f.first_with_defs,
        f.encode_ns / 1000.0
    );
}

fn main() {
    // (a) this machine's host source, collected for real 30 times.
    let root = HostRoot::default();
    let mut n = 0;
    let live = measure(
        |_| {
            let mut buf = SeriesBuf::default();
            Snapshot::collect(&root).series(&mut buf);
            n = buf.samples.len();
            buf
        },
        30,
    );
    report("live host", &live, n);

    // (b) synthetic node: 1,000 counters growing at varied rates with 10 ms resolution and
    // 1,000 gauges (bytes, mostly steady with occasional change), 10 s apart.
    let mut rng = fastrand::Rng::with_seed(7);
    let rates: Vec<f64> = (0..1000).map(|_| rng.f64() * 2.0).collect();
    let mut counters = vec![0.0f64; 1000];
    let mut gauges: Vec<f64> = (0..1000).map(|_| (rng.u64(1..1 << 34)) as f64).collect();
    let names: Vec<(String, String)> = (0..1000)
        .map(|i| (format!("{:08x}-vm", i / 25), format!("{}", i % 25)))
        .collect();
    let synth = measure(
        |_| {
            let mut buf = SeriesBuf::default();
            for i in 0..1000 {
                counters[i] += (rates[i] * 10.0 * 100.0).round() / 100.0;
                if rng.u8(..) < 40 {
                    gauges[i] += rng.i64(-4096..4096) as f64 * 4096.0;
                }
                let l = [
                    ("domain_uuid", names[i].0.as_str()),
                    ("vcpu", names[i].1.as_str()),
                ];
                buf.push("hvscope_vm_vcpu_seconds_total", "", &l, counters[i]);
                buf.push("hvscope_vm_memory_rss_bytes", "", &l, gauges[i]);
            }
            buf
        },
        60,
    );
    report("synthetic 2000 series", &synth, 2000);
}
