//! The aggregator's time-series storage: a head of Prometheus-compatible XOR chunks per series
//! ([`xor`], [`series`]), the full ones in unnamed chunk files when a directory is given
//! ([`disk`]), an inverted label index ([`index`]) queried with Prometheus matchers
//! ([`crate::labels`]), and time-based retention. Readers get stored chunk bytes as they are, so
//! remote-read can stream them without re-encoding.
//!
//! Locking: one `RwLock` over the index (taken for writing only when a series is created or
//! removed) and one `Mutex` per series. Writers hold [`SeriesHandle`]s and append without the
//! index lock.

pub mod bits;
pub mod disk;
pub mod index;
pub mod series;
pub mod xor;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use tracing::debug;

pub use disk::ChunkFiles;
pub use index::SeriesRef;
pub use series::{Appended, ChunkRef, ClosedChunk, MemSeries};

use crate::labels::{Labels, Matcher};
use index::Index;

/// Default retention: 24 hours.
pub const DEFAULT_RETENTION_MS: i64 = 24 * 3600 * 1000;

/// A writer's handle on one series.
pub type SeriesHandle = Arc<Mutex<MemSeries>>;

fn lock(s: &Mutex<MemSeries>) -> MutexGuard<'_, MemSeries> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug, Default)]
struct Inner {
    next_ref: SeriesRef,
    series: HashMap<SeriesRef, SeriesHandle>,
    by_labels: HashMap<Labels, SeriesRef>,
    index: Index,
}

/// Counters kept on the write path.
#[derive(Debug, Default)]
struct Counters {
    samples: AtomicU64,
    chunk_bytes: AtomicU64,
    /// Of `chunk_bytes`, those in chunk files, in how many chunks.
    disk_bytes: AtomicU64,
    disk_chunks: AtomicU64,
    overhead_bytes: AtomicU64,
    out_of_order: AtomicU64,
    appended_total: AtomicU64,
}

/// Storage figures (exported as self-metrics).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DbStats {
    pub series: u64,
    pub samples: u64,
    /// Bytes of XOR chunk data (closed and open chunks, in memory or in chunk files).
    pub chunk_bytes: u64,
    /// Of those, bytes in chunk files; how many files are open, chunks kept in memory because
    /// a write failed.
    pub chunk_disk_bytes: u64,
    pub chunk_files: u64,
    pub chunk_write_errors_total: u64,
    /// Estimated bytes per series outside chunks: labels, index postings, structures.
    pub overhead_bytes: u64,
    pub label_pairs: u64,
    pub out_of_order_total: u64,
    pub appended_total: u64,
    /// The memory bound (0: none), samples dropped under it, how far back the head reaches.
    pub max_bytes: u64,
    pub evicted_samples_total: u64,
    pub kept_ms: i64,
}

/// A selected series with its chunks in `[mint, maxt]`.
#[derive(Debug, Clone)]
pub struct Selected {
    pub labels: Labels,
    pub chunks: Vec<ChunkRef>,
}

/// A sample as appended: its series' labels, time (ms), value.
pub type Tapped = (Labels, i64, f64);

/// The head.
#[derive(Debug)]
pub struct Db {
    retention_ms: i64,
    /// Bound on the head's accounted memory (chunk bytes and per-series overhead); 0: none.
    max_bytes: u64,
    inner: RwLock<Inner>,
    counters: Counters,
    /// Samples dropped before their retention to stay under `max_bytes`.
    evicted_samples: AtomicU64,
    /// Age of the oldest data kept after the last gc (ms); the retention unless memory-bound.
    kept_ms: std::sync::atomic::AtomicI64,
    /// A shadow head ([`Db::shadow`]): every stored sample is also collected here.
    tap: Option<Mutex<Vec<Tapped>>>,
    /// Where closed chunks go ([`Db::with_chunk_files`]); none: they stay in memory.
    files: Option<ChunkFiles>,
    /// Bound on the chunk bytes in `files`; 0: none beyond the retention.
    max_disk_bytes: u64,
    /// Chunk write errors already logged.
    write_errors_logged: AtomicU64,
}

/// Heap bytes per chunk held on disk (its place in the series' chunk list).
const DISK_CHUNK_REF_BYTES: u64 = std::mem::size_of::<ClosedChunk>() as u64;

/// The newest data a memory bound may drop: the last 10 minutes are always kept.
pub const MIN_KEPT_MS: i64 = 10 * 60 * 1000;

