//! `POST /api/v1/read`: wires HTTP to the codec and the TSDB. Decoding and selection run on the
//! blocking pool; `STREAMED_XOR_CHUNKS` frames are produced lazily while the body is sent, so a
//! large answer never sits whole in memory. Every refusal names the limit it hit.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::sync::Semaphore;
use tracing::debug;

use super::codec::{self, CodecError, Limits};
use super::proto::{ReadResponse, ResponseType};
use crate::config::RemoteReadConfig;
use crate::metrics::Metrics;
use crate::tsdb::Db;

/// Content type of a `STREAMED_XOR_CHUNKS` answer.
pub const STREAMED_CONTENT_TYPE: &str =
    "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";

/// Frames are handed to the HTTP body in writes of about this size (one series' frame is
/// often a few hundred bytes; a write each would dominate the cost).
const WRITE_BYTES: usize = 64 << 10;

/// Joins whole frames into writes of at least `target` bytes (the last one may be smaller).
struct Coalesce<I> {
    frames: I,
    target: usize,
}

impl<I: Iterator<Item = Vec<u8>>> Iterator for Coalesce<I> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        let mut out = self.frames.next()?;
        while out.len() < self.target {
            match self.frames.next() {
                Some(f) => out.extend_from_slice(&f),
                None => break,
            }
        }
        Some(out)
    }
}

/// What the handler reads.
#[derive(Clone)]
pub struct ReadState {
    pub db: Arc<Db>,
    pub metrics: Arc<Metrics>,
    pub config: RemoteReadConfig,
    pub gate: Arc<Semaphore>,
}

impl ReadState {
    pub fn new(db: Arc<Db>, metrics: Arc<Metrics>, config: RemoteReadConfig) -> Self {
        let gate = Arc::new(Semaphore::new(config.max_concurrent_reads.max(1)));
        Self {
            db,
            metrics,
            config,
            gate,
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            max_decoded_bytes: self.config.max_decoded_bytes,
            max_queries: self.config.max_queries,
            max_matchers: self.config.max_matchers_per_query,
            max_samples: self.config.max_samples_per_response,
            max_frame_bytes: self.config.max_frame_bytes,
        }
    }
}

/// A read that is refused.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("too many concurrent remote reads (limit {limit}); retry later")]
    Busy { limit: usize },
    #[error("none of the accepted response types {accepted:?} is supported")]
    Unsupported { accepted: Vec<i32> },
    #[error("{0}")]
    Codec(#[from] CodecError),
    #[error("remote read task failed: {0}")]
    Internal(String),
}

impl IntoResponse for ReadError {
    fn into_response(self) -> Response {
        let status = match &self {
            ReadError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ReadError::Unsupported { .. } => StatusCode::NOT_ACCEPTABLE,
            ReadError::Codec(CodecError::DecodedTooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            ReadError::Codec(CodecError::SampleLimit { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
            ReadError::Codec(_) => StatusCode::BAD_REQUEST,
            ReadError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut r = (status, format!("remote read: {self}\n")).into_response();
        if matches!(self, ReadError::Busy { .. }) {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        r
    }
}

enum Answer {
    Samples(Vec<u8>),
    Streamed(Vec<(i64, Vec<crate::tsdb::Selected>)>),
}

fn answer(db: &Db, body: &[u8], limits: &Limits) -> Result<Answer, ReadError> {
    let req = codec::decode_request(body, limits)?;
    let kind =
        codec::negotiate(&req.accepted_response_types).ok_or_else(|| ReadError::Unsupported {
            accepted: req.accepted_response_types.clone(),
        })?;
    let mut selections = Vec::with_capacity(req.queries.len());
    for (i, q) in req.queries.iter().enumerate() {
        let matchers = codec::matchers(i, q, limits)?;
        let sel = db
            .select(&matchers, q.start_timestamp_ms, q.end_timestamp_ms)
            .map_err(|e| ReadError::Internal(format!("reading the head's chunk files: {e}")))?;
        selections.push((i, q, sel));
    }
    match kind {
        ResponseType::Samples => {
            let mut budget = limits.max_samples;
            let mut results = Vec::with_capacity(selections.len());
            for (_, q, sel) in &selections {
                results.push(codec::samples_result(
                    sel,
                    q.start_timestamp_ms,
                    q.end_timestamp_ms,
                    &mut budget,
                    limits.max_samples,
                )?);
            }
            Ok(Answer::Samples(codec::encode_samples(&ReadResponse {
                results,
            })))
        }
        ResponseType::StreamedXorChunks => Ok(Answer::Streamed(
            selections
                .into_iter()
                .map(|(i, _, sel)| (i as i64, sel))
                .collect(),
        )),
    }
}

async fn read(State(s): State<ReadState>, body: Bytes) -> Result<Response, ReadError> {
    let m = s.metrics.clone();
    m.remote_read_requests.fetch_add(1, Ordering::Relaxed);
    let r = serve(s, body).await;
    if let Err(error) = &r {
        m.remote_read_errors.fetch_add(1, Ordering::Relaxed);
        debug!(%error, "remote read refused");
    }
    r
}

async fn serve(s: ReadState, body: Bytes) -> Result<Response, ReadError> {
    let permit = s
        .gate
        .clone()
        .try_acquire_owned()
        .map_err(|_| ReadError::Busy {
            limit: s.config.max_concurrent_reads,
        })?;
    let limits = s.limits();
    let db = s.db.clone();
    let answer = tokio::task::spawn_blocking(move || answer(&db, &body, &limits))
        .await
        .map_err(|e| ReadError::Internal(e.to_string()))??;
    match answer {
        Answer::Samples(bytes) => {
            drop(permit);
            Ok((
                [
                    (header::CONTENT_TYPE, "application/x-protobuf"),
                    (header::CONTENT_ENCODING, "snappy"),
                ],
                bytes,
            )
                .into_response())
        }
        Answer::Streamed(queries) => {
            let max = s.config.max_frame_bytes;
            let metrics = s.metrics.clone();
            let frames = queries
                .into_iter()
                .flat_map(move |(i, sel)| codec::frames(i, sel, max))
                .inspect(move |_| {
                    metrics.remote_read_frames.fetch_add(1, Ordering::Relaxed);
                });
            let writes = Coalesce {
                frames,
                target: WRITE_BYTES.min(max.max(1)),
            }
            .map(move |w| {
                // The permit lives as long as the body is being produced.
                let _held = &permit;
                Ok::<_, Infallible>(Bytes::from(w))
            });
            Ok((
                [(header::CONTENT_TYPE, STREAMED_CONTENT_TYPE)],
                Body::from_stream(tokio_stream::iter(writes)),
            )
                .into_response())
        }
    }
}

/// The `/api/v1/read` route with its body limit.
pub fn router(state: ReadState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/api/v1/read", post(read))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesce_keeps_frames_whole_and_in_order() {
        let frames = (0u8..10).map(|i| vec![i; 10]);
        let writes: Vec<Vec<u8>> = Coalesce { frames, target: 25 }.collect();
        assert_eq!(
            writes.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![30, 30, 30, 10]
        );
        let all: Vec<u8> = writes.concat();
        let want: Vec<u8> = (0u8..10).flat_map(|i| vec![i; 10]).collect();
        assert_eq!(all, want);
        assert_eq!(
            Coalesce {
                frames: std::iter::empty::<Vec<u8>>(),
                target: 5
            }
            .count(),
            0
        );
    }
}
