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

/// A closed chunk as held.
#[derive(Debug, Clone)]
pub struct ClosedChunk {
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    pub samples: u16,
    pub data: ChunkData,
}

impl ClosedChunk {
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

    /// The chunk as read (a disk chunk is read back).
    pub fn load(&self) -> std::io::Result<ChunkRef> {
        Ok(ChunkRef {
            min_time_ms: self.min_time_ms,
            max_time_ms: self.max_time_ms,
            data: match &self.data {
                ChunkData::Memory(b) => b.clone(),
                ChunkData::Disk(d) => d.read()?,
            },
        })
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
            let on_disk = files.and_then(|f| match f.write(full.bytes()) {
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
            self.closed.push_back(ClosedChunk {
                min_time_ms: full.min_time(),
                max_time_ms: full.max_time(),
                samples: full.len(),
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

    /// Closed chunks overlapping `[mint, maxt]` as held (disk ones not yet read) and the open
    /// one copied, oldest first: what a reader takes under the series lock.
    pub fn overlapping(&self, mint: i64, maxt: i64) -> (Vec<ClosedChunk>, Option<ChunkRef>) {
        let closed = self
            .closed
            .iter()
            .filter(|c| c.max_time_ms >= mint && c.min_time_ms <= maxt)
            .cloned()
            .collect();
        let open =
            (!self.head.is_empty() && self.head.max_time() >= mint && self.head.min_time() <= maxt)
                .then(|| ChunkRef {
                    min_time_ms: self.head.min_time(),
                    max_time_ms: self.head.max_time(),
                    data: Arc::from(self.head.bytes()),
                });
        (closed, open)
    }

    /// Chunks overlapping `[mint, maxt]` (disk ones read, the open one copied), oldest first.
    pub fn chunks(&self, mint: i64, maxt: i64) -> std::io::Result<Vec<ChunkRef>> {
        let (closed, open) = self.overlapping(mint, maxt);
        load(closed, open)
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
                freed.samples += u64::from(c.samples);
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

/// Reads what [`MemSeries::overlapping`] took (after the series lock is released).
pub fn load(closed: Vec<ClosedChunk>, open: Option<ChunkRef>) -> std::io::Result<Vec<ChunkRef>> {
    let mut out = Vec::with_capacity(closed.len() + usize::from(open.is_some()));
    for c in &closed {
        out.push(c.load()?);
    }
    out.extend(open);
    Ok(out)
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
        let dir = std::env::temp_dir().join(format!("hvscope-series-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = ChunkFiles::open(&dir).unwrap();
        cuts_at_120_and_reads_back_in_order(Some(&files));
        let _ = std::fs::remove_dir_all(&dir);
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