impl Default for Db {
    fn default() -> Self {
        Self::new(DEFAULT_RETENTION_MS)
    }
}

fn overhead_of(labels: &Labels) -> u64 {
    // The packed pairs and their allocation; the series struct, map entries (by ref, by
    // labels), postings slots.
    (labels.packed_len() + 32 + std::mem::size_of::<MemSeries>() + 96 + labels.len() * 8) as u64
}

impl Db {
    /// A head keeping `retention_ms` of data.
    pub fn new(retention_ms: i64) -> Self {
        Self::with_memory_bound(retention_ms, 0)
    }

    /// A head keeping `retention_ms` of data, or less when its accounted memory (chunks and
    /// series overhead) would pass `max_bytes` (0: no bound): then gc drops the oldest data
    /// first, down to the last [`MIN_KEPT_MS`], and counts what it dropped.
    pub fn with_memory_bound(retention_ms: i64, max_bytes: u64) -> Self {
        Self {
            retention_ms,
            max_bytes,
            inner: RwLock::default(),
            counters: Counters::default(),
            evicted_samples: AtomicU64::new(0),
            kept_ms: std::sync::atomic::AtomicI64::new(retention_ms),
            tap: None,
            files: None,
            max_disk_bytes: 0,
            write_errors_logged: AtomicU64::new(0),
        }
    }

    /// Closed chunks go to `files` instead of staying in memory (as Prometheus' head keeps
    /// full chunks in `chunks_head/`): the heap keeps only where each is. Beyond
    /// `max_disk_bytes` of chunks in them (0: no bound but the retention), gc drops the oldest
    /// data first, as under the memory bound.
    pub fn with_chunk_files(self, files: ChunkFiles, max_disk_bytes: u64) -> Self {
        Self {
            files: Some(files),
            max_disk_bytes,
            ..self
        }
    }

