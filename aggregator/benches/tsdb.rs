//! TSDB hot paths, single thread: append rate, memory per sample once chunks fill, and the
//! remote-read codec over 10k series × 1 h (in process, no HTTP).
//! The ingest path (whole agent batches through `NodeStore::apply`, as the gRPC service does)
//! and memory with timestamps on the collection grid (what the agent sends since it aligns
//! batch timestamps) are measured too.
//! Append and remote-read are measured twice in one run: every chunk on the heap, and closed
//! chunks in chunk files (`[storage] chunks_on_disk`, in a directory under the system's temp
//! dir, so on the file system `/tmp` is on).
//! Run: `cargo bench -p hvscope-aggregator --bench tsdb`.

#[path = "common/data.rs"]
mod data;

use std::time::Instant;

use hvscope_aggregator::labels::{MatchKind, Matcher};
use hvscope_aggregator::nodes::{Applied, NodeStore};
use hvscope_aggregator::remote_read::codec;
use hvscope_aggregator::remote_read::proto::ReadResponse;
use hvscope_aggregator::tsdb::{ChunkFiles, Db, SeriesHandle, xor};
use hvscope_proto::v1::{Batch, Hello, Label, SeriesDef};

const SERIES: usize = 10_000;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU time of this thread (s), from the scheduler's accounting: samples per CPU-second is
/// the per-core rate even when other processes share the machine.
fn cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(f64::NAN, |ns| ns as f64 / 1e9)
}

/// Builds `SERIES` series with `points` samples each (timestamps with 0-5 ms of jitter, or on
/// the 10 s grid when `aligned`); returns the db and the append time.
fn build(points: usize, aligned: bool) -> (Db, f64) {
    build_into(Db::new(i64::MAX / 4), points, aligned)
}

