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

pub mod record;

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use tracing::{info, warn};

pub use record::WalRecord;

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

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WalError + '_ {
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
    file: File,
    current: Segment,
    closed: VecDeque<Segment>,
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
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
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
                file,
                current: Segment {
                    number: next,
                    bytes: 0,
                    max_ts: i64::MIN,
                },
                closed,
            }),
        };
        wal.enforce_max_bytes(&mut wal.lock());
        Ok((wal, stats))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes one record built by `build(segment number)` (under the WAL lock, so the builder
    /// knows which segment the record lands in); returns once it is written (and synced).
    pub fn append(&self, build: impl FnOnce(u64) -> WalRecord) -> Result<(), WalError> {
        let mut st = self.lock();
        let rec = build(st.current.number);
        let ts = rec.time_ms();
        let mut buf = Vec::new();
        record::encode(&rec, &mut buf);
        let path = segment_path(&self.opts.dir, st.current.number);
        st.file.write_all(&buf).map_err(io(&path))?;
        if self.opts.fsync {
            st.file.sync_data().map_err(io(&path))?;
        }
        st.current.bytes += buf.len() as u64;
        st.current.max_ts = st.current.max_ts.max(ts);
        if st.current.bytes >= self.opts.segment_bytes {
            let next = st.current.number + 1;
            st.file = create_segment(&self.opts.dir, next)?;
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
        Ok(())
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
