//! A target's WAL feed (one thread per target): it follows the WAL from its oldest segment
//! and replays every record into a **shadow** node store ([`Db::shadow`]), through the same
//! [`NodeStore::replay`] that restores the real head at start. The shadow keeps per series
//! only its labels and newest sample, and yields exactly the samples the real head stored for
//! each record: the agent's values, the `hvscope_finding` series, and every stale marker
//! (missing series, cleared findings, replaced agent instances, nodes declared stale). So
//! remote-write sends what the TSDB got, without a second copy of the samples in memory and
//! without a second implementation of the staleness rules. The shadow applies the store's
//! per-node limits (the WAL holds only the definitions they let through) and forgets
//! long-ended series as the real store does, on the records' clock.
//!
//! Records up to a shard's acknowledged position only build state; later ones go to the
//! shards by a stable hash of the series' labels. Reading pauses while `capacity` samples
//! are pending, so a slow receiver costs disk (the WAL), never memory or ingest.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tracing::warn;

use super::checkpoint::Checkpoint;
use super::metrics::TargetMetrics;
use super::queue::Item;
use crate::labels::Labels;
use crate::nodes::{Limits, NodeStore};
use crate::tsdb::{Db, Tapped};
use crate::wal::reader::{Follower, Next, Position};

/// Shard of a series: FNV-1a over its labels (stable across processes and versions, so a
/// checkpoint's per-shard positions stay valid after a restart).
pub fn shard_of(labels: &Labels, shards: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (n, v) in labels.pairs() {
        for b in n.bytes().chain([0xff]).chain(v.bytes()).chain([0xfe]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    (h % shards.max(1) as u64) as usize
}

/// What the feed needs.
pub struct Feed {
    pub dir: std::path::PathBuf,
    pub checkpoint: Checkpoint,
    pub shards: Vec<UnboundedSender<Item>>,
    pub metrics: Arc<TargetMetrics>,
    pub limits: Limits,
    pub capacity: usize,
    /// The real head's retention: the shadow forgets series as it does (churn stays bounded).
    pub retention_ms: i64,
    pub stop: Arc<AtomicBool>,
}

/// Splits one record's samples by shard, leaving out those of shards already past `end`.
fn split(tapped: Vec<Tapped>, end: Position, acked: &[Position]) -> Vec<Vec<Tapped>> {
    let n = acked.len();
    let mut per: Vec<Vec<Tapped>> = (0..n).map(|_| Vec::new()).collect();
    for s in tapped {
        let i = shard_of(&s.0, n);
        if end > acked[i] {
            per[i].push(s);
        }
    }
    per
}

impl Feed {
    fn mark(&self, acked: &[Position], at: Position) {
        for (i, tx) in self.shards.iter().enumerate() {
            if at > acked[i] {
                let _ = tx.send(Item::Mark(at));
            }
        }
    }

    /// Runs until `stop` is set or every shard is gone.
    pub fn run(self) {
        let mut shadow = NodeStore::with_db(Arc::new(Db::shadow(self.retention_ms)));
        shadow.set_limits(self.limits);
        let acked: Vec<Position> = self.checkpoint.shards.iter().map(|s| s.acked).collect();
        let mut follower = Follower::new(&self.dir, Position::default());
        let mut last_mark = Instant::now();
        let mut last_gc = Instant::now();
        let mut last_forget_ms = i64::MIN;
        let mut marked: Option<Position> = None;
        let mut errors = 0u64;
        let m = &self.metrics;
        let start = self.checkpoint.start();
        if let Ok(all) = crate::wal::reader::segments(&self.dir)
            && start.segment > 0
            && let Some(&oldest) = all.first()
            && oldest > start.segment
        {
            m.wal_segments_missed
                .fetch_add(oldest - start.segment, Ordering::Relaxed);
            warn!(target = %m.target, checkpoint_segment = start.segment, oldest_segment = oldest,
                "the wal no longer holds where this remote-write target stopped (retention or \
                 size): the samples in between are lost to it");
        }
        while !self.stop.load(Ordering::Relaxed) {
            if last_gc.elapsed() >= Duration::from_secs(60) {
                shadow.db().gc(hvscope_common::clock::now_ms());
                last_gc = Instant::now();
            }
            if m.pending_samples.load(Ordering::Relaxed) >= self.capacity as i64 {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            match follower.next_record() {
                Ok(Next::Record(mut rec, end)) => {
                    let t = rec.time_ms();
                    let derived = std::mem::take(&mut rec.derived);
                    shadow.replay(*rec);
                    // The liveness samples, in the shadow's head like the real one's.
                    for d in derived {
                        let pairs: Vec<(&str, &str)> = d
                            .labels
                            .iter()
                            .map(|l| (l.name.as_str(), l.value.as_str()))
                            .collect();
                        let labels = Labels::from_pairs(&pairs);
                        shadow.db().append_labels(&labels, d.timestamp_ms, d.value);
                    }
                    // The real store forgets long-ended series every minute of its clock;
                    // the shadow does it every minute of the records' (so a catch-up from an
                    // old checkpoint forgets what the real store had forgotten by then).
                    if t != i64::MIN && t.saturating_sub(last_forget_ms) >= 60_000 {
                        shadow.forget_ended(t);
                        last_forget_ms = t;
                    }
                    let tapped = shadow.db().take_tapped();
                    if let Some(newest) = tapped.iter().map(|s| s.1).max()
                        && end > self.checkpoint.start()
                    {
                        m.highest_read_ms.fetch_max(newest, Ordering::Relaxed);
                    }
                    let per = split(tapped, end, &acked);
                    // Counted before the shards see them, so their decrement never goes first.
                    let routed: usize = per.iter().map(Vec::len).sum();
                    m.pending_samples
                        .fetch_add(routed as i64, Ordering::Relaxed);
                    for (tx, samples) in self.shards.iter().zip(per) {
                        if !samples.is_empty() {
                            let _ = tx.send(Item::Samples { end, samples });
                        }
                    }
                    if last_mark.elapsed() >= Duration::from_secs(1) {
                        self.mark(&acked, end);
                        marked = Some(end);
                        last_mark = Instant::now();
                    }
                }
                Ok(Next::CaughtUp) => {
                    let at = follower.position();
                    if marked != Some(at) && at != Position::default() {
                        self.mark(&acked, at);
                        marked = Some(at);
                    }
                    if self.shards.iter().all(|s| s.is_closed()) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok(Next::Missed { from, to }) => {
                    let missed = to.saturating_sub(from);
                    m.wal_segments_missed.fetch_add(missed, Ordering::Relaxed);
                    warn!(target = %m.target, from_segment = from, to_segment = to,
                        "wal segments were deleted (retention or size) before this remote-write \
                         target read them: their samples are lost to it");
                }
                Err(error) => {
                    if errors.is_multiple_of(60) {
                        warn!(target = %m.target, %error, "cannot read the wal for remote-write");
                    }
                    errors += 1;
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }
}
