//! Wire cost of the agent's batches per stream codec, side by side in one run: bytes on the
//! wire per batch and per sample, and CPU per batch to compress (the node pays) and to
//! decompress (the aggregator pays), for every candidate, on
//!   - this machine's host source, collected for real;
//!   - the real captures: `libvirt-kvm-2vm` (2 KVM domains) with the OVS capture of the same
//!     host (br-int's 37 flows audited, the captured OVSDB topology), and `iscsi-guest`;
//!   - a synthetic node with 2,000 series (half counters, half gauges, like ~40 VMs);
//!
//! each as the first batch of a stream (every series definition once) and as steady-state
//! batches (samples only). Batches are built the way the agent builds them (collection,
//! checks, registry, `pack_samples`, the stream's `with_defs`) and encoded as the
//! `AgentMessage` the stream sends. Every codec runs the code path tonic 0.14 runs for it: a new
//! `flate2::read::GzEncoder` per message at a fixed level 6 for gzip, a new
//! `zstd::stream::read::Encoder` (a new compression context, 128 KiB input buffer, unknown
//! source size) at a fixed level 3 (`zstd::DEFAULT_COMPRESSION_LEVEL`) for zstd, and the matching
//! `read` decoders on the aggregator. Other levels, and zstd with one context kept for the
//! process, are measured to show what tonic's fixed choices leave on the table; tonic offers no
//! way to set them.
//!
//! CPU is the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), medians over interleaved rounds
//! (codecs rotate within each round: the machine is shared). Bytes on the wire add the framing:
//! gRPC 5 B per message, and per 16 KiB HTTP/2 DATA frame 9 B plus a TLS 1.3 record's 22 B
//! (header 5, tag 16, content type 1). "seal" is the measured AES-256-GCM (ring, the TLS 1.3
//! cipher rustls picks here) cost of those bytes; "agent" = protobuf encode + compress + seal.
//! "peak RSS" (synthetic node only) is the growth of VmHWM in a child process that compresses
//! and decompresses that node's batches with one codec (glibc malloc; the static agent's musl
//! malloc returns large blocks to the kernel at once).
//!
//! Run: `cargo bench -p hvscope-agent --bench wire` (`WIRE_ROUNDS=…`, default 15).

use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

use hvscope_agent::checks::{self, Check};
use hvscope_agent::config::Config;
use hvscope_agent::io::HostRoot;
use hvscope_agent::series::registry::IdSet;
use hvscope_agent::series::{Registry, SeriesBuf};
use hvscope_agent::snapshot::{Collector, Snapshot};
use hvscope_agent::sources::ovs::audit::{Auditor, attached_macs};
use hvscope_agent::sources::ovs::config::OvsConfig;
use hvscope_agent::sources::ovs::rules::Rules;
use hvscope_agent::sources::ovs::{Bridge, Ovs};
use hvscope_agent::transport::stream::with_defs;
use hvscope_parse::ovs::testdata::{FLOWS_OF13, topology};
use hvscope_proto::v1::{AgentMessage, Batch, agent_message};
use prost::Message;

/// A stream codec as the agent could send it.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Codec {
    None,
    /// gzip at a level, tonic's code path (tonic fixes level 6).
    Gzip(u32),
    /// zstd at a level, tonic's code path (tonic fixes level 3).
    Zstd(i32),
    /// zstd with one compression context reused for every message (not what tonic does).
    ZstdKept(i32),
}

const CODECS: [Codec; 9] = [
    Codec::None,
    Codec::Gzip(1),
    Codec::Gzip(6),
    Codec::Gzip(9),
    Codec::Zstd(1),
    Codec::Zstd(3),
    Codec::Zstd(6),
    Codec::Zstd(9),
    Codec::ZstdKept(3),
];