    /// Which bound the head is over, if any.
    fn over_bound(&self) -> Option<&'static str> {
        if self.max_bytes > 0 && self.accounted_bytes() > self.max_bytes {
            return Some("memory");
        }
        let disk = self.counters.disk_bytes.load(Ordering::Relaxed);
        (self.max_disk_bytes > 0 && disk > self.max_disk_bytes).then_some("chunk files")
    }

    /// A shadow head: its series keep only their newest sample (so appends are ordered and
    /// deduplicated exactly as in a real head), and every sample stored is collected for
    /// [`Db::take_tapped`]. Remote-write replays the WAL into one of these per target to get
    /// exactly the samples the real head got, stale markers included.
    /// Its retention is the real head's, so [`Db::gc`] forgets the same series.
    pub fn shadow(retention_ms: i64) -> Self {
        Self {
            tap: Some(Mutex::new(Vec::new())),
            ..Self::new(retention_ms)
        }
    }

    /// The samples stored since the last call, in append order (empty unless a shadow).
    pub fn take_tapped(&self) -> Vec<Tapped> {
        match &self.tap {
            Some(t) => std::mem::take(&mut *t.lock().unwrap_or_else(|p| p.into_inner())),
            None => Vec::new(),
        }
    }

    /// Samples dropped early under the memory bound, since start.
    pub fn evicted_samples(&self) -> u64 {
        self.evicted_samples.load(Ordering::Relaxed)
    }

    /// How far back the head reaches after the last gc (ms).
    pub fn kept_ms(&self) -> i64 {
        self.kept_ms.load(Ordering::Relaxed)
    }

    /// What the memory bound counts: chunk bytes in memory, where each disk chunk is, and the
    /// per-series overhead.
    fn accounted_bytes(&self) -> u64 {
        let c = &self.counters;
        c.chunk_bytes
            .load(Ordering::Relaxed)
            .saturating_sub(c.disk_bytes.load(Ordering::Relaxed))
            + c.disk_chunks.load(Ordering::Relaxed) * DISK_CHUNK_REF_BYTES
            + c.overhead_bytes.load(Ordering::Relaxed)
    }

    pub fn retention_ms(&self) -> i64 {
        self.retention_ms
    }

    /// The series with exactly `labels` (sorted), created when new.
    pub fn series(&self, labels: &Labels) -> SeriesHandle {
        {
            let r = self.inner.read().unwrap_or_else(|p| p.into_inner());
            if let Some(h) = r.by_labels.get(labels).and_then(|id| r.series.get(id)) {
                return h.clone();
            }
        }
        let mut w = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = w.by_labels.get(labels).and_then(|id| w.series.get(id)) {
            return h.clone();
        }
        w.next_ref += 1;
        let id = w.next_ref;
        let series = if self.tap.is_some() {
            MemSeries::latest_only(labels.clone())
        } else {
            MemSeries::new(labels.clone())
        };
        let h = Arc::new(Mutex::new(series));
        w.series.insert(id, h.clone());
        w.by_labels.insert(labels.clone(), id);
        // A shadow is never queried: no postings.
        if self.tap.is_none() {
            w.index.add(id, labels);
        }
        self.counters
            .overhead_bytes
            .fetch_add(overhead_of(labels), Ordering::Relaxed);
        h
    }

    /// Appends one sample through `handle`; re-registers the series if retention removed it.
    /// Use [`Db::appender`] for many samples.
    pub fn append(&self, handle: &mut SeriesHandle, t: i64, v: f64) -> Appended {
        self.appender().append(handle, t, v)
    }

    /// An appender for one batch: the shared counters are updated once, when it is dropped.
    pub fn appender(&self) -> BatchAppender<'_> {
        BatchAppender {
            db: self,
            samples: 0,
            bytes: 0,
            to_disk: 0,
            disk_chunks: 0,
            out_of_order: 0,
            tapped: Vec::new(),
        }
    }

    /// Appends to the series with `labels` (looked up each time: use handles on hot paths).
    pub fn append_labels(&self, labels: &Labels, t: i64, v: f64) -> Appended {
        let mut h = self.series(labels);
        self.append(&mut h, t, v)
    }

    /// Series matching every matcher, sorted by labels, with their chunks in `[mint, maxt]`;
    /// series without such chunks are left out. Fails only when a chunk file cannot be read.
    pub fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> std::io::Result<Vec<Selected>> {
        let handles: Vec<SeriesHandle> = {
            let r = self.inner.read().unwrap_or_else(|p| p.into_inner());
            r.index
                .select(matchers)
                .iter()
                .filter_map(|id| r.series.get(id).cloned())
                .collect()
        };
        let mut out = Vec::new();
        for h in &handles {
            // Disk chunks are read after the series lock is released.
            let (labels, taken) = {
                let s = lock(h);
                let taken = s.overlapping(mint, maxt);
                if taken.is_empty() {
                    continue;
                }
                (s.labels.clone(), taken)
            };
            out.push(Selected {
                labels,
                chunks: taken.load()?,
            });
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    /// Drops data older than the retention before `now_ms` and, while over the memory bound
    /// or the chunk files' bound, the oldest eighth of what is left (down to [`MIN_KEPT_MS`]);
    /// series left empty leave the index. Returns the number of series removed.
    pub fn gc(&self, now_ms: i64) -> usize {
        let mut cutoff = now_ms.saturating_sub(self.retention_ms);
        let mut removed = self.gc_before(cutoff);
        let floor = now_ms.saturating_sub(MIN_KEPT_MS);
        while let Some(bound) = self.over_bound()
            && cutoff < floor
        {
            cutoff = (cutoff + (now_ms - cutoff) / 8).min(floor);
            let before = self.counters.samples.load(Ordering::Relaxed);
            removed += self.gc_before(cutoff);
            let after = self.counters.samples.load(Ordering::Relaxed);
            self.evicted_samples
                .fetch_add(before.saturating_sub(after), Ordering::Relaxed);
            tracing::warn!(
                bound,
                max_bytes = self.max_bytes,
                max_disk_bytes = self.max_disk_bytes,
                kept_secs = (now_ms - cutoff) / 1000,
                "tsdb over a bound: dropped the oldest samples before their retention"
            );
        }
        self.kept_ms.store(now_ms - cutoff, Ordering::Relaxed);
        if let Some(f) = &self.files {
            let (errors, logged) = (
                f.write_errors(),
                self.write_errors_logged.load(Ordering::Relaxed),
            );
            if errors > logged {
                self.write_errors_logged.store(errors, Ordering::Relaxed);
                tracing::warn!(
                    new = errors - logged,
                    total = errors,
                    "closed chunks kept on the heap: writing them to the chunk files failed (disk full?)"
                );
            }
        }
        removed
    }

    fn gc_before(&self, cutoff: i64) -> usize {
        let handles: Vec<(SeriesRef, SeriesHandle)> = {
            let r = self.inner.read().unwrap_or_else(|p| p.into_inner());
            r.series.iter().map(|(k, v)| (*k, v.clone())).collect()
        };
        let mut empty = Vec::new();
        for (id, h) in handles {
            let mut s = lock(&h);
            let freed = s.truncate_before(cutoff);
            if freed != series::Freed::default() {
                let c = &self.counters;
                c.samples.fetch_sub(freed.samples, Ordering::Relaxed);
                c.chunk_bytes
                    .fetch_sub(freed.bytes as u64, Ordering::Relaxed);
                c.disk_bytes
                    .fetch_sub(freed.disk_bytes as u64, Ordering::Relaxed);
                c.disk_chunks
                    .fetch_sub(freed.disk_chunks, Ordering::Relaxed);
            }
            if s.max_time().is_none() {
                empty.push(id);
            }
        }
        if empty.is_empty() {
            return 0;
        }
        let mut w = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let mut removed = 0;
        for id in empty {
            let Some(h) = w.series.get(&id).cloned() else {
                continue;
            };
            let mut s = lock(&h);
            // An append may have raced in since the scan.
            if s.max_time().is_some() {
                continue;
            }
            s.removed = true;
            let labels = s.labels.clone();
            drop(s);
            w.series.remove(&id);
            w.by_labels.remove(&labels);
            if self.tap.is_none() {
                w.index.remove(id, &labels);
            }
            self.counters
                .overhead_bytes
                .fetch_sub(overhead_of(&labels), Ordering::Relaxed);
            removed += 1;
        }
        debug!(
            removed,
            cutoff_ms = cutoff,
            "retention removed empty series"
        );
        removed
    }

    /// Current figures.
    pub fn stats(&self) -> DbStats {
        let (series, label_pairs) = {
            let r = self.inner.read().unwrap_or_else(|p| p.into_inner());
            (r.series.len() as u64, r.index.pairs() as u64)
        };
        let c = &self.counters;
        DbStats {
            series,
            samples: c.samples.load(Ordering::Relaxed),
            chunk_bytes: c.chunk_bytes.load(Ordering::Relaxed),
            chunk_disk_bytes: c.disk_bytes.load(Ordering::Relaxed),
            chunk_files: self.files.as_ref().map_or(0, ChunkFiles::files),
            chunk_write_errors_total: self.files.as_ref().map_or(0, ChunkFiles::write_errors),
            overhead_bytes: c.overhead_bytes.load(Ordering::Relaxed),
            label_pairs,
            out_of_order_total: c.out_of_order.load(Ordering::Relaxed),
            appended_total: c.appended_total.load(Ordering::Relaxed),
            max_bytes: self.max_bytes,
            evicted_samples_total: self.evicted_samples(),
            kept_ms: self.kept_ms(),
        }
    }
}

/// Appends the samples of one batch; the [`Db`]'s shared counters are updated once, on drop,
/// instead of three atomic updates per sample.
#[derive(Debug)]
pub struct BatchAppender<'a> {
    db: &'a Db,
    samples: u64,
    bytes: u64,
    to_disk: u64,
    disk_chunks: u64,
    out_of_order: u64,
    /// Samples stored, for a shadow head's tap.
    tapped: Vec<Tapped>,
}

