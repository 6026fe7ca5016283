//! The write-ahead log on the aggregator's disk. Every batch that ingest applies is first
//! written here; the agent's ack goes out only after the write returned (and, with
//! `wal_fsync = true`, after `fdatasync`: the batch survives a power loss, not only a crash of
//! the process). On start, [`Wal::open`] replays every segment in order, truncating a torn
//! tail with a warning, and then writes to a fresh segment.
//!
//! Segments are cut at `wal_segment_bytes`; every segment is self-contained (records carry the
//! series definitions their segment has not seen yet), so whole segments are deleted once
//! their newest sample is older than the retention, or oldest-first once the WAL exceeds
//! `wal_max_bytes`. That bounds both disk use and replay time.
//!
//! **Group commit.** Records are written under the WAL lock, but `fdatasync` runs outside it:
//! the first writer that needs its bytes synced becomes the syncer and syncs everything
//! written so far, while later writers append and wait for the next sync, which then covers
//! all of them. Many agents' batches arriving together cost one sync, not one each, and no
//! writer holds the lock during a sync.

pub mod reader;
pub mod record;

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use tracing::{info, warn};

pub use record::{DerivedSample, WalRecord};

/// WAL settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalOptions {
    pub dir: PathBuf,
    /// `fdatasync` after each record, before the ack.
    pub fsync: bool,
    /// Segment size at which a new segment is started.
    pub segment_bytes: u64,
    /// Total size beyond which the oldest segments are deleted.
    pub max_bytes: u64,
}

/// A WAL operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("wal {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WalError + '_ {
    move |source| WalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    number: u64,
    bytes: u64,
    /// Newest batch timestamp in it (ms).
    max_ts: i64,
}

#[derive(Debug)]
struct State {
    /// The current segment (shared with a syncer working outside the lock).
    file: Arc<File>,
    current: Segment,
    closed: VecDeque<Segment>,
    /// Bytes written since open, all segments.
    written: u64,
    /// Of those, bytes known to be on stable storage.
    synced: u64,
    /// A writer is syncing outside the lock.
    syncing: bool,
    /// Syncs done (one per group).
    syncs: u64,
}

/// What replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    pub segments: usize,
    pub records: usize,
    pub bytes: u64,
    pub torn_tails: usize,
    pub millis: u128,
}

/// The open WAL.
#[derive(Debug)]
pub struct Wal {
    opts: WalOptions,
    state: Mutex<State>,
    /// Signalled after each sync.
    synced: Condvar,
}

pub(crate) fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:020}.wal"))
}

fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

fn create_segment(dir: &Path, n: u64) -> Result<File, WalError> {
    let p = segment_path(dir, n);
    let f = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&p)
        .map_err(io(&p))?;
    sync_dir(dir)?;
    Ok(f)
}