impl Codec {
    fn name(self) -> String {
        match self {
            Codec::None => "none".into(),
            Codec::Gzip(6) => "gzip-6 (tonic)".into(),
            Codec::Gzip(l) => format!("gzip-{l}"),
            Codec::Zstd(3) => "zstd-3 (tonic)".into(),
            Codec::Zstd(l) => format!("zstd-{l}"),
            Codec::ZstdKept(l) => format!("zstd-{l}, kept context"),
        }
    }

    fn parse(s: &str) -> Option<Self> {
        CODECS.into_iter().find(|c| format!("{c:?}") == s)
    }
}

/// A codec's state between messages: only the kept zstd context has any.
struct Coder {
    codec: Codec,
    kept: Option<zstd::bulk::Compressor<'static>>,
}

impl Coder {
    fn new(codec: Codec) -> Self {
        let kept = match codec {
            Codec::ZstdKept(l) => Some(zstd::bulk::Compressor::new(l).expect("zstd context")),
            _ => None,
        };
        Self { codec, kept }
    }

    /// Compresses `input` into `out` (replacing it), as the sending side does.
    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.clear();
        match self.codec {
            Codec::None => out.extend_from_slice(input),
            Codec::Gzip(l) => {
                let mut e = flate2::read::GzEncoder::new(input, flate2::Compression::new(l));
                std::io::copy(&mut e, out).expect("in-memory gzip");
            }
            Codec::Zstd(l) => {
                let mut e = zstd::stream::read::Encoder::new(input, l).expect("zstd encoder");
                std::io::copy(&mut e, out).expect("in-memory zstd");
            }
            Codec::ZstdKept(_) => {
                let c = self.kept.as_mut().expect("made with the codec");
                out.reserve(zstd::zstd_safe::compress_bound(input.len()));
                c.compress_to_buffer(input, out).expect("in-memory zstd");
            }
        }
    }

    /// Decompresses `input` into `out` (replacing it), as tonic's receiving side does.
    fn decompress(&self, input: &[u8], out: &mut Vec<u8>) {
        out.clear();
        match self.codec {
            Codec::None => out.extend_from_slice(input),
            Codec::Gzip(_) => {
                let mut d = flate2::read::GzDecoder::new(input);
                d.read_to_end(out).expect("own gzip");
            }
            Codec::Zstd(_) | Codec::ZstdKept(_) => {
                let mut d = zstd::stream::read::Decoder::new(input).expect("zstd decoder");
                std::io::copy(&mut d, out).expect("own zstd");
            }
        }
    }
}

fn thread_cpu_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .expect("thread cpu clock");
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

/// Bytes on the wire for a message of `payload` bytes (after compression).
fn on_wire(payload: usize) -> usize {
    let grpc = payload + 5;
    grpc + grpc.div_ceil(16_384).max(1) * (9 + 22)
}

/// Builds batches the way the agent does, for one stream.
struct Stream {
    registry: Mutex<Registry>,
    checks: Vec<Box<dyn Check>>,
    defined: IdSet,
    seq: u64,
}

impl Stream {
    fn new() -> Self {
        Self {
            registry: Mutex::new(Registry::with_static_labels([("rack", "r01")])),
            checks: checks::configured(&Config::default()),
            defined: IdSet::default(),
            seq: 0,
        }
    }

    /// The message for `buf`'s series (plus the findings of `snap`, and their series).
    fn message(&mut self, mut buf: SeriesBuf, snap: Option<&Snapshot>) -> (AgentMessage, usize) {
        let findings = snap.map(|s| checks::run_all(&self.checks, s));
        if let Some(f) = &findings {
            checks::series(f, &mut buf);
        }
        self.seq += 1;
        let mut samples = self
            .registry
            .lock()
            .expect("not poisoned")
            .assign(&buf, self.seq);
        let mut batch = Batch {
            seq: self.seq,
            timestamp_ms: 1_795_000_000_000 + self.seq as i64 * 10_000,
            findings: findings.iter().flatten().map(|f| f.to_proto()).collect(),
            ..Default::default()
        };
        hvscope_proto::pack_samples(&mut batch, &mut samples);
        let (batch, missing) = with_defs(&batch, &mut self.defined, &self.registry);
        assert_eq!(missing, 0);
        let n = batch.values.len();
        (
            AgentMessage {
                msg: Some(agent_message::Msg::Batch(batch)),
            },
            n,
        )
    }
}

