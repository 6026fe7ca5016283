//! One series in memory: closed XOR chunks (immutable, shared with readers as-is, in memory or
//! in the head's [chunk files](super::disk)) and the open chunk being appended to, cut every
//! [`SAMPLES_PER_CHUNK`](super::xor::SAMPLES_PER_CHUNK).

use std::collections::VecDeque;
use std::sync::Arc;

use super::disk::{ChunkFiles, DiskChunk};
use super::xor::XorChunk;
use crate::labels::Labels;

/// A chunk as read: encoded bytes and their time range.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkRef {
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    /// Prometheus XOR chunk bytes (header included).
    pub data: Arc<[u8]>,
}

/// Where a closed chunk's bytes are.
#[derive(Debug, Clone)]
pub enum ChunkData {
    Memory(Arc<[u8]>),
    Disk(DiskChunk),
}

/// A closed chunk as held (40 bytes).
#[derive(Debug, Clone)]
pub struct ClosedChunk {
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    pub data: ChunkData,
}

impl ClosedChunk {
    /// Samples in the chunk.
    pub fn samples(&self) -> u16 {
        match &self.data {
            ChunkData::Memory(b) => super::xor::sample_count(b).unwrap_or(0),
            ChunkData::Disk(d) => d.samples(),
        }
    }

    /// Bytes of the chunk.
    pub fn len(&self) -> usize {
        match &self.data {
            ChunkData::Memory(b) => b.len(),
            ChunkData::Disk(d) => d.len(),
        }
    }

    /// True for a chunk of no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the chunk held on disk (0 for one in memory).
    pub fn disk_bytes(&self) -> usize {
        match &self.data {
            ChunkData::Memory(_) => 0,
            ChunkData::Disk(d) => d.len(),
        }
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored; the chunk bytes grew by `bytes`; `to_disk` bytes of closed chunk went from
    /// memory to the chunk files.
    Stored { bytes: usize, to_disk: usize },
    /// Timestamp not after the newest sample: dropped.
    OutOfOrder,
}

/// A series in the head.
#[derive(Debug)]
pub struct MemSeries {
    pub labels: Labels,
    pub closed: VecDeque<ClosedChunk>,
    pub head: XorChunk,
    /// Samples in `closed` and `head`.
    pub samples: u64,
    /// Set once retention removed the series from the index: holders must re-register.
    pub removed: bool,
    /// Keeps only the newest sample's time (a [`Db::shadow`](super::Db::shadow) series:
    /// enough to order appends as a real series does, nothing to read back).
    pub latest_only: bool,
    /// That time, for a `latest_only` series.
    newest: Option<i64>,
}

impl MemSeries {
    pub fn new(labels: Labels) -> Self {
        Self {
            labels,
            closed: VecDeque::new(),
            head: XorChunk::new(),
            samples: 0,
            removed: false,
            latest_only: false,
            newest: None,
        }
    }

    /// A series that keeps only its newest sample's time (for a shadow head).
    pub fn latest_only(labels: Labels) -> Self {
        Self {
            head: XorChunk::with_capacity(2),
            latest_only: true,
            ..Self::new(labels)
        }
    }

    /// Timestamp of the newest sample.
    pub fn max_time(&self) -> Option<i64> {
        if self.latest_only {
            return self.newest;
        }
        if !self.head.is_empty() {
            Some(self.head.max_time())
        } else {
            self.closed.back().map(|c| c.max_time_ms)
        }
    }

    /// Appends a sample; cuts the open chunk when full, into `files` when given (kept in
    /// memory without them, or when the write fails).
    pub fn append(&mut self, t: i64, v: f64, files: Option<&ChunkFiles>) -> Appended {
        if self.max_time().is_some_and(|m| t <= m) {
            return Appended::OutOfOrder;
        }
        if self.latest_only {
            self.newest = Some(t);
            self.samples = 1;
            return Appended::Stored {
                bytes: 0,
                to_disk: 0,
            };
        }
        let mut to_disk = 0;
        if self.head.is_full() {
            let full = std::mem::take(&mut self.head);
            let on_disk = files.and_then(|f| match f.write(full.bytes(), full.len()) {
                Ok(d) => Some(d),
                Err(error) => {
                    // Counted by the files; logged at most once a minute by their owner.
                    tracing::debug!(%error, "chunk kept in memory: the chunk file write failed");
                    None
                }
            });
            let data = match on_disk {
                Some(d) => {
                    to_disk = d.len();
                    ChunkData::Disk(d)
                }
                // Closed chunks in memory are copied into exactly-sized shared buffers.
                None => ChunkData::Memory(Arc::from(full.bytes())),
            };
            // Grown one place at a time (once per 120 samples: a copy of at most a few KB)
            // instead of doubled: the list is most of a series' heap once chunks are on disk.
            self.closed.reserve_exact(1);
            self.closed.push_back(ClosedChunk {
                min_time_ms: full.min_time(),
                max_time_ms: full.max_time(),
                data,
            });
        }
        // A fresh chunk's 2 header bytes count with its first sample.
        let before = if self.head.is_empty() {
            0
        } else {
            self.head.bytes().len()
        };
        self.head.append(t, v);
        self.samples += 1;
        Appended::Stored {
            bytes: self.head.bytes().len() - before,
            to_disk,
        }
    }