/// A head whose closed chunks go to chunk files in a fresh directory (removed at once: the
/// files have no name).
fn with_files() -> Db {
    let dir = std::env::temp_dir().join(format!("hvscope-bench-chunks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files = ChunkFiles::open(&dir).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    Db::new(i64::MAX / 4).with_chunk_files(files, 0)
}

fn build_into(db: Db, points: usize, aligned: bool) -> (Db, f64) {
    let mut rng = data::Rng(0x9e37_79b9_7f4a_7c15);
    let mut handles: Vec<SeriesHandle> = (0..SERIES).map(|i| db.series(&data::labels(i))).collect();
    let mut gens: Vec<data::Gen> = (0..SERIES).map(|i| data::Gen::new(i, &mut rng)).collect();
    let mut ts = data::timestamps(1_700_000_000_000, points, &mut rng);
    if aligned {
        ts.iter_mut().for_each(|t| *t -= *t % 10_000);
    }
    // Values generated ahead (one flat allocation, returned to the OS when dropped) so only
    // appends are timed.
    let mut values = Vec::with_capacity(points * SERIES);
    for _ in &ts {
        values.extend(gens.iter_mut().map(|g| g.next(&mut rng)));
    }
    let cpu = cpu_secs();
    for (t, vals) in ts.iter().zip(values.chunks(SERIES)) {
        for (h, v) in handles.iter_mut().zip(vals) {
            db.append(h, *t, *v);
        }
    }
    (db, cpu_secs() - cpu)
}

/// The ingest path: `SERIES` series as 100 nodes of `SERIES / 100` series, `points` batches
/// per node, each unpacked and applied through `NodeStore::apply` as the gRPC service does
/// (no WAL). Returns samples/s.
fn ingest(points: usize) -> f64 {
    let nodes = 100;
    let per_node = SERIES / nodes;
    let mut rng = data::Rng(0x9e37_79b9_7f4a_7c15);
    let store = NodeStore::with_db(std::sync::Arc::new(Db::new(i64::MAX / 4)));
    let mut gens: Vec<data::Gen> = (0..SERIES).map(|i| data::Gen::new(i, &mut rng)).collect();
    let hello = Hello {
        boot_id: "b".into(),
        started_ms: 1,
        ..Default::default()
    };
    let names: Vec<String> = (0..nodes).map(|n| format!("compute-{n:04}")).collect();
    // Batches built ahead so only unpack + apply is timed.
    let mut batches: Vec<(usize, Batch)> = Vec::with_capacity(points * nodes);
    for k in 0..points {
        for n in 0..nodes {
            let mut samples: Vec<(u64, f64)> = (0..per_node)
                .map(|j| (j as u64 + 1, gens[n * per_node + j].next(&mut rng)))
                .collect();
            let mut b = Batch {
                seq: k as u64 + 1,
                timestamp_ms: 1_700_000_000_000 + k as i64 * 10_000,
                ..Default::default()
            };
            if k == 0 {
                b.defs = (0..per_node)
                    .map(|j| SeriesDef {
                        id: j as u64 + 1,
                        labels: data::labels(n + j * nodes)
                            .pairs()
                            .map(|(name, value)| Label {
                                name: name.to_owned(),
                                value: value.to_owned(),
                            })
                            .collect(),
                    })
                    .collect();
            }
            hvscope_proto::pack_samples(&mut b, &mut samples);
            batches.push((n, b));
        }
    }
    for n in &names {
        store.open_stream(n, &hello, 0);
    }
    let cpu = cpu_secs();
    let mut total = 0usize;
    for (n, b) in &batches {
        let samples = hvscope_proto::unpack_samples(b).expect("packed above");
        match store.apply(&names[*n], b, &samples, true, 0) {
            Applied::New { samples, .. } => total += samples,
            other => panic!("batch not applied: {other:?}"),
        }
    }
    let secs = cpu_secs() - cpu;
    assert_eq!(total, points * SERIES);
    total as f64 / secs
}

fn main() {
    // Append and memory: 2 h at 10 s = 720 samples per series (6 chunks of 120).
    let rss0 = rss_kib();
    let (db, secs) = build(720, false);
    let st = db.stats();
    let rss1 = rss_kib();
    println!(
        "append (Db::append per sample): {} samples in {secs:.3} CPU s = {:.2} M samples/s per core",
        st.samples,
        st.samples as f64 / secs / 1e6
    );
    for _ in 0..2 {
        println!(
            "append via ingest (unpack + NodeStore::apply, 100-sample batches, no WAL): {:.2} M samples/s per core",
            ingest(720) / 1e6
        );
    }
    let all = db.select(&[], i64::MIN, i64::MAX).unwrap();
    let (mut full_bytes, mut full_samples) = (0usize, 0usize);
    let mut by_kind: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for s in &all {
        let name = s.labels.get("__name__").map(str::to_owned);
        for c in &s.chunks {
            let n = xor::sample_count(&c.data).unwrap_or(0) as usize;
            if n == 120 {
                full_bytes += c.data.len();
                full_samples += n;
                let k = by_kind.entry(name.clone().unwrap_or_default()).or_default();
                k.0 += c.data.len();
                k.1 += n;
            }
        }
    }
    for (k, (b, n)) in &by_kind {
        println!(
            "memory: {k}: {:.3} B/sample in full chunks",
            *b as f64 / *n as f64
        );
    }
    println!(
        "memory: {:.3} B/sample in full chunks, {:.3} B/sample all chunks, {:.0} B/series overhead (estimate), RSS growth {:.1} MiB = {:.2} B/sample all-in",
        full_bytes as f64 / full_samples as f64,
        st.chunk_bytes as f64 / st.samples as f64,
        st.overhead_bytes as f64 / st.series as f64,
        (rss1 - rss0) as f64 / 1024.0,
        (rss1 - rss0) as f64 * 1024.0 / st.samples as f64
    );
    drop(all);
    drop(db);

    // Memory with batch timestamps on the 10 s grid (the agent aligns them).
    let (db, _) = build(720, true);
    let (mut total_b, mut total_n) = (0usize, 0usize);
    let mut by_kind: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for s in db.select(&[], i64::MIN, i64::MAX).unwrap() {
        let name = s.labels.get("__name__").map(str::to_owned);
        for c in s
            .chunks
            .iter()
            .filter(|c| xor::sample_count(&c.data) == Ok(120))
        {
            let k = by_kind.entry(name.clone().unwrap_or_default()).or_default();
            k.0 += c.data.len();
            k.1 += 120;
            total_b += c.data.len();
            total_n += 120;
        }
    }
    for (k, (b, n)) in &by_kind {
        println!(
            "memory, aligned timestamps: {k}: {:.3} B/sample in full chunks",
            *b as f64 / *n as f64
        );
    }
    println!(
        "memory, aligned timestamps: {:.3} B/sample in full chunks (mix)",
        total_b as f64 / total_n as f64
    );
    drop(db);

    // Closed chunks in chunk files: the append rate and what stays on the heap (RSS is not
    // a figure here: the heap freed above is reused).
    let (db, secs) = build_into(with_files(), 720, false);
    let st = db.stats();
    println!(
        "append into chunk files (Db::append per sample): {:.2} M samples/s per core; {:.1} of {:.1} MiB of chunks in the files",
        st.samples as f64 / secs / 1e6,
        st.chunk_disk_bytes as f64 / (1 << 20) as f64,
        st.chunk_bytes as f64 / (1 << 20) as f64,
    );
    drop(db);

    // Remote read: 10k series × 1 h, from the heap and from chunk files.
    for (place, (db, _)) in [
        ("heap", build(360, false)),
        ("chunk files", build_into(with_files(), 360, false)),
    ] {
        println!("remote read, chunks from the {place}:");
        remote_read(&db);
    }
}

fn remote_read(db: &Db) {
    let m = [Matcher::new(MatchKind::Regex, "__name__", "bench_.*").unwrap()];
    for _ in 0..2 {
        let t = Instant::now();
        let sel = db.select(&m, i64::MIN, i64::MAX).unwrap();
        let mut budget = usize::MAX;
        let r = codec::samples_result(&sel, i64::MIN, i64::MAX, &mut budget, usize::MAX).unwrap();
        let n: usize = r.timeseries.iter().map(|s| s.samples.len()).sum();
        let body = codec::encode_samples(&ReadResponse { results: vec![r] });
        let samples_secs = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let sel = db.select(&m, i64::MIN, i64::MAX).unwrap();
        let bytes: usize = codec::frames(0, sel, 1 << 20).map(|f| f.len()).sum();
        let chunk_secs = t.elapsed().as_secs_f64();
        println!(
            "remote read (codec, in process): {n} samples; SAMPLES {:.1} M samples/s ({} KiB snappy); STREAMED_XOR_CHUNKS {:.1} M samples/s ({} KiB)",
            n as f64 / samples_secs / 1e6,
            body.len() / 1024,
            n as f64 / chunk_secs / 1e6,
            bytes / 1024
        );
    }
}
