//! One shard of a target: it takes its series' samples from the WAL feed in order, cuts them
//! into requests (at `max_samples_per_send`, or `batch_send_deadline_ms` after the first
//! sample, always at a WAL record boundary), sends one request at a time and retries it with
//! capped exponential backoff and jitter until the receiver stores it or refuses it for good.
//! Its progress (acked, in flight) goes to the target's checkpoint.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use super::checkpoint::{Checkpoint, CheckpointFile};
use super::client::{Client, Outcome};
use super::codec;
use super::metrics::{DropReason, TargetMetrics};
use crate::config::QueueConfig;
use crate::tsdb::Tapped;
use crate::wal::reader::Position;

/// Longest wait a receiver's `Retry-After` can impose.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// A progress change without a request (an idle shard moving on) is stored at most this often.
const MARK_STORE_EVERY: Duration = Duration::from_secs(1);

/// What the feed hands a shard.
#[derive(Debug)]
pub enum Item {
    /// The shard's samples of the WAL records up to `end`.
    Samples { end: Position, samples: Vec<Tapped> },
    /// No samples for this shard up to `end`.
    Mark(Position),
}

impl Item {
    fn end(&self) -> Position {
        match self {
            Item::Samples { end, .. } | Item::Mark(end) => *end,
        }
    }
}

/// A target's checkpoint, shared by its shards.
#[derive(Debug)]
pub struct Progress {
    file: CheckpointFile,
    state: Mutex<(Checkpoint, Instant)>,
}

impl Progress {
    pub fn new(file: CheckpointFile, c: Checkpoint) -> Self {
        Self {
            file,
            state: Mutex::new((c, Instant::now())),
        }
    }

    fn update(&self, shard: usize, acked: Option<Position>, inflight: Option<Position>, now: bool) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let s = &mut st.0.shards[shard];
        if let Some(a) = acked {
            s.acked = s.acked.max(a);
        }
        s.inflight = inflight;
        if now || st.1.elapsed() >= MARK_STORE_EVERY {
            st.1 = Instant::now();
            if let Err(error) = self.file.store(&st.0) {
                warn!(%error, "cannot store the remote-write checkpoint");
            }
        }
    }

    /// The stored state (for tests and the final flush).
    pub fn snapshot(&self) -> Checkpoint {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }
}

/// Delay before retry `attempt` (0-based): `min * 2^attempt` capped at `max`, the upper half
/// of it jittered, at least the receiver's `Retry-After`.
pub fn backoff(q: &QueueConfig, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let cap = q.max_backoff_ms.max(1);
    let d = q
        .min_backoff_ms
        .max(1)
        .saturating_mul(1u64 << attempt.min(30))
        .min(cap);
    let jittered = d / 2 + fastrand::u64(0..=d / 2);
    let mut wait = Duration::from_millis(jittered);
    if let Some(after) = retry_after {
        wait = wait.max(after.min(MAX_RETRY_AFTER));
    }
    wait
}

/// One shard's task.
pub struct Shard {
    pub index: usize,
    pub queue: QueueConfig,
    pub client: Client,
    pub external: Arc<Vec<(String, String)>>,
    pub progress: Arc<Progress>,
    pub metrics: Arc<TargetMetrics>,
    pub rx: mpsc::UnboundedReceiver<Item>,
    /// The request in flight when the previous process stopped: sent again first, exactly.
    pub resend_until: Option<Position>,
}

