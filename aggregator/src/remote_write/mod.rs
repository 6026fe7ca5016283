//! Prometheus remote-write 1.0 out of the aggregator, fed from its WAL, to any number of
//! `[[remote_write]]` targets (VictoriaMetrics, Mimir, Thanos Receive, Cortex, Prometheus'
//! receiver) for long-term history.
//!
//! Per target: one feed thread ([`feed`]) follows the WAL and replays it into a shadow node
//! store, which yields exactly the samples the TSDB stored (stale markers included); the
//! samples go by series hash to `shards` tasks ([`queue`]), each sending one request at a time
//! in order ([`codec`], [`client`]), retrying network errors, 5xx and 429 with capped
//! exponential backoff and jitter (honouring `Retry-After`), dropping what a final 4xx refuses
//! (counted, logged with the receiver's message). Progress is a checkpoint on disk
//! ([`checkpoint`]): a restart resumes where the receiver left off, a receiver outage up to
//! the WAL's retention loses nothing, and past it the deleted segments are counted
//! (`hvscope_aggregator_remote_write_wal_segments_missed_total`) and logged.
//!
//! Isolation: a target only reads the WAL files, so a slow or hung receiver never slows
//! ingest, and targets share nothing; each holds at most `capacity` samples (plus one WAL
//! record) and, in its shadow, the labels and newest sample of every series of the WAL.
//!
//! The liveness series (`hvscope_node_up`, `hvscope_node_last_report_timestamp_seconds`,
//! `hvscope_rack_down`), which the aggregator derives every tick, are logged to the WAL as
//! one record of derived samples per tick (replay of the head skips it), so they are sent too.

pub mod checkpoint;
pub mod client;
pub mod codec;
pub mod feed;
pub mod metrics;
pub mod queue;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{mpsc, watch};
use tracing::info;

use crate::config::RemoteWriteConfig;
use crate::nodes::Limits;
pub use client::ClientError;
pub use metrics::TargetMetrics;

/// Starts every target (from inside the runtime); returns their metrics.
pub fn start(
    targets: &[RemoteWriteConfig],
    wal_dir: &Path,
    limits: Limits,
    retention_ms: i64,
    shutdown: watch::Receiver<bool>,
) -> Result<Vec<Arc<TargetMetrics>>, ClientError> {
    let mut out = Vec::with_capacity(targets.len());
    for cfg in targets {
        let name = cfg.name().to_owned();
        let metrics = Arc::new(TargetMetrics::new(&name));
        let n = cfg.queue.shards.max(1);
        let file = checkpoint::CheckpointFile::new(wal_dir, &name);
        let ckpt = file.load(n);
        info!(target = %name, url = %cfg.url, shards = n, checkpoint = %file.path().display(),
            resume_segment = ckpt.start().segment, resume_offset = ckpt.start().offset,
            "remote-write target");
        let progress = Arc::new(queue::Progress::new(file, ckpt.clone()));
        let external: Arc<Vec<(String, String)>> = Arc::new(
            cfg.external_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        let mut senders = Vec::with_capacity(n);
        for index in 0..n {
            let (tx, rx) = mpsc::unbounded_channel();
            senders.push(tx);
            let p = ckpt.shards[index];
            let shard = queue::Shard {
                index,
                queue: cfg.queue.clone(),
                client: client::Client::new(cfg)?,
                external: external.clone(),
                progress: progress.clone(),
                metrics: metrics.clone(),
                rx,
                resend_until: p.inflight.filter(|f| *f > p.acked),
            };
            tokio::spawn(shard.run(shutdown.clone()));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let f = feed::Feed {
            dir: wal_dir.to_path_buf(),
            checkpoint: ckpt,
            shards: senders,
            metrics: metrics.clone(),
            limits,
            capacity: cfg.queue.capacity,
            retention_ms,
            stop: stop.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("rw-{}", out.len()))
            .spawn(move || f.run());
        if let Err(error) = thread {
            tracing::error!(%error, target = %name, "cannot start the remote-write feed");
        }
        let mut sd = shutdown.clone();
        tokio::spawn(async move {
            let _ = sd.wait_for(|v| *v).await;
            stop.store(true, Ordering::Relaxed);
        });
        out.push(metrics);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
