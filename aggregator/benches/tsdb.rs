//! TSDB hot paths, single thread: append rate, memory per sample once chunks fill, and the
//! remote-read codec over 10k series × 1 h (in process, no HTTP).
//! Run: `cargo bench -p hvscope-aggregator --bench tsdb`.

#[path = "common/data.rs"]
mod data;

use std::time::Instant;

use hvscope_aggregator::remote_read::codec;
use hvscope_aggregator::remote_read::proto::ReadResponse;
use hvscope_aggregator::tsdb::matcher::{MatchKind, Matcher};
use hvscope_aggregator::tsdb::{Db, SeriesHandle, xor};

const SERIES: usize = 10_000;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Builds `SERIES` series with `points` samples each; returns the db and the append time.
fn build(points: usize) -> (Db, f64) {
    let mut rng = data::Rng(0x9e37_79b9_7f4a_7c15);
    let db = Db::new(i64::MAX / 4);
    let mut handles: Vec<SeriesHandle> = (0..SERIES).map(|i| db.series(&data::labels(i))).collect();
    let mut gens: Vec<data::Gen> = (0..SERIES).map(|i| data::Gen::new(i, &mut rng)).collect();
    let ts = data::timestamps(1_700_000_000_000, points, &mut rng);
    // Values generated ahead (one flat allocation, returned to the OS when dropped) so only
    // appends are timed.
    let mut values = Vec::with_capacity(points * SERIES);
    for _ in &ts {
        values.extend(gens.iter_mut().map(|g| g.next(&mut rng)));
    }
    let start = Instant::now();
    for (t, vals) in ts.iter().zip(values.chunks(SERIES)) {
        for (h, v) in handles.iter_mut().zip(vals) {
            db.append(h, *t, *v);
        }
    }
    (db, start.elapsed().as_secs_f64())
}

fn main() {
    // Append and memory: 2 h at 10 s = 720 samples per series (6 chunks of 120).
    let rss0 = rss_kib();
    let (db, secs) = build(720);
    let st = db.stats();
    let rss1 = rss_kib();
    println!(
        "append: {} samples in {secs:.3} s = {:.2} M samples/s (1 thread)",
        st.samples,
        st.samples as f64 / secs / 1e6
    );
    let all = db.select(&[], i64::MIN, i64::MAX);
    let (mut full_bytes, mut full_samples) = (0usize, 0usize);
    let mut by_kind: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for s in &all {
        let name = s
            .labels
            .iter()
            .find(|l| l.0 == "__name__")
            .map(|l| l.1.clone());
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

    // Remote read: 10k series × 1 h.
    let (db, _) = build(360);
    let m = [Matcher::new(MatchKind::Regex, "__name__", "bench_.*").unwrap()];
    for _ in 0..2 {
        let t = Instant::now();
        let sel = db.select(&m, i64::MIN, i64::MAX);
        let mut budget = usize::MAX;
        let r = codec::samples_result(&sel, i64::MIN, i64::MAX, &mut budget, usize::MAX).unwrap();
        let n: usize = r.timeseries.iter().map(|s| s.samples.len()).sum();
        let body = codec::encode_samples(&ReadResponse { results: vec![r] });
        let samples_secs = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let sel = db.select(&m, i64::MIN, i64::MAX);
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
