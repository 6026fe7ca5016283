//! Fuzzes `POST /api/v1/read` below HTTP: the snappy block and `ReadRequest` decode (bounded
//! before allocating), response-type negotiation, matcher and regex compilation, selection on a
//! small head, and both answers (`SAMPLES` with its sample budget, `STREAMED_XOR_CHUNKS` frames
//! read back). Raw input is tried as the snappy body and, to reach the protobuf and matcher code
//! quickly, also as the decoded request (compressed here).
#![no_main]

use std::sync::{Arc, OnceLock};

use hvscope_aggregator::remote_read::codec::{self, Limits};
use hvscope_aggregator::remote_read::proto::{ReadResponse, ResponseType};
use hvscope_aggregator::tsdb::Db;
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits = Limits {
    max_decoded_bytes: 1 << 20,
    max_queries: 16,
    max_matchers: 32,
    max_samples: 5_000,
    max_frame_bytes: 512,
};

fn db() -> &'static Db {
    static DB: OnceLock<Db> = OnceLock::new();
    DB.get_or_init(|| {
        let db = Db::new(i64::MAX);
        for (i, (name, node)) in [("up", "a"), ("up", "b"), ("cpu_total", "a"), ("x", "")]
            .iter()
            .enumerate()
        {
            let mut labels = vec![("__name__".to_owned(), (*name).to_owned())];
            if !node.is_empty() {
                labels.push(("node".to_owned(), (*node).to_owned()));
            }
            labels.sort();
            let labels = Arc::new(labels);
            for t in 0..300i64 {
                db.append_labels(&labels, t * 10_000, (t * (i as i64 + 1)) as f64 * 0.5);
            }
        }
        db
    })
}

fn answer(body: &[u8]) {
    let Ok(req) = codec::decode_request(body, &LIMITS) else {
        return;
    };
    assert!(req.queries.len() <= LIMITS.max_queries);
    let kind = codec::negotiate(&req.accepted_response_types);
    let mut budget = LIMITS.max_samples;
    let mut results = Vec::new();
    for (i, q) in req.queries.iter().enumerate() {
        let Ok(matchers) = codec::matchers(i, q, &LIMITS) else {
            continue;
        };
        assert!(matchers.len() <= LIMITS.max_matchers);
        let sel = db().select(&matchers, q.start_timestamp_ms, q.end_timestamp_ms);
        match kind {
            Some(ResponseType::Samples) | None => {
                if let Ok(r) = codec::samples_result(
                    &sel,
                    q.start_timestamp_ms,
                    q.end_timestamp_ms,
                    &mut budget,
                    LIMITS.max_samples,
                ) {
                    results.push(r);
                }
            }
            Some(ResponseType::StreamedXorChunks) => {
                let want: usize = sel.iter().map(|s| s.chunks.len()).sum();
                let mut got = 0;
                for f in codec::frames(i as i64, sel, LIMITS.max_frame_bytes) {
                    let (msg, used) = codec::read_frame(&f, 1 << 20)
                        .expect("our own frame reads back")
                        .expect("non-empty frame");
                    assert_eq!(used, f.len());
                    assert_eq!(msg.query_index, i as i64);
                    got += msg
                        .chunked_series
                        .iter()
                        .map(|s| s.chunks.len())
                        .sum::<usize>();
                }
                assert_eq!(got, want);
            }
        }
    }
    let _ = codec::encode_samples(&ReadResponse { results });
}

fuzz_target!(|data: &[u8]| {
    answer(data);
    if let Ok(compressed) = snap::raw::Encoder::new().compress_vec(data) {
        answer(&compressed);
    }
});