/// One source's messages: the first of a stream (with definitions) and steady-state ones.
struct Source {
    name: &'static str,
    first: (AgentMessage, usize),
    steady: Vec<(AgentMessage, usize)>,
}

const STEADY: usize = 20;

fn from_collector(name: &'static str, mut c: Collector, edit: impl Fn(&mut Snapshot)) -> Source {
    // A collection first, so that the SLI sampler knows the VMs (as in the daemon).
    let _ = c.collect();
    let mut stream = Stream::new();
    let mut next = |stream: &mut Stream| {
        c.sample_sli();
        let mut snap = c.collect();
        edit(&mut snap);
        let mut buf = SeriesBuf::default();
        snap.series(&mut buf);
        stream.message(buf, Some(&snap))
    };
    let first = next(&mut stream);
    let steady = (0..STEADY).map(|_| next(&mut stream)).collect();
    Source {
        name,
        first,
        steady,
    }
}

/// The OVS capture as the OVS source reports it: the captured topology, br-int's captured
/// flow table audited with the Neutron cookie owned.
fn ovs_capture() -> Ovs {
    let topo = topology();
    let cfg: OvsConfig =
        toml::from_str("owned_cookies = ['0x9f3c6a1d2e4b7c85']").expect("ovs config");
    let rules = Rules::compile(&cfg.rules).expect("no rules");
    let macs = attached_macs(&topo.bridges);
    let bridges = topo
        .bridges
        .iter()
        .map(|row| {
            let flows = (row.name == "br-int")
                .then(|| Auditor::new(row, &macs, &cfg, &rules).audit_text(FLOWS_OF13));
            Bridge::of_row(row, flows.map(std::sync::Arc::new))
        })
        .collect();
    Ovs {
        ovsdb_up: true,
        ovs_version: topo.ovs_version.clone(),
        bridges,
    }
}

