//! Our XOR chunks against a real Prometheus: it scrapes its own `/metrics` every 100 ms, then
//! its `/api/v1/read` is asked for `STREAMED_XOR_CHUNKS`. Our decoder must read every chunk
//! exactly (the same samples its `SAMPLES` answer carries), and chunks we encode from the same
//! samples must be byte-identical to its chunks.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hvscope_aggregator::remote_read::proto::{ChunkEncoding, MatcherType, ResponseType};
use hvscope_aggregator::tsdb::xor::{self, XorChunk};
use hvscope_e2e::remote_read::{
    matcher, post_read, read_request, samples_response, streamed_response,
};
use hvscope_testkit::prom::{Prometheus, urlencode};
use hvscope_testkit::wait_for;

const CONFIG: &str = "global: {scrape_interval: 100ms, scrape_timeout: 100ms}
scrape_configs:
  - job_name: self
    static_configs: [{targets: ['{self}']}]
";

type Key = Vec<(String, String)>;

#[test]
fn our_xor_codec_matches_prometheus_chunks_byte_for_byte() {
    let Some(p) = Prometheus::start("xor", CONFIG) else {
        return;
    };
    // Wait until at least one series has filled a 120-sample chunk and started another.
    let q = urlencode("max(count_over_time(up[1m]))");
    let filled = wait_for(Duration::from_secs(40), || {
        let v = p.api(&format!("query?query={q}"));
        let n: f64 = v["result"][0]["value"][1].as_str()?.parse().ok()?;
        (n >= 130.0).then_some(n)
    });
    assert!(
        filled.is_some(),
        "prometheus did not scrape: {}",
        p.proc.log()
    );

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let end = now - 1000;
    let m = vec![matcher(
        MatcherType::Re,
        "__name__",
        "prometheus_.*|up|go_.*",
    )];
    let streamed = post_read(
        p.addr,
        &read_request(0, end, m.clone(), &[ResponseType::StreamedXorChunks as i32]),
    );
    assert_eq!(
        streamed.header("content-type"),
        Some("application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse")
    );
    let frames = streamed_response(&streamed);
    let samples = samples_response(&post_read(p.addr, &read_request(0, end, m, &[])));

    let mut from_chunks: BTreeMap<Key, Vec<(i64, u64)>> = BTreeMap::new();
    let (mut chunks, mut full, mut total, mut max_len) = (0, 0, 0usize, 0usize);
    for f in &frames {
        for s in &f.chunked_series {
            let key: Key = s
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            for c in &s.chunks {
                assert_eq!(c.r#type, ChunkEncoding::Xor as i32);
                let decoded = xor::decode(&c.data).expect("our decoder reads prometheus' chunk");
                assert_eq!(decoded.len(), xor::sample_count(&c.data).unwrap() as usize);
                assert_eq!(decoded.first().map(|s| s.0), Some(c.min_time_ms));
                assert_eq!(decoded.last().map(|s| s.0), Some(c.max_time_ms));
                let mut ours = XorChunk::new();
                for &(t, v) in &decoded {
                    ours.append(t, v);
                }
                assert_eq!(
                    ours.bytes(),
                    c.data.as_slice(),
                    "re-encoded chunk differs for {key:?} ({} samples)",
                    decoded.len()
                );
                chunks += 1;
                // Prometheus cuts near 120 samples, by time (computeChunkEndTime).
                full += usize::from(decoded.len() >= 100);
                max_len = max_len.max(decoded.len());
                total += decoded.len();
                from_chunks.entry(key.clone()).or_default().extend(
                    decoded
                        .iter()
                        .filter(|s| s.0 <= end)
                        .map(|&(t, v)| (t, v.to_bits())),
                );
            }
        }
    }
    assert!(chunks > 100, "only {chunks} chunks");
    assert!(full > 0, "no closed chunk of 100+ samples among {chunks}");
    let mut from_samples: BTreeMap<Key, Vec<(i64, u64)>> = BTreeMap::new();
    for ts in &samples.results[0].timeseries {
        let key: Key = ts
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        from_samples
            .entry(key)
            .or_default()
            .extend(ts.samples.iter().map(|s| (s.timestamp, s.value.to_bits())));
    }
    assert_eq!(from_chunks.len(), from_samples.len());
    for (k, v) in &from_samples {
        assert_eq!(from_chunks.get(k), Some(v), "samples of {k:?}");
    }
    eprintln!(
        "{} series, {chunks} chunks ({full} of 100+ samples, largest {max_len}), {total} samples: \
         decoded and re-encoded identically",
        from_samples.len()
    );
}
