//! One aggregator's stream task: connect (TCP, TLS with the node's certificate, HTTP/2), say
//! hello, then send spooled batches in order while reading acks and resend requests. Any error
//! ends the stream; the task backs off and reconnects, and re-sends everything unacknowledged.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hvscope_common::tls::{FilesStamp, TlsError, TlsFiles};
use hvscope_proto::v1::{
    AgentMessage, Batch, Hello, SeriesDef, agent_message, aggregator_message,
    ingest_client::IngestClient,
};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::sync::{mpsc, watch};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::CompressionEncoding;
use tonic::transport::{Endpoint, Uri};
use tracing::{debug, info, warn};

use super::Link;
use super::backoff::Backoff;
use crate::config::{Compression, split_host_port};
use crate::series::Registry;
use crate::series::registry::IdSet;

/// A stream ended; why.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("tls files: {0}")]
    Tls(#[from] TlsError),
    #[error("connect to {addr}: {message}")]
    Connect { addr: String, message: String },
    #[error("stream: {0}")]
    Status(#[from] tonic::Status),
    #[error("aggregator closed the stream")]
    Closed,
    #[error("no answer to hello within {0:?}")]
    HelloTimeout(Duration),
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("batch {seq} unacknowledged after {after:?}: the aggregator or the path to it is gone")]
    AckTimeout { seq: u64, after: Duration },
}

/// Least time between two looks at the TLS files' stamps (renewed certificates are used by
/// the next stream): they are looked at when a batch is sent, once this long has passed.
const ROTATION_CHECK: Duration = Duration::from_secs(5);

/// How a stream ended without error.
enum End {
    Shutdown,
    Rotated,
}

/// Everything a stream task needs besides its link.
#[derive(Clone)]
pub struct StreamParams {
    pub tls: TlsFiles,
    pub server_name: Option<String>,
    pub hello: Hello,
    pub registry: Arc<Mutex<Registry>>,
    pub connect_timeout: Duration,
    pub max_backoff: Duration,
    pub compression: Compression,
    /// How long a sent batch may go unacknowledged before the stream is taken for dead and
    /// made again ([`ACK_TIMEOUT`] in the agent).
    pub ack_timeout: Duration,
}

/// The agent's [`StreamParams::ack_timeout`]. A live aggregator acks a batch within
/// milliseconds, and the agent sends one every interval: a stream whose oldest unacked batch is
/// a minute old is dead (a frozen aggregator, a network path that drops everything), however
/// open its TCP connection looks. This replaces HTTP/2 keep-alive pings, whose timer hyper
/// re-arms after every read and tokio's timer wheel fires level by level on the way to the
/// deadline: two or three wakeups of the agent per 10-s interval, to learn what the acks say.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the stream to `link.addr` until `shutdown` turns true.
pub async fn run(link: Arc<Link>, params: StreamParams, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Backoff::new(Duration::from_millis(500), params.max_backoff);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let result = connect_and_stream(&link, &params, &mut shutdown, &mut backoff).await;
        link.connected.store(false, Ordering::Relaxed);
        match result {
            Ok(End::Shutdown) => return,
            Ok(End::Rotated) => {
                info!(aggregator = %link.addr, "tls files changed, reconnecting with them");
                continue;
            }
            Err(error) => {
                let delay = backoff.next_delay(fastrand::f64());
                warn!(aggregator = %link.addr, %error, retry_in_ms = delay.as_millis() as u64,
                    "stream to aggregator failed");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    }
}

async fn connect(
    link: &Link,
    params: &StreamParams,
) -> Result<(tonic::transport::Channel, FilesStamp), StreamError> {
    let stamp = params.tls.stamp();
    let (client_cfg, info) = params.tls.client_config()?;
    link.cert_not_after.store(info.not_after, Ordering::Relaxed);
    let (host, port) = split_host_port(&link.addr).map_err(|message| StreamError::Connect {
        addr: link.addr.clone(),
        message,
    })?;
    let name = params
        .server_name
        .clone()
        .unwrap_or_else(|| host.to_owned());
    let server_name = ServerName::try_from(name.clone()).map_err(|e| StreamError::Connect {
        addr: link.addr.clone(),
        message: format!("server name {name:?}: {e}"),
    })?;
    let target = (host.to_owned(), port);
    let connector = tokio_rustls::TlsConnector::from(client_cfg);
    let timeout = params.connect_timeout;
    let make = tower::service_fn(move |_: Uri| {
        let connector = connector.clone();
        let server_name = server_name.clone();
        let target = target.clone();
        async move {
            let tcp = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(target))
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "tcp connect"))??;
            tcp.set_nodelay(true)?;
            let tls = tokio::time::timeout(timeout, connector.connect(server_name, tcp))
                .await
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "tls handshake")
                })??;
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    // The scheme is http: TLS is done by the connector above.
    let endpoint = Endpoint::from_shared(format!("http://{}", link.addr))
        .map_err(|e| StreamError::Connect {
            addr: link.addr.clone(),
            message: e.to_string(),
        })?
        .connect_timeout(timeout);
    let channel =
        endpoint
            .connect_with_connector(make)
            .await
            .map_err(|e| StreamError::Connect {
                addr: link.addr.clone(),
                message: error_chain(&e),
            })?;
    Ok((channel, stamp))
}