    /// Chunks overlapping `[mint, maxt]`, oldest first, as a reader takes them under the
    /// series lock: those in memory shared, the open one copied, disk ones still to be read
    /// ([`Taken::load`], after the lock is released).
    pub fn overlapping(&self, mint: i64, maxt: i64) -> Taken {
        let mut t = Taken::default();
        for c in self
            .closed
            .iter()
            .filter(|c| c.max_time_ms >= mint && c.min_time_ms <= maxt)
        {
            match &c.data {
                ChunkData::Memory(b) => t.ready.push(ChunkRef {
                    min_time_ms: c.min_time_ms,
                    max_time_ms: c.max_time_ms,
                    data: b.clone(),
                }),
                ChunkData::Disk(d) => t.disk.push((
                    t.ready.len() + t.disk.len(),
                    c.min_time_ms,
                    c.max_time_ms,
                    d.clone(),
                )),
            }
        }
        if !self.head.is_empty() && self.head.max_time() >= mint && self.head.min_time() <= maxt {
            t.ready.push(ChunkRef {
                min_time_ms: self.head.min_time(),
                max_time_ms: self.head.max_time(),
                data: Arc::from(self.head.bytes()),
            });
        }
        t
    }

    /// Chunks overlapping `[mint, maxt]` (disk ones read, the open one copied), oldest first.
    pub fn chunks(&self, mint: i64, maxt: i64) -> std::io::Result<Vec<ChunkRef>> {
        self.overlapping(mint, maxt).load()
    }

    /// Drops closed chunks that end before `cutoff_ms`; the open chunk too when it does.
    pub fn truncate_before(&mut self, cutoff_ms: i64) -> Freed {
        let mut freed = Freed::default();
        if self.latest_only {
            if self.newest.is_some_and(|t| t < cutoff_ms) {
                self.newest = None;
                self.samples = 0;
                freed.samples = 1;
            }
            return freed;
        }
        while self
            .closed
            .front()
            .is_some_and(|c| c.max_time_ms < cutoff_ms)
        {
            if let Some(c) = self.closed.pop_front() {
                freed.samples += u64::from(c.samples());
                freed.bytes += c.len();
                freed.disk_bytes += c.disk_bytes();
                freed.disk_chunks += u64::from(c.disk_bytes() > 0);
            }
        }
        if self.closed.is_empty() && !self.head.is_empty() && self.head.max_time() < cutoff_ms {
            freed.samples += u64::from(self.head.len());
            freed.bytes += self.head.bytes().len();
            self.head = XorChunk::new();
        }
        self.samples -= freed.samples.min(self.samples);
        freed
    }

    /// Bytes of chunk data held (closed + open, in memory or on disk).
    pub fn chunk_bytes(&self) -> usize {
        self.closed.iter().map(ClosedChunk::len).sum::<usize>() + self.head.bytes().len()
    }
}

/// What [`MemSeries::truncate_before`] dropped: samples, chunk bytes, of which on disk (and
/// in how many chunks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Freed {
    pub samples: u64,
    pub bytes: usize,
    pub disk_bytes: usize,
    pub disk_chunks: u64,
}

/// What [`MemSeries::overlapping`] took: chunks ready to read and disk chunks with their
/// place among them.
#[derive(Debug, Default)]
pub struct Taken {
    ready: Vec<ChunkRef>,
    disk: Vec<(usize, i64, i64, DiskChunk)>,
}

impl Taken {
    /// Nothing overlapped.
    pub fn is_empty(&self) -> bool {
        self.ready.is_empty() && self.disk.is_empty()
    }

