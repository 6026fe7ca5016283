use std::sync::Arc;

use super::*;
use crate::remote_read::proto::LabelMatcher;
use crate::tsdb::{ChunkRef, xor::XorChunk};

const LIMITS: Limits = Limits {
    max_decoded_bytes: 1 << 20,
    max_queries: 4,
    max_matchers: 8,
    max_samples: 1000,
    max_frame_bytes: 1 << 20,
};

fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).unwrap()
}

fn query(matchers: Vec<LabelMatcher>) -> Query {
    Query {
        start_timestamp_ms: i64::MIN + 1,
        end_timestamp_ms: i64::MAX,
        matchers,
        hints: None,
    }
}

fn eq(name: &str, value: &str) -> LabelMatcher {
    LabelMatcher {
        r#type: MatcherType::Eq as i32,
        name: name.into(),
        value: value.into(),
    }
}

fn selected(n: usize, chunks: usize) -> Selected {
    let mut out = Vec::new();
    let mut t = 0;
    for _ in 0..chunks {
        let mut c = XorChunk::new();
        for i in 0..n {
            c.append(t, i as f64);
            t += 1000;
        }
        out.push(ChunkRef {
            min_time_ms: c.min_time(),
            max_time_ms: c.max_time(),
            data: Arc::from(c.bytes()),
        });
    }
    Selected {
        labels: Labels::from_pairs(&[("__name__", "m")]),
        chunks: out,
    }
}

#[test]
fn request_round_trip_and_negotiation() {
    let req = ReadRequest {
        queries: vec![query(vec![eq("__name__", "up")])],
        accepted_response_types: vec![ResponseType::StreamedXorChunks as i32],
    };
    let body = snappy(&req.encode_to_vec());
    assert_eq!(decode_request(&body, &LIMITS).unwrap(), req);
    assert_eq!(negotiate(&[]), Some(ResponseType::Samples));
    assert_eq!(negotiate(&[7, 1, 0]), Some(ResponseType::StreamedXorChunks));
    assert_eq!(negotiate(&[0, 1]), Some(ResponseType::Samples));
    assert_eq!(negotiate(&[9]), None);
}

#[test]
fn bad_requests_are_refused_before_allocating() {
    assert!(matches!(
        decode_request(b"\xff\xff\xff\xff\x0fgarbage", &LIMITS),
        Err(CodecError::DecodedTooLarge { .. })
    ));
    assert!(matches!(
        decode_request(b"\x05\x00abc", &LIMITS),
        Err(CodecError::Snappy(_))
    ));
    let junk = snappy(b"\x0a\xff\xff\xff\xff\x0f");
    assert!(matches!(
        decode_request(&junk, &LIMITS),
        Err(CodecError::Protobuf(_))
    ));
    let many = ReadRequest {
        queries: vec![query(vec![]); 5],
        accepted_response_types: vec![],
    };
    assert!(matches!(
        decode_request(&snappy(&many.encode_to_vec()), &LIMITS),
        Err(CodecError::TooManyQueries { count: 5, .. })
    ));
    let q = query(vec![eq("a", "b"); 10_000]);
    assert!(matches!(
        matchers(0, &q, &LIMITS),
        Err(CodecError::TooManyMatchers { count: 10_000, .. })
    ));
    let mut bad = eq("a", "(");
    bad.r#type = MatcherType::Re as i32;
    assert!(matches!(
        matchers(1, &query(vec![bad.clone()]), &LIMITS),
        Err(CodecError::Matcher { query: 1, .. })
    ));
    bad.r#type = 42;
    assert!(matches!(
        matchers(0, &query(vec![bad]), &LIMITS),
        Err(CodecError::UnknownMatcherType { kind: 42, .. })
    ));
}

#[test]
fn samples_are_cut_to_the_range_and_the_limit() {
    let s = vec![selected(120, 2)];
    let mut budget = 1000;
    let r = samples_result(&s, 10_000, 19_000, &mut budget, 1000).unwrap();
    assert_eq!(r.timeseries[0].samples.len(), 10);
    assert_eq!(r.timeseries[0].samples[0].timestamp, 10_000);
    assert_eq!(budget, 990);
    let mut small = 100;
    assert!(matches!(
        samples_result(&s, i64::MIN, i64::MAX, &mut small, 100),
        Err(CodecError::SampleLimit { limit: 100 })
    ));
    let resp = ReadResponse { results: vec![r] };
    let back = snap::raw::Decoder::new()
        .decompress_vec(&encode_samples(&resp))
        .unwrap();
    assert_eq!(ReadResponse::decode(back.as_slice()).unwrap(), resp);
}

#[test]
fn frames_carry_chunks_as_stored_and_split_by_size() {
    let s = selected(120, 5);
    let stored: Vec<Vec<u8>> = s.chunks.iter().map(|c| c.data.to_vec()).collect();
    let one: Vec<u8> = frames(3, vec![s.clone()], 1 << 20).flatten().collect();
    let (msg, used) = read_frame(&one, 1 << 20).unwrap().unwrap();
    assert_eq!(used, one.len());
    assert_eq!(msg.query_index, 3);
    let got: Vec<Vec<u8>> = msg.chunked_series[0]
        .chunks
        .iter()
        .map(|c| c.data.clone())
        .collect();
    assert_eq!(got, stored);
    // a small frame budget: several frames, same labels, same chunks in order
    let limit = stored[0].len() * 2 + 100;
    let many: Vec<Vec<u8>> = frames(0, vec![s], limit).collect();
    assert_eq!(many.len(), 3);
    let mut all = Vec::new();
    for f in &many {
        let (m, _) = read_frame(f, 1 << 20).unwrap().unwrap();
        assert_eq!(m.chunked_series[0].labels[0].value, "m");
        all.extend(m.chunked_series[0].chunks.iter().map(|c| c.data.clone()));
    }
    assert_eq!(all, stored);
    // corruption is detected
    let mut bad = one.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(
        read_frame(&bad, 1 << 20),
        Err(CodecError::FrameChecksum)
    ));
    assert!(matches!(
        read_frame(&one[..10], 1 << 20),
        Err(CodecError::FrameTruncated)
    ));
    assert!(matches!(
        read_frame(&one, 10),
        Err(CodecError::FrameTooLarge { .. })
    ));
    assert!(read_frame(&[], 10).unwrap().is_none());
}