/// `Display` of an error and its sources, joined with ": ".
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        let m = src.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = src.source();
    }
    s
}

/// Adds the definitions of series in `batch` that this stream has not defined yet (the first
/// batch of a stream carries one for every series; the wire bench builds its batches with it).
pub fn with_defs(batch: &Batch, defined: &mut IdSet, registry: &Mutex<Registry>) -> (Batch, usize) {
    let mut out = batch.clone();
    let registry = registry.lock().unwrap_or_else(|p| p.into_inner());
    let mut id = 0u64;
    let mut missing = 0;
    for &delta in &batch.id_deltas {
        id = id.wrapping_add(delta);
        if defined.insert(id) {
            match registry.labels(id) {
                Some(labels) => out.defs.push(SeriesDef {
                    id,
                    labels: labels
                        .pairs()
                        .map(|(name, value)| hvscope_proto::v1::Label {
                            name: name.to_owned(),
                            value: value.to_owned(),
                        })
                        .collect(),
                }),
                None => missing += 1,
            }
        }
    }
    (out, missing)
}

async fn connect_and_stream(
    link: &Arc<Link>,
    params: &StreamParams,
    shutdown: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> Result<End, StreamError> {
    let (channel, stamp) = connect(link, params).await?;
    // Acks are tiny and sent uncompressed; gzip ones would be read all the same.
    let mut client = IngestClient::new(channel).accept_compressed(CompressionEncoding::Gzip);
    match params.compression {
        Compression::None => {}
        Compression::Gzip => client = client.send_compressed(CompressionEncoding::Gzip),
    }
    let (tx, rx) = mpsc::channel::<AgentMessage>(8);
    let hello = AgentMessage {
        msg: Some(agent_message::Msg::Hello(params.hello.clone())),
    };
    tx.send(hello).await.map_err(|_| StreamError::Closed)?;
    let mut inbound = client.stream(ReceiverStream::new(rx)).await?.into_inner();

    let hello_timeout = params.connect_timeout * 2;
    let first = tokio::time::timeout(hello_timeout, inbound.next())
        .await
        .map_err(|_| StreamError::HelloTimeout(hello_timeout))?
        .ok_or(StreamError::Closed)??;
    let accepted = match first.msg {
        Some(aggregator_message::Msg::Accepted(a)) => a,
        other => {
            return Err(StreamError::Protocol(format!(
                "expected accepted, got {other:?}"
            )));
        }
    };
    if accepted.resume_from_seq > 1 {
        link.spool().ack(accepted.resume_from_seq - 1);
    }
    link.connected.store(true, Ordering::Relaxed);
    link.connects.fetch_add(1, Ordering::Relaxed);
    backoff.reset();
    info!(aggregator = %link.addr, node = %accepted.node, resume_from = accepted.resume_from_seq,
        unacked = link.spool().len(), "stream established");

    let mut cursor = 0u64; // next batch to send has seq >= cursor
    let mut defined = IdSet::default();
    // The TLS files are looked at again when a batch goes out, at most every
    // `ROTATION_CHECK`: no timer of its own wakes the agent for it.
    let mut rotation_checked = tokio::time::Instant::now();
    // The oldest batch sent and not acked yet, and when it went out ([`ACK_TIMEOUT`]). Looked
    // at whenever the loop wakes, which a new batch does every interval: no timer of its own.
    let mut unacked: Option<(u64, Instant)> = None;
    loop {
        if let Some((seq, sent)) = unacked
            && sent.elapsed() >= params.ack_timeout
        {
            return Err(StreamError::AckTimeout {
                seq,
                after: params.ack_timeout,
            });
        }
        let next = link.spool().next_from(cursor);
        tokio::select! {
            permit = tx.reserve(), if next.is_some() => {
                let permit = permit.map_err(|_| StreamError::Closed)?;
                let entry = next.expect("guarded by the select condition");
                if rotation_checked.elapsed() >= ROTATION_CHECK {
                    rotation_checked = tokio::time::Instant::now();
                    if params.tls.stamp() != stamp {
                        return Ok(End::Rotated);
                    }
                }
                let (batch, missing) = with_defs(&entry.batch, &mut defined, &params.registry);
                if missing > 0 {
                    warn!(aggregator = %link.addr, seq = entry.seq(), missing,
                        "series definitions no longer known; samples sent without them");
                }
                cursor = entry.seq() + 1;
                unacked.get_or_insert((entry.seq(), Instant::now()));
                permit.send(AgentMessage { msg: Some(agent_message::Msg::Batch(batch)) });
            }
            // Also while a send waits for room (a stream that stopped moving): each new batch
            // wakes the loop to look at the oldest unacked one.
            _ = link.notify.notified() => {}
            msg = inbound.next() => {
                let msg = msg.ok_or(StreamError::Closed)??;
                match msg.msg {
                    Some(aggregator_message::Msg::Ack(ack)) => {
                        debug!(aggregator = %link.addr, seq = ack.seq, "acked");
                        if !ack.limited.is_empty() {
                            // Logged once per process: the same bug repeats every batch.
                            if link.limited.fetch_add(1, Ordering::Relaxed) == 0 {
                                warn!(aggregator = %link.addr, seq = ack.seq, reason = %ack.limited,
                                    "the aggregator's per-node limits refused part of a batch");
                            } else {
                                debug!(aggregator = %link.addr, seq = ack.seq, reason = %ack.limited,
                                    "limited");
                            }
                        }
                        link.spool().ack(ack.seq);
                        // What is still out counts from now: an ack says the stream moves.
                        unacked = match unacked {
                            Some((seq, _)) if ack.seq >= seq => {
                                (cursor > ack.seq + 1).then(|| (ack.seq + 1, Instant::now()))
                            }
                            other => other,
                        };
                    }
                    Some(aggregator_message::Msg::Resend(r)) => {
                        link.resends.fetch_add(1, Ordering::Relaxed);
                        warn!(aggregator = %link.addr, from = r.from_seq, reason = %r.reason,
                            "aggregator asked for a resend");
                        cursor = r.from_seq;
                        defined.clear();
                        unacked = None;
                    }
                    Some(aggregator_message::Msg::Accepted(_)) | None => {
                        return Err(StreamError::Protocol("unexpected message".into()));
                    }
                }
            }
            _ = shutdown.changed() => return Ok(End::Shutdown),
        }
    }
}