impl Shard {
    /// Runs until the feed ends or `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut buf: Vec<Tapped> = Vec::new();
        let mut covered: Option<Position> = None;
        let mut first_at: Option<tokio::time::Instant> = None;
        let deadline = Duration::from_millis(self.queue.batch_send_deadline_ms.max(1));
        let mut stop = shutdown.clone();
        loop {
            let due = first_at.map(|t| t + deadline);
            tokio::select! {
                _ = async { let _ = stop.wait_for(|v| *v).await; } => return,
                _ = async { tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)).await },
                    if due.is_some() && self.resend_until.is_none() => {
                    if !self.flush(&mut buf, covered, false, &mut shutdown).await { return; }
                    first_at = None;
                }
                item = self.rx.recv() => {
                    let Some(item) = item else { return };
                    let end = item.end();
                    if let Some(r) = self.resend_until {
                        let is_mark = matches!(item, Item::Mark(_));
                        if end > r || (is_mark && end >= r) {
                            if !buf.is_empty()
                                && !self.flush(&mut buf, covered, true, &mut shutdown).await
                            {
                                return;
                            }
                            first_at = None;
                            self.resend_until = None;
                        }
                    }
                    match item {
                        Item::Samples { end, mut samples } => {
                            if buf.is_empty() {
                                first_at = Some(tokio::time::Instant::now());
                            }
                            buf.append(&mut samples);
                            covered = Some(end);
                        }
                        Item::Mark(end) => {
                            covered = Some(end);
                            if buf.is_empty() {
                                self.progress.update(self.index, Some(end), None, false);
                            }
                        }
                    }
                    // The request in flight before the restart is complete at its end.
                    if self.resend_until == Some(end) && !buf.is_empty() {
                        if !self.flush(&mut buf, covered, true, &mut shutdown).await {
                            return;
                        }
                        first_at = None;
                        self.resend_until = None;
                    }
                    if self.resend_until.is_none() && buf.len() >= self.queue.max_samples_per_send {
                        if !self.flush(&mut buf, covered, false, &mut shutdown).await { return; }
                        first_at = None;
                    }
                }
            }
        }
    }

    /// Sends `buf` as one request until it is answered for good; false when shutdown came
    /// first (the request stays in flight in the checkpoint: sent again after the restart).
    async fn flush(
        &mut self,
        buf: &mut Vec<Tapped>,
        covered: Option<Position>,
        resend: bool,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let Some(upto) = covered else {
            return true;
        };
        if buf.is_empty() {
            self.progress.update(self.index, Some(upto), None, false);
            return true;
        }
        let samples = std::mem::take(buf);
        let n = samples.len() as u64;
        let newest = samples.iter().map(|s| s.1).max().unwrap_or(i64::MIN);
        self.progress.update(self.index, None, Some(upto), true);
        let body = Bytes::from(codec::body(&codec::request(&samples, &self.external)));
        drop(samples);
        let m = &self.metrics;
        let mut attempt = 0u32;
        loop {
            match self.client.send(body.clone()).await {
                Outcome::Stored => {
                    m.samples_sent.fetch_add(n, Ordering::Relaxed);
                    m.requests_sent.fetch_add(1, Ordering::Relaxed);
                    m.highest_sent_ms.fetch_max(newest, Ordering::Relaxed);
                    break;
                }
                Outcome::Retry {
                    status,
                    after,
                    message,
                } => {
                    m.samples_failed.fetch_add(n, Ordering::Relaxed);
                    let wait = backoff(&self.queue, attempt, after);
                    if attempt.is_multiple_of(10) {
                        warn!(target = %m.target, shard = self.index, status = status.unwrap_or(0),
                            %message, samples = n, attempt, retry_in_ms = wait.as_millis() as u64,
                            "remote-write failed; retrying");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = async { let _ = shutdown.wait_for(|v| *v).await; } => return false,
                    }
                    m.samples_retried.fetch_add(n, Ordering::Relaxed);
                    attempt = attempt.saturating_add(1);
                }
                Outcome::Refused { status, message } => {
                    if resend {
                        info!(target = %m.target, shard = self.index, status, %message, samples = n,
                            "the request in flight before the restart was refused: the receiver already had it");
                        m.drop_samples(DropReason::DuplicateAfterRestart, n);
                    } else {
                        warn!(target = %m.target, shard = self.index, status, %message, samples = n,
                            "receiver refused the request; dropped");
                        m.drop_samples(DropReason::Refused, n);
                    }
                    break;
                }
            }
        }
        m.pending_samples.fetch_sub(n as i64, Ordering::Relaxed);
        self.progress.update(self.index, Some(upto), None, true);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_jittered_and_honours_retry_after() {
        let q = QueueConfig {
            min_backoff_ms: 100,
            max_backoff_ms: 1000,
            ..Default::default()
        };
        for _ in 0..100 {
            let first = backoff(&q, 0, None);
            assert!(
                (50..=100).contains(&(first.as_millis() as u64)),
                "{first:?}"
            );
            let late = backoff(&q, 20, None);
            assert!(
                (500..=1000).contains(&(late.as_millis() as u64)),
                "{late:?}"
            );
        }
        assert_eq!(
            backoff(&q, 0, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            backoff(&q, 0, Some(Duration::from_secs(7200))),
            MAX_RETRY_AFTER
        );
    }
}