impl Wal {
    /// Opens `opts.dir` (created if missing), hands every stored record to `replay` in order,
    /// and starts a new segment.
    pub fn open(
        opts: WalOptions,
        mut replay: impl FnMut(WalRecord),
    ) -> Result<(Self, ReplayStats), WalError> {
        let start = Instant::now();
        std::fs::create_dir_all(&opts.dir).map_err(io(&opts.dir))?;
        let mut numbers: Vec<u64> = std::fs::read_dir(&opts.dir)
            .map_err(io(&opts.dir))?
            .filter_map(|e| {
                let name = e.ok()?.file_name();
                name.to_str()?.strip_suffix(".wal")?.parse().ok()
            })
            .collect();
        numbers.sort_unstable();
        let mut stats = ReplayStats::default();
        let mut closed = VecDeque::new();
        for &n in &numbers {
            let p = segment_path(&opts.dir, n);
            let buf = std::fs::read(&p).map_err(io(&p))?;
            let (records, good, torn) = record::decode_all(&buf);
            if let Some(why) = torn {
                warn!(path = %p.display(), %why, kept_bytes = good, dropped_bytes = buf.len() - good,
                    "wal segment has a torn tail; truncating it");
                let f = OpenOptions::new().write(true).open(&p).map_err(io(&p))?;
                f.set_len(good as u64).map_err(io(&p))?;
                f.sync_all().map_err(io(&p))?;
                stats.torn_tails += 1;
            }
            let mut seg = Segment {
                number: n,
                bytes: good as u64,
                max_ts: i64::MIN,
            };
            for r in records {
                seg.max_ts = seg.max_ts.max(r.time_ms());
                stats.records += 1;
                replay(r);
            }
            stats.bytes += seg.bytes;
            stats.segments += 1;
            closed.push_back(seg);
        }
        let next = numbers.last().map_or(1, |n| n + 1);
        let file = create_segment(&opts.dir, next)?;
        stats.millis = start.elapsed().as_millis();
        info!(dir = %opts.dir.display(), segments = stats.segments, records = stats.records,
            bytes = stats.bytes, torn_tails = stats.torn_tails, millis = stats.millis as u64,
            "wal replayed");
        let wal = Self {
            opts,
            state: Mutex::new(State {
                file: Arc::new(file),
                current: Segment {
                    number: next,
                    bytes: 0,
                    max_ts: i64::MIN,
                },
                closed,
                written: 0,
                synced: 0,
                syncing: false,
                syncs: 0,
            }),
            synced: Condvar::new(),
        };
        wal.enforce_max_bytes(&mut wal.lock());
        Ok((wal, stats))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes one record built by `build(segment number)` (under the WAL lock, so the builder
    /// knows which segment the record lands in); returns once it is written (and synced, by
    /// this writer or by one whose sync covered it).
    pub fn append(&self, build: impl FnOnce(u64) -> WalRecord) -> Result<(), WalError> {
        let mut st = self.lock();
        let rec = build(st.current.number);
        let ts = rec.time_ms();
        let mut buf = Vec::new();
        record::encode(&rec, &mut buf);
        let path = segment_path(&self.opts.dir, st.current.number);
        (&*st.file).write_all(&buf).map_err(io(&path))?;
        st.written += buf.len() as u64;
        let mine = st.written;
        st.current.bytes += buf.len() as u64;
        st.current.max_ts = st.current.max_ts.max(ts);
        if st.current.bytes >= self.opts.segment_bytes {
            if self.opts.fsync {
                // Everything written so far is in this segment or an earlier, synced one.
                st.file.sync_data().map_err(io(&path))?;
                st.synced = st.written;
                st.syncs += 1;
                self.synced.notify_all();
            }
            let next = st.current.number + 1;
            st.file = Arc::new(create_segment(&self.opts.dir, next)?);
            let done = std::mem::replace(
                &mut st.current,
                Segment {
                    number: next,
                    bytes: 0,
                    max_ts: i64::MIN,
                },
            );
            st.closed.push_back(done);
            self.enforce_max_bytes(&mut st);
        }
        if !self.opts.fsync {
            return Ok(());
        }
        while st.synced < mine {
            if st.syncing {
                st = self.synced.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            // Sync everything written so far, outside the lock.
            st.syncing = true;
            let (file, upto) = (st.file.clone(), st.written);
            drop(st);
            let r = file.sync_data();
            st = self.lock();
            st.syncing = false;
            if r.is_ok() {
                st.synced = st.synced.max(upto);
                st.syncs += 1;
            }
            self.synced.notify_all();
            r.map_err(io(&path))?;
        }
        Ok(())
    }

    /// Syncs done since open (with group commit, fewer than synced appends).
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    fn remove_front(&self, st: &mut State, why: &str) {
        if let Some(seg) = st.closed.pop_front() {
            let p = segment_path(&self.opts.dir, seg.number);
            if let Err(error) = std::fs::remove_file(&p) {
                warn!(%error, path = %p.display(), "cannot delete wal segment");
            } else {
                info!(path = %p.display(), why, "wal segment deleted");
            }
        }
    }

    fn enforce_max_bytes(&self, st: &mut State) {
        let total = |st: &State| st.closed.iter().map(|s| s.bytes).sum::<u64>() + st.current.bytes;
        while !st.closed.is_empty() && total(st) > self.opts.max_bytes {
            warn!(
                max_bytes = self.opts.max_bytes,
                "wal over its size limit: dropping the oldest segment"
            );
            self.remove_front(st, "size limit");
        }
    }

    /// Deletes closed segments whose newest sample is older than `cutoff_ms`.
    pub fn truncate_before(&self, cutoff_ms: i64) -> usize {
        let mut st = self.lock();
        let mut n = 0;
        while st.closed.front().is_some_and(|s| s.max_ts < cutoff_ms) {
            self.remove_front(&mut st, "retention");
            n += 1;
        }
        n
    }

    /// Bytes on disk (all segments).
    pub fn bytes(&self) -> u64 {
        let st = self.lock();
        st.closed.iter().map(|s| s.bytes).sum::<u64>() + st.current.bytes
    }
}

#[cfg(test)]
mod tests;