impl BatchAppender<'_> {
    /// Appends one sample through `handle`; re-registers the series if retention removed it.
    pub fn append(&mut self, handle: &mut SeriesHandle, t: i64, v: f64) -> Appended {
        let mut s = lock(handle);
        if s.removed {
            let labels = s.labels.clone();
            drop(s);
            *handle = self.db.series(&labels);
            s = lock(handle);
        }
        let r = s.append(t, v, self.db.files.as_ref());
        if self.db.tap.is_some() && matches!(r, Appended::Stored { .. }) {
            self.tapped.push((s.labels.clone(), t, v));
        }
        drop(s);
        match r {
            Appended::Stored { bytes, to_disk } => {
                self.samples += 1;
                self.bytes += bytes as u64;
                self.to_disk += to_disk as u64;
                self.disk_chunks += u64::from(to_disk > 0);
            }
            Appended::OutOfOrder => self.out_of_order += 1,
        }
        r
    }

    /// Appends only when `t` is after the series' newest sample (a stale marker after a sample
    /// that may have come at the same time); true when stored.
    pub fn append_if_newer(&mut self, handle: &mut SeriesHandle, t: i64, v: f64) -> bool {
        if lock(handle).max_time().is_some_and(|m| t <= m) {
            return false;
        }
        matches!(self.append(handle, t, v), Appended::Stored { .. })
    }
}