    /// The chunks in order, disk ones read back (without any: no copy).
    pub fn load(self) -> std::io::Result<Vec<ChunkRef>> {
        if self.disk.is_empty() {
            return Ok(self.ready);
        }
        let mut out = Vec::with_capacity(self.ready.len() + self.disk.len());
        let mut ready = self.ready.into_iter();
        for (at, min_time_ms, max_time_ms, d) in self.disk {
            let before = at.saturating_sub(out.len());
            out.extend(ready.by_ref().take(before));
            out.push(ChunkRef {
                min_time_ms,
                max_time_ms,
                data: d.read()?,
            });
        }
        out.extend(ready);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::xor;

    fn series() -> MemSeries {
        MemSeries::new(Labels::from_pairs(&[("__name__", "m")]))
    }

    fn cuts_at_120_and_reads_back_in_order(files: Option<&ChunkFiles>) {
        let mut s = series();
        let mut to_disk_total = 0;
        for i in 0..300 {
            match s.append(i * 10_000, i as f64, files) {
                Appended::Stored { to_disk, .. } => to_disk_total += to_disk,
                Appended::OutOfOrder => panic!("in order"),
            }
        }
        assert_eq!(s.append(5, 1.0, files), Appended::OutOfOrder);
        assert_eq!(s.closed.len(), 2);
        let on_disk: usize = s.closed.iter().map(ClosedChunk::disk_bytes).sum();
        assert_eq!(on_disk, to_disk_total);
        assert_eq!(on_disk > 0, files.is_some());
        let all = s.chunks(i64::MIN, i64::MAX).unwrap();
        assert_eq!(all.len(), 3);
        let decoded: Vec<(i64, f64)> = all
            .iter()
            .flat_map(|c| xor::decode(&c.data).unwrap())
            .collect();
        assert_eq!(decoded.len(), 300);
        assert_eq!(decoded[299], (2_990_000, 299.0));
        assert_eq!(s.chunks(1_200_000, 1_300_000).unwrap().len(), 1);
        assert_eq!(
            s.chunk_bytes(),
            all.iter().map(|c| c.data.len()).sum::<usize>()
        );
        let freed = s.truncate_before(1_200_000);
        assert_eq!(
            (freed.samples, freed.disk_bytes > 0),
            (120, files.is_some())
        );
    }

    #[test]
    fn cuts_at_120_and_reads_back_in_order_in_memory() {
        cuts_at_120_and_reads_back_in_order(None);
    }

    #[test]
    fn cuts_at_120_and_reads_back_in_order_from_disk() {
        let d = crate::tsdb::disk::test_dir("series");
        let files = ChunkFiles::open(&d.0).unwrap();
        cuts_at_120_and_reads_back_in_order(Some(&files));
    }

    #[test]
    fn a_failed_chunk_write_keeps_that_chunk_in_memory_and_the_order_holds() {
        let tmp = crate::tsdb::disk::test_dir("series-mixed");
        let dir = &tmp.0;
        // Every chunk in a file of its own: each write opens one in the directory.
        let files = ChunkFiles::with_file_bytes(dir, 1).unwrap();
        let mut s = series();
        let mut t = 0i64;
        let mut fill = |s: &mut MemSeries, n: i64| {
            for _ in 0..n {
                s.append(t * 10_000, (t * 7919 % 1013) as f64, Some(&files));
                t += 1;
            }
        };
        fill(&mut s, 121);
        std::fs::remove_dir_all(dir).unwrap();
        fill(&mut s, 120);
        std::fs::create_dir_all(dir).unwrap();
        fill(&mut s, 150);
        let kinds: Vec<bool> = s.closed.iter().map(|c| c.disk_bytes() > 0).collect();
        assert_eq!(kinds, [true, false, true]);
        assert_eq!(files.write_errors(), 1);
        let all = s.chunks(i64::MIN, i64::MAX).unwrap();
        let decoded: Vec<(i64, f64)> = all
            .iter()
            .flat_map(|c| xor::decode(&c.data).unwrap())
            .collect();
        let want: Vec<(i64, f64)> = (0..391)
            .map(|t| (t * 10_000, (t * 7919 % 1013) as f64))
            .collect();
        assert_eq!(decoded, want);
        // A range that starts in the memory chunk and ends in the second disk one.
        let mid = s.chunks(1_300_000, 2_500_000).unwrap();
        assert_eq!(mid.len(), 2);
        assert_eq!(
            (mid[0].min_time_ms, mid[1].max_time_ms),
            (1_200_000, 3_590_000)
        );
    }

    #[test]
    fn a_closed_chunk_place_is_40_bytes() {
        // Most of a series' heap at a long retention, once chunks are on disk.
        assert_eq!(std::mem::size_of::<ClosedChunk>(), 40);
    }

    #[test]
    fn retention_drops_whole_chunks() {
        let mut s = series();
        for i in 0..250 {
            s.append(i, 1.0, None);
        }
        assert_eq!(s.truncate_before(150).samples, 120);
        assert_eq!(s.samples, 130);
        assert_eq!(s.truncate_before(1000).samples, 130);
        assert_eq!(s.max_time(), None);
        assert_eq!(s.samples, 0);
    }
}
