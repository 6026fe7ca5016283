//! Bytes per sample of the same series in our aggregator and in a real Prometheus.
//!
//! Reads every series a running aggregator holds (remote-read `SAMPLES`, so the samples are
//! exactly what an agent sent), writes them in time order to a fresh Prometheus 2.42 through its
//! remote-write receiver, then asks both for `STREAMED_XOR_CHUNKS` and sums the chunk bytes:
//! chunks are the same XOR format on both sides, so the comparison is of what each keeps.
//!
//! Realistic data needs a real agent: run one against an aggregator at its default 10 s interval
//! for at least 20 minutes (so that chunks fill to 120 samples), then
//! `HVSCOPE_AGG_HTTP=127.0.0.1:9201 cargo bench -p hvscope-e2e --bench prom_memory`.
//! Without `HVSCOPE_AGG_HTTP` the bench says so and does nothing.

use std::net::SocketAddr;

use hvscope_aggregator::remote_read::proto::{ChunkedReadResponse, MatcherType, ResponseType};
use hvscope_e2e::feed::{Series, remote_write};
use hvscope_e2e::remote_read::{
    matcher, post_read, read_request, samples_response, streamed_response,
};
use hvscope_testkit::prom::Prometheus;

/// Chunk bytes and samples: (bytes, samples) over all chunks and over chunks of >= 100 samples.
#[derive(Default, Debug)]
struct ChunkTotals {
    series: usize,
    all: (usize, usize),
    full: (usize, usize),
}

fn totals(frames: &[ChunkedReadResponse]) -> ChunkTotals {
    let mut t = ChunkTotals::default();
    for s in frames.iter().flat_map(|f| &f.chunked_series) {
        t.series += 1;
        for c in &s.chunks {
            let n = c
                .data
                .get(..2)
                .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
            t.all = (t.all.0 + c.data.len(), t.all.1 + n);
            if n >= 100 {
                t.full = (t.full.0 + c.data.len(), t.full.1 + n);
            }
        }
    }
    t
}

fn chunks(addr: SocketAddr, start: i64, end: i64) -> ChunkTotals {
    let req = read_request(
        start,
        end,
        vec![matcher(MatcherType::Re, "__name__", ".+")],
        &[ResponseType::StreamedXorChunks as i32],
    );
    totals(&streamed_response(&post_read(addr, &req)))
}

fn per_sample((bytes, samples): (usize, usize)) -> f64 {
    bytes as f64 / samples.max(1) as f64
}

fn main() {
    let Some(agg) = std::env::var("HVSCOPE_AGG_HTTP").ok() else {
        eprintln!(
            "prom_memory: set HVSCOPE_AGG_HTTP=<host:port> of an aggregator that has held a real \
             agent's series for >= 20 min (see the file's doc); nothing measured"
        );
        return;
    };
    let agg: SocketAddr = agg.parse().expect("HVSCOPE_AGG_HTTP is host:port");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let (start, end) = (now - 3 * 3_600_000, now);
    let req = read_request(
        start,
        end,
        vec![matcher(MatcherType::Re, "__name__", ".+")],
        &[ResponseType::Samples as i32],
    );
    let answer = samples_response(&post_read(agg, &req));
    let series: Vec<Series> = answer
        .results
        .iter()
        .flat_map(|r| &r.timeseries)
        .map(|ts| Series {
            labels: ts
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect(),
            samples: ts.samples.iter().map(|s| (s.timestamp, s.value)).collect(),
        })
        .filter(|s| !s.samples.is_empty())
        .collect();
    let n_samples: usize = series.iter().map(|s| s.samples.len()).sum();
    let Some(prom) = Prometheus::start_with_flags(
        "prom-memory",
        "global:\n  scrape_interval: 1h\n",
        &["--web.enable-remote-write-receiver"],
    ) else {
        return;
    };
    remote_write(prom.addr, &series, 600_000);
    let ours = chunks(agg, start, end);
    let theirs = chunks(prom.addr, start, end);
    println!(
        "same data: {} series, {n_samples} samples (read from the aggregator, written to Prometheus)",
        series.len()
    );
    for (who, t) in [("hvscope-aggregator", &ours), ("prometheus 2.42", &theirs)] {
        println!(
            "{who:>18}: {} series, all chunks {} B / {} samples = {:.3} B/sample; chunks of >= 100 samples {:.3} B/sample ({} samples)",
            t.series,
            t.all.0,
            t.all.1,
            per_sample(t.all),
            per_sample(t.full),
            t.full.1
        );
    }
    println!(
        "ratio hvscope/prometheus (all chunks): {:.3}",
        per_sample(ours.all) / per_sample(theirs.all)
    );
}