impl Drop for BatchAppender<'_> {
    fn drop(&mut self) {
        if let Some(tap) = &self.db.tap
            && !self.tapped.is_empty()
        {
            tap.lock()
                .unwrap_or_else(|p| p.into_inner())
                .append(&mut self.tapped);
        }
        let c = &self.db.counters;
        if self.samples > 0 {
            c.samples.fetch_add(self.samples, Ordering::Relaxed);
            c.appended_total.fetch_add(self.samples, Ordering::Relaxed);
            c.chunk_bytes.fetch_add(self.bytes, Ordering::Relaxed);
        }
        if self.to_disk > 0 {
            c.disk_bytes.fetch_add(self.to_disk, Ordering::Relaxed);
            c.disk_chunks.fetch_add(self.disk_chunks, Ordering::Relaxed);
        }
        if self.out_of_order > 0 {
            c.out_of_order
                .fetch_add(self.out_of_order, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod bound_tests {
    use super::*;

    /// 50 series of 6 h at 10 s before `now`, values that do not compress away.
    fn fill_6h(db: &Db, now: i64) {
        for s in 0..50 {
            let labels = Labels::from_pairs(&[("__name__".to_owned(), format!("m{s}"))]);
            let mut h = db.series(&labels);
            for i in 0..2160i64 {
                db.append(
                    &mut h,
                    now - 6 * 3_600_000 + i * 10_000,
                    (i * 7919 % 1013) as f64,
                );
            }
        }
    }

    #[test]
    fn over_its_memory_bound_the_head_drops_its_oldest_samples_first() {
        let now = 100 * 3_600_000;
        let fill = |db: &Db| fill_6h(db, now);
        let free = Db::with_memory_bound(24 * 3_600_000, 0);
        fill(&free);
        free.gc(now);
        let all = free.stats();
        assert_eq!(all.evicted_samples_total, 0);
        let bound = (all.chunk_bytes + all.overhead_bytes) / 2;
        let db = Db::with_memory_bound(24 * 3_600_000, bound);
        fill(&db);
        db.gc(now);
        let st = db.stats();
        assert!(st.chunk_bytes + st.overhead_bytes <= bound, "{st:?}");
        assert!(
            st.evicted_samples_total > 0 && st.samples + st.evicted_samples_total == all.samples
        );
        assert!(
            st.kept_ms < 6 * 3_600_000 && st.kept_ms >= MIN_KEPT_MS,
            "{st:?}"
        );
        // What is left is the newest data.
        let m = Matcher::new(crate::labels::MatchKind::Equal, "__name__", "m0").unwrap();
        let sel = db.select(&[m], 0, i64::MAX).unwrap();
        let first = sel[0].chunks[0].min_time_ms;
        assert!(
            first >= now - st.kept_ms - 1_200_000,
            "oldest kept sample {first}"
        );
        // A bound below the last 10 minutes' data keeps those anyway.
        let tiny = Db::with_memory_bound(24 * 3_600_000, 1);
        fill(&tiny);
        tiny.gc(now);
        assert_eq!(tiny.stats().kept_ms, MIN_KEPT_MS);
        assert!(tiny.stats().samples > 0);
    }

    #[test]
    fn over_its_chunk_files_bound_the_head_drops_its_oldest_samples_first() {
        let now = 100 * 3_600_000;
        let dir = disk::test_dir("bound");
        let fill = |bound: u64| {
            let db = Db::with_memory_bound(24 * 3_600_000, 0)
                .with_chunk_files(ChunkFiles::open(&dir.0).unwrap(), bound);
            fill_6h(&db, now);
            db.gc(now);
            db
        };
        let all = fill(0).stats();
        assert_eq!(all.evicted_samples_total, 0);
        assert!(all.chunk_disk_bytes > 0);
        let bound = all.chunk_disk_bytes / 3;
        let st = fill(bound).stats();
        assert!(st.chunk_disk_bytes <= bound, "{st:?}");
        assert!(
            st.evicted_samples_total > 0 && st.samples + st.evicted_samples_total == all.samples
        );
        assert!(
            st.kept_ms < 6 * 3_600_000 && st.kept_ms >= MIN_KEPT_MS,
            "{st:?}"
        );
    }
}