fn fixture(name: &str) -> HostRoot {
    HostRoot::new(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
}

/// 1,000 counters growing at varied rates with 10 ms resolution and 1,000 gauges (bytes, mostly
/// steady with occasional change), 10 s apart.
fn synthetic() -> Source {
    let mut rng = fastrand::Rng::with_seed(7);
    let rates: Vec<f64> = (0..1000).map(|_| rng.f64() * 2.0).collect();
    let mut counters = vec![0.0f64; 1000];
    let mut gauges: Vec<f64> = (0..1000).map(|_| (rng.u64(1..1 << 34)) as f64).collect();
    let names: Vec<(String, String)> = (0..1000)
        .map(|i| (format!("{:08x}-vm", i / 25), format!("{}", i % 25)))
        .collect();
    let mut stream = Stream::new();
    let mut next = || {
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
        stream.message(buf, None)
    };
    let first = next();
    let steady = (0..STEADY).map(|_| next()).collect();
    Source {
        name: "synthetic 2,000 series",
        first,
        steady,
    }
}

fn sources() -> Vec<Source> {
    let cfg = Config::default();
    vec![
        from_collector(
            "this machine (live)",
            Collector::new(HostRoot::default(), &cfg),
            |_| {},
        ),
        from_collector(
            "libvirt-kvm-2vm + OVS capture",
            Collector::new(fixture("libvirt-kvm-2vm"), &cfg),
            |s| {
                s.errors.retain(|e| !e.source.starts_with("ovs"));
                s.ovs = Some(ovs_capture());
            },
        ),
        from_collector(
            "iscsi-guest",
            Collector::new(fixture("iscsi-guest"), &cfg),
            |_| {},
        ),
        synthetic(),
    ]
}

/// One kind of batch of one source, encoded.
struct Kind {
    label: String,
    messages: Vec<Vec<u8>>,
    samples_per_batch: f64,
    /// How often each message is processed per timed pass (a single first batch is short).
    reps: usize,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Row {
    bytes: f64,
    compress: Vec<f64>,
    decompress: Vec<f64>,
    seal: Vec<f64>,
}

fn measure(kind: &Kind, rounds: usize, key: &ring::aead::LessSafeKey) -> Vec<Row> {
    let mut coders: Vec<Coder> = CODECS.iter().map(|&c| Coder::new(c)).collect();
    // Sizes (deterministic), and the compressed messages each decompression pass reads.
    let mut packed: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut rows = Vec::new();
    for coder in &mut coders {
        let mut outs = Vec::new();
        let mut bytes = 0;
        for m in &kind.messages {
            let mut out = Vec::new();
            coder.compress(m, &mut out);
            let mut back = Vec::new();
            coder.decompress(&out, &mut back);
            assert_eq!(&back, m, "{:?} round-trips", coder.codec);
            bytes += on_wire(out.len());
            outs.push(out);
        }
        packed.push(outs);
        rows.push(Row {
            bytes: bytes as f64 / kind.messages.len() as f64,
            compress: vec![],
            decompress: vec![],
            seal: vec![],
        });
    }
    let per_pass = (kind.messages.len() * kind.reps) as f64;
    let mut out = Vec::with_capacity(1 << 20);
    let mut record = vec![0u8; 16_384];
    for round in 0..rounds {
        for i in 0..coders.len() {
            let ci = (i + round) % coders.len();
            if coders[ci].codec != Codec::None {
                let t = thread_cpu_ns();
                for _ in 0..kind.reps {
                    for m in &kind.messages {
                        coders[ci].compress(m, &mut out);
                    }
                }
                rows[ci]
                    .compress
                    .push((thread_cpu_ns() - t) as f64 / per_pass);
                let t = thread_cpu_ns();
                for _ in 0..kind.reps {
                    for m in &packed[ci] {
                        coders[ci].decompress(m, &mut out);
                    }
                }
                rows[ci]
                    .decompress
                    .push((thread_cpu_ns() - t) as f64 / per_pass);
            } else {
                rows[ci].compress.push(0.0);
                rows[ci].decompress.push(0.0);
            }
            // The TLS records of these bytes.
            let t = thread_cpu_ns();
            for _ in 0..kind.reps {
                for m in &packed[ci] {
                    let mut left = on_wire(m.len());
                    while left > 0 {
                        let n = left.min(16_384);
                        let nonce = ring::aead::Nonce::assume_unique_for_key([round as u8; 12]);
                        let tag = key
                            .seal_in_place_separate_tag(
                                nonce,
                                ring::aead::Aad::empty(),
                                &mut record[..n],
                            )
                            .expect("seal");
                        let _ = std::hint::black_box(tag);
                        left -= n;
                    }
                }
            }
            rows[ci].seal.push((thread_cpu_ns() - t) as f64 / per_pass);
        }
    }
    rows
}

/// Protobuf encode and decode of the kind's messages, µs per batch (median).
fn codec_free(src: &[&AgentMessage], rounds: usize, reps: usize) -> (f64, f64) {
    let (mut enc, mut dec) = (vec![], vec![]);
    let bytes: Vec<Vec<u8>> = src.iter().map(|m| m.encode_to_vec()).collect();
    let n = (src.len() * reps) as f64;
    for _ in 0..rounds {
        let t = thread_cpu_ns();
        for _ in 0..reps {
            for m in src {
                std::hint::black_box(m.encode_to_vec());
            }
        }
        enc.push((thread_cpu_ns() - t) as f64 / n / 1000.0);
        let t = thread_cpu_ns();
        for _ in 0..reps {
            for b in &bytes {
                std::hint::black_box(AgentMessage::decode(b.as_slice()).expect("own message"));
            }
        }
        dec.push((thread_cpu_ns() - t) as f64 / n / 1000.0);
    }
    (median(&mut enc), median(&mut dec))
}

fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .expect("own status")
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("status field")
}

/// In a child: peak RSS growth while one codec compresses and decompresses the synthetic
/// node's first batch and steady batches 10 times.
fn rss_child(codec: Codec) {
    let s = synthetic();
    let msgs: Vec<Vec<u8>> = std::iter::once(&s.first)
        .chain(&s.steady)
        .map(|(m, _)| m.encode_to_vec())
        .collect();
    let mut coder = Coder::new(codec);
    let (mut a, mut b) = (Vec::with_capacity(1 << 20), Vec::with_capacity(1 << 20));
    // Touch the buffers, then reset the peak.
    a.resize(1 << 20, 1u8);
    b.resize(1 << 20, 1u8);
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    let before = status_kib("VmRSS:");
    for _ in 0..10 {
        for m in &msgs {
            coder.compress(m, &mut a);
            coder.decompress(&a, &mut b);
        }
    }
    let peak = status_kib("VmHWM:");
    println!("{}", peak.saturating_sub(before));
}

fn rss_of(codec: Codec) -> u64 {
    let o = std::process::Command::new(std::env::current_exe().expect("own exe"))
        .env("WIRE_RSS_CODEC", format!("{codec:?}"))
        .output()
        .expect("run child");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .expect("child prints KiB")
}

fn main() {
    if let Some(c) = std::env::var("WIRE_RSS_CODEC")
        .ok()
        .as_deref()
        .map(Codec::parse)
    {
        rss_child(c.expect("a codec"));
        return;
    }
    let rounds: usize = std::env::var("WIRE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &[7; 32]).expect("key"),
    );
    let rss: Vec<u64> = CODECS.iter().map(|&c| rss_of(c)).collect();
    for src in sources() {
        let steady_samples: usize = src.steady.iter().map(|m| m.1).sum();
        let kinds = [
            (
                Kind {
                    label: format!("{}: first batch (with definitions)", src.name),
                    messages: vec![src.first.0.encode_to_vec()],
                    samples_per_batch: src.first.1 as f64,
                    reps: 10,
                },
                vec![&src.first.0],
            ),
            (
                Kind {
                    label: format!("{}: steady-state batch", src.name),
                    messages: src.steady.iter().map(|m| m.0.encode_to_vec()).collect(),
                    samples_per_batch: steady_samples as f64 / src.steady.len() as f64,
                    reps: 1,
                },
                src.steady.iter().map(|m| &m.0).collect(),
            ),
        ];
        for (kind, msgs) in kinds {
            let (enc, dec) = codec_free(&msgs, rounds, kind.reps);
            let raw = kind.messages.iter().map(Vec::len).sum::<usize>() / kind.messages.len();
            println!(
                "\n### {} — {:.0} samples, {raw} B protobuf; encode {enc:.1} µs, decode {dec:.1} µs per batch\n",
                kind.label, kind.samples_per_batch
            );
            print!(
                "| codec | B/batch on the wire | B/sample | compress µs | decompress µs | seal µs | agent µs |"
            );
            let synthetic = src.name.starts_with("synthetic");
            println!("{}", if synthetic { " peak RSS KiB |" } else { "" });
            println!(
                "|---|---|---|---|---|---|---|{}",
                if synthetic { "---|" } else { "" }
            );
            for (i, mut row) in measure(&kind, rounds, &key).into_iter().enumerate() {
                let (c, d, s) = (
                    median(&mut row.compress) / 1000.0,
                    median(&mut row.decompress) / 1000.0,
                    median(&mut row.seal) / 1000.0,
                );
                print!(
                    "| {} | {:.0} | {:.2} | {c:.1} | {d:.1} | {s:.1} | {:.1} |",
                    CODECS[i].name(),
                    row.bytes,
                    row.bytes / kind.samples_per_batch,
                    enc + c + s
                );
                if synthetic {
                    print!(" {} |", rss[i]);
                }
                println!();
            }
        }
    }
}
