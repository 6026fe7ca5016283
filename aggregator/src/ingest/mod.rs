//! The gRPC `Ingest` service: one task per agent stream. The node is named by the verified
//! client certificate attached to the connection ([`PeerIdentity`]), never by the payload.
//! A batch is acknowledged only once it has been applied: written to the write-ahead log (when
//! configured) and appended to the node store and the TSDB. Batches are applied on tokio's
//! blocking pool: a WAL sync may take milliseconds, and concurrent streams then share one
//! (the WAL's group commit) instead of queueing behind each other on the runtime's threads.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hvscope_common::clock::now_ms;
use hvscope_proto::v1::{
    Accepted, Ack, AgentMessage, AggregatorMessage, Resend, agent_message, aggregator_message,
    ingest_server::Ingest,
};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::{debug, info, warn};

use crate::metrics::Metrics;
use crate::nodes::{Applied, NodeStore};
use crate::tls::PeerIdentity;

/// How long a new stream may take to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// The `Ingest` service.
#[derive(Clone)]
pub struct IngestService {
    pub store: Arc<NodeStore>,
    pub metrics: Arc<Metrics>,
}

fn out(msg: aggregator_message::Msg) -> Result<AggregatorMessage, Status> {
    Ok(AggregatorMessage { msg: Some(msg) })
}

type Tx = mpsc::Sender<Result<AggregatorMessage, Status>>;

impl IngestService {
    async fn session(self, node: String, mut inbound: Streaming<AgentMessage>, tx: Tx) {
        let hello = match tokio::time::timeout(HELLO_TIMEOUT, inbound.next()).await {
            Ok(Some(Ok(AgentMessage {
                msg: Some(agent_message::Msg::Hello(h)),
            }))) => h,
            Ok(Some(Err(status))) => {
                debug!(%node, %status, "stream failed before hello");
                return;
            }
            _ => {
                let _ = tx
                    .send(Err(Status::invalid_argument(
                        "the first message must be a hello",
                    )))
                    .await;
                return;
            }
        };
        let resume = self.store.open_stream(&node, &hello, now_ms());
        self.metrics
            .connected_agents
            .fetch_add(1, Ordering::Relaxed);
        self.metrics.streams_total.fetch_add(1, Ordering::Relaxed);
        info!(%node, claimed = %hello.claimed_node, boot_id = %hello.boot_id,
            version = %hello.agent_version, resume_from = resume, "agent stream opened");
        let accepted = aggregator_message::Msg::Accepted(Accepted {
            node: node.clone(),
            resume_from_seq: resume,
        });
        if tx.send(out(accepted)).await.is_ok() {
            if let Err(status) = self.batches(&node, &mut inbound, &tx).await {
                self.metrics.stream_errors.fetch_add(1, Ordering::Relaxed);
                info!(%node, %status, "agent stream ended with an error");
            } else {
                info!(%node, "agent stream closed");
            }
        }
        self.store.close_stream(&node, now_ms());
        self.metrics
            .connected_agents
            .fetch_sub(1, Ordering::Relaxed);
    }

    async fn batches(
        &self,
        node: &str,
        inbound: &mut Streaming<AgentMessage>,
        tx: &Tx,
    ) -> Result<(), Status> {
        // Set while waiting for a requested resend: batches before it are ignored.
        let mut pending_resend: Option<u64> = None;
        while let Some(msg) = inbound.next().await {
            let batch = match msg?.msg {
                Some(agent_message::Msg::Batch(b)) => b,
                _ => return Err(Status::invalid_argument("expected a batch")),
            };
            let strict = match pending_resend {
                Some(p) if batch.seq != p => continue,
                Some(_) => {
                    pending_resend = None;
                    false // second attempt: keep what is defined
                }
                None => true,
            };
            let samples = hvscope_proto::unpack_samples(&batch)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            // Applying may wait for the WAL's fdatasync: on the blocking pool, so that the
            // runtime keeps serving other streams and their batches share one sync.
            let store = self.store.clone();
            let name = node.to_owned();
            let (batch, samples, applied) = tokio::task::spawn_blocking(move || {
                let applied = store.apply(&name, &batch, &samples, strict, now_ms());
                (batch, samples, applied)
            })
            .await
            .map_err(|e| Status::internal(format!("applying the batch failed: {e}")))?;
            let reply = match applied {
                Applied::New {
                    samples: n,
                    gap,
                    refused,
                    ..
                } => {
                    let m = &self.metrics;
                    m.batches_received.fetch_add(1, Ordering::Relaxed);
                    m.samples_received.fetch_add(n as u64, Ordering::Relaxed);
                    m.sequence_gaps.fetch_add(gap, Ordering::Relaxed);
                    let limited = refused.samples_over_batch + refused.samples_of_refused;
                    let dropped = (samples.len() - n) as u64 - limited;
                    m.unknown_series_samples
                        .fetch_add(dropped, Ordering::Relaxed);
                    debug!(%node, seq = batch.seq, samples = n, "batch applied");
                    let limited = if refused.is_empty() {
                        String::new()
                    } else {
                        m.limited(&refused);
                        refused.reason(self.store.limits())
                    };
                    aggregator_message::Msg::Ack(Ack {
                        seq: batch.seq,
                        limited,
                    })
                }
                Applied::NotDurable { error } => {
                    // No ack: the agent keeps the batch and sends it again after reconnecting.
                    warn!(%node, seq = batch.seq, %error, "batch not written to the wal; closing the stream");
                    return Err(Status::unavailable(format!("write-ahead log: {error}")));
                }
                Applied::Duplicate => {
                    self.metrics
                        .batches_duplicate
                        .fetch_add(1, Ordering::Relaxed);
                    aggregator_message::Msg::Ack(Ack {
                        seq: batch.seq,
                        limited: String::new(),
                    })
                }
                Applied::UnknownSeries { unknown } => {
                    self.metrics.resend_requests.fetch_add(1, Ordering::Relaxed);
                    warn!(%node, seq = batch.seq, unknown, "samples of undefined series; asking for a resend");
                    pending_resend = Some(batch.seq);
                    aggregator_message::Msg::Resend(Resend {
                        from_seq: batch.seq,
                        reason: format!("{unknown} samples reference undefined series"),
                    })
                }
            };
            if tx.send(out(reply)).await.is_err() {
                return Ok(());
            }
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl Ingest for IngestService {
    type StreamStream = ReceiverStream<Result<AggregatorMessage, Status>>;

    async fn stream(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let peer = request
            .extensions()
            .get::<PeerIdentity>()
            .cloned()
            .ok_or_else(|| Status::unauthenticated("no verified client certificate"))?;
        let (tx, rx) = mpsc::channel(32);
        tokio::spawn(self.clone().session(peer.node, request.into_inner(), tx));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
