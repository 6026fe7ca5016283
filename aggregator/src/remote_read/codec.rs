//! The remote-read codec, pure: request decoding (snappy block + protobuf, bounded before any
//! allocation), response-type negotiation, matcher conversion, the `SAMPLES` response, and the
//! `STREAMED_XOR_CHUNKS` frames (uvarint length, big-endian CRC32-Castagnoli, message).

use prost::Message;

use super::proto::{
    Chunk, ChunkEncoding, ChunkedReadResponse, ChunkedSeries, Label, MatcherType, Query,
    QueryResult, ReadRequest, ReadResponse, ResponseType, Sample, TimeSeries,
};
use crate::labels::{Labels, MatchKind, Matcher, MatcherError};
use crate::tsdb::{Selected, xor};

const CASTAGNOLI: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// Bounds applied while decoding and answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest snappy-decoded request.
    pub max_decoded_bytes: usize,
    /// Most queries in one request.
    pub max_queries: usize,
    /// Most matchers in one query.
    pub max_matchers: usize,
    /// Most samples in one `SAMPLES` response.
    pub max_samples: usize,
    /// Target size of one streamed frame (a single larger chunk still goes alone).
    pub max_frame_bytes: usize,
}

/// A request that cannot be answered as sent (HTTP 4xx).
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("request body is not a snappy block: {0}")]
    Snappy(#[from] snap::Error),
    #[error("request decodes to {declared} bytes, over the {limit}-byte limit")]
    DecodedTooLarge { declared: usize, limit: usize },
    #[error("request is not a prometheus.ReadRequest: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("{count} queries in one request, over the limit of {limit}")]
    TooManyQueries { count: usize, limit: usize },
    #[error("query {query} has {count} matchers, over the limit of {limit}")]
    TooManyMatchers {
        query: usize,
        count: usize,
        limit: usize,
    },
    #[error("query {query} has a matcher of unknown type {kind}")]
    UnknownMatcherType { query: usize, kind: i32 },
    #[error("query {query}: {source}")]
    Matcher {
        query: usize,
        #[source]
        source: MatcherError,
    },
    #[error("the answer exceeds the limit of {limit} samples per response; narrow the query")]
    SampleLimit { limit: usize },
    #[error("frame of {len} bytes over the {limit}-byte limit")]
    FrameTooLarge { len: u64, limit: usize },
    #[error("frame checksum mismatch")]
    FrameChecksum,
    #[error("truncated frame")]
    FrameTruncated,
    #[error("chunk: {0}")]
    Chunk(#[from] xor::XorError),
}

/// Decodes a snappy-compressed `ReadRequest`, checking the declared size before allocating.
pub fn decode_request(body: &[u8], limits: &Limits) -> Result<ReadRequest, CodecError> {
    let declared = snap::raw::decompress_len(body)?;
    if declared > limits.max_decoded_bytes {
        return Err(CodecError::DecodedTooLarge {
            declared,
            limit: limits.max_decoded_bytes,
        });
    }
    let raw = snap::raw::Decoder::new().decompress_vec(body)?;
    let req = ReadRequest::decode(raw.as_slice())?;
    if req.queries.len() > limits.max_queries {
        return Err(CodecError::TooManyQueries {
            count: req.queries.len(),
            limit: limits.max_queries,
        });
    }
    Ok(req)
}

/// The first response type of the client's list that we serve; an empty list means SAMPLES.
/// `None` when the client accepts only types we do not serve.
pub fn negotiate(accepted: &[i32]) -> Option<ResponseType> {
    if accepted.is_empty() {
        return Some(ResponseType::Samples);
    }
    accepted
        .iter()
        .find_map(|t| ResponseType::try_from(*t).ok())
}

/// The matchers of query number `index`.
pub fn matchers(index: usize, q: &Query, limits: &Limits) -> Result<Vec<Matcher>, CodecError> {
    if q.matchers.len() > limits.max_matchers {
        return Err(CodecError::TooManyMatchers {
            query: index,
            count: q.matchers.len(),
            limit: limits.max_matchers,
        });
    }
    q.matchers
        .iter()
        .map(|m| {
            let kind = match MatcherType::try_from(m.r#type) {
                Ok(MatcherType::Eq) => MatchKind::Equal,
                Ok(MatcherType::Neq) => MatchKind::NotEqual,
                Ok(MatcherType::Re) => MatchKind::Regex,
                Ok(MatcherType::Nre) => MatchKind::NotRegex,
                Err(_) => {
                    return Err(CodecError::UnknownMatcherType {
                        query: index,
                        kind: m.r#type,
                    });
                }
            };
            Matcher::new(kind, &m.name, &m.value).map_err(|source| CodecError::Matcher {
                query: index,
                source,
            })
        })
        .collect()
}

/// Stored labels as protobuf labels (already sorted).
pub fn proto_labels(labels: &Labels) -> Vec<Label> {
    labels
        .pairs()
        .map(|(n, v)| Label {
            name: n.to_owned(),
            value: v.to_owned(),
        })
        .collect()
}

/// Decodes the selected chunks into samples in `[start, end]`, charging `budget`.
pub fn samples_result(
    selected: &[Selected],
    start: i64,
    end: i64,
    budget: &mut usize,
    limit: usize,
) -> Result<QueryResult, CodecError> {
    let mut timeseries = Vec::with_capacity(selected.len());
    for s in selected {
        let mut samples = Vec::new();
        for c in &s.chunks {
            for r in xor::iter(&c.data)? {
                let (t, v) = r?;
                if t < start || t > end {
                    continue;
                }
                *budget = budget
                    .checked_sub(1)
                    .ok_or(CodecError::SampleLimit { limit })?;
                samples.push(Sample {
                    value: v,
                    timestamp: t,
                });
            }
        }
        if !samples.is_empty() {
            timeseries.push(TimeSeries {
                labels: proto_labels(&s.labels),
                samples,
            });
        }
    }
    Ok(QueryResult { timeseries })
}

/// The body of a `SAMPLES` answer: snappy block of the `ReadResponse`.
pub fn encode_samples(resp: &ReadResponse) -> Vec<u8> {
    // Compressing bytes that exist in memory cannot fail but for inputs over 4 GiB.
    snap::raw::Encoder::new()
        .compress_vec(&resp.encode_to_vec())
        .unwrap_or_default()
}

/// Appends one frame: uvarint length, big-endian CRC32-Castagnoli of the message, message.
pub fn encode_frame(msg: &ChunkedReadResponse, out: &mut Vec<u8>) {
    let body = msg.encode_to_vec();
    prost::encoding::encode_varint(body.len() as u64, out);
    out.extend_from_slice(&CASTAGNOLI.checksum(&body).to_be_bytes());
    out.extend_from_slice(&body);
}

/// Reads the frame at the start of `buf`: the message and the bytes used, `None` when `buf`
/// is empty.
pub fn read_frame(
    buf: &[u8],
    max_frame_bytes: usize,
) -> Result<Option<(ChunkedReadResponse, usize)>, CodecError> {
    if buf.is_empty() {
        return Ok(None);
    }
    let mut rest = buf;
    let len = prost::encoding::decode_varint(&mut rest).map_err(|_| CodecError::FrameTruncated)?;
    if len > max_frame_bytes as u64 {
        return Err(CodecError::FrameTooLarge {
            len,
            limit: max_frame_bytes,
        });
    }
    let len = len as usize;
    if rest.len() < 4 + len {
        return Err(CodecError::FrameTruncated);
    }
    let crc = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let body = &rest[4..4 + len];
    if CASTAGNOLI.checksum(body) != crc {
        return Err(CodecError::FrameChecksum);
    }
    let used = buf.len() - rest.len() + 4 + len;
    Ok(Some((ChunkedReadResponse::decode(body)?, used)))
}

/// The frames answering query `query_index` with `selected`: one series per frame, a series
/// split over several frames when its chunks exceed `max_frame_bytes`. Stored chunk bytes go
/// out as they are.
pub fn frames(
    query_index: i64,
    selected: Vec<Selected>,
    max_frame_bytes: usize,
) -> impl Iterator<Item = Vec<u8>> {
    selected.into_iter().flat_map(move |s| {
        let labels = proto_labels(&s.labels);
        let label_bytes: usize = labels
            .iter()
            .map(|l| l.name.len() + l.value.len() + 6)
            .sum();
        let mut out = Vec::new();
        let mut group: Vec<Chunk> = Vec::new();
        let mut size = label_bytes;
        let flush = |group: &mut Vec<Chunk>, out: &mut Vec<Vec<u8>>| {
            let msg = ChunkedReadResponse {
                chunked_series: vec![ChunkedSeries {
                    labels: labels.clone(),
                    chunks: std::mem::take(group),
                }],
                query_index,
            };
            let mut f = Vec::with_capacity(msg.encoded_len() + 16);
            encode_frame(&msg, &mut f);
            out.push(f);
        };
        for c in s.chunks {
            let cost = c.data.len() + 32;
            if !group.is_empty() && size + cost > max_frame_bytes {
                flush(&mut group, &mut out);
                size = label_bytes;
            }
            size += cost;
            group.push(Chunk {
                min_time_ms: c.min_time_ms,
                max_time_ms: c.max_time_ms,
                r#type: ChunkEncoding::Xor as i32,
                data: c.data.to_vec(),
            });
        }
        if !group.is_empty() {
            flush(&mut group, &mut out);
        }
        out
    })
}

#[cfg(test)]
mod tests;
