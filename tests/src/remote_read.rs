//! Remote-read requests as Prometheus sends them (snappy protobuf over `POST /api/v1/read`) and
//! their answers decoded with the aggregator's own codec.

use std::net::SocketAddr;

use hvscope_aggregator::remote_read::codec::read_frame;
use hvscope_aggregator::remote_read::proto::{
    ChunkedReadResponse, LabelMatcher, MatcherType, Query, ReadRequest, ReadResponse,
};
use hvscope_testkit::prom::{HttpReply, http_post};
use prost::Message;

/// A matcher for a remote-read query.
pub fn matcher(kind: MatcherType, name: &str, value: &str) -> LabelMatcher {
    LabelMatcher {
        r#type: kind as i32,
        name: name.into(),
        value: value.into(),
    }
}

/// A one-query `ReadRequest`.
pub fn read_request(start: i64, end: i64, m: Vec<LabelMatcher>, accepted: &[i32]) -> ReadRequest {
    ReadRequest {
        queries: vec![Query {
            start_timestamp_ms: start,
            end_timestamp_ms: end,
            matchers: m,
            hints: None,
        }],
        accepted_response_types: accepted.to_vec(),
    }
}

/// POSTs a remote-read request (snappy, as Prometheus sends it).
pub fn post_read(addr: SocketAddr, req: &ReadRequest) -> HttpReply {
    let body = snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .expect("snappy");
    let headers = [
        ("Content-Type", "application/x-protobuf"),
        ("Content-Encoding", "snappy"),
        ("X-Prometheus-Remote-Read-Version", "0.1.0"),
    ];
    http_post(addr, "/api/v1/read", &headers, &body).expect("remote read POST")
}

/// Decodes a `SAMPLES` answer.
pub fn samples_response(r: &HttpReply) -> ReadResponse {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&r.body)
        .expect("snappy answer");
    ReadResponse::decode(raw.as_slice()).expect("ReadResponse")
}

/// Decodes a `STREAMED_XOR_CHUNKS` answer into its frames.
pub fn streamed_response(r: &HttpReply) -> Vec<ChunkedReadResponse> {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let mut rest = r.body.as_slice();
    let mut out = Vec::new();
    while let Some((msg, used)) = read_frame(rest, 64 << 20).expect("frame") {
        out.push(msg);
        rest = &rest[used..];
    }
    out
}
