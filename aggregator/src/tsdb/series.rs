//! One series in memory: closed XOR chunks (immutable, shared with readers as-is) and the open
//! chunk being appended to, cut every [`SAMPLES_PER_CHUNK`](super::xor::SAMPLES_PER_CHUNK).

use std::collections::VecDeque;
use std::sync::Arc;

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

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored; the chunk bytes grew by `bytes`.
    Stored { bytes: usize },
    /// Timestamp not after the newest sample: dropped.
    OutOfOrder,
}

/// A series in the head.
#[derive(Debug)]
pub struct MemSeries {
    pub labels: Labels,
    pub closed: VecDeque<ChunkRef>,
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

    /// Appends a sample; cuts the open chunk when full.
    pub fn append(&mut self, t: i64, v: f64) -> Appended {
        if self.max_time().is_some_and(|m| t <= m) {
            return Appended::OutOfOrder;
        }
        if self.latest_only {
            self.newest = Some(t);
            self.samples = 1;
            return Appended::Stored { bytes: 0 };
        }
        if self.head.is_full() {
            // Closed chunks are copied into exactly-sized shared buffers.
            let full = std::mem::take(&mut self.head);
            self.closed.push_back(ChunkRef {
                min_time_ms: full.min_time(),
                max_time_ms: full.max_time(),
                data: Arc::from(full.bytes()),
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
        }
    }

    /// Chunks overlapping `[mint, maxt]` (the open one copied), oldest first.
    pub fn chunks(&self, mint: i64, maxt: i64) -> Vec<ChunkRef> {
        let mut out: Vec<ChunkRef> = self
            .closed
            .iter()
            .filter(|c| c.max_time_ms >= mint && c.min_time_ms <= maxt)
            .cloned()
            .collect();
        if !self.head.is_empty() && self.head.max_time() >= mint && self.head.min_time() <= maxt {
            out.push(ChunkRef {
                min_time_ms: self.head.min_time(),
                max_time_ms: self.head.max_time(),
                data: Arc::from(self.head.bytes()),
            });
        }
        out
    }

    /// Drops closed chunks that end before `cutoff_ms`; the open chunk too when it does.
    /// Returns (samples, bytes) freed.
    pub fn truncate_before(&mut self, cutoff_ms: i64) -> (u64, usize) {
        if self.latest_only {
            if self.newest.is_some_and(|t| t < cutoff_ms) {
                self.newest = None;
                self.samples = 0;
                return (1, 0);
            }
            return (0, 0);
        }
        let (mut samples, mut bytes) = (0u64, 0usize);
        while self
            .closed
            .front()
            .is_some_and(|c| c.max_time_ms < cutoff_ms)
        {
            if let Some(c) = self.closed.pop_front() {
                samples += u64::from(super::xor::sample_count(&c.data).unwrap_or(0));
                bytes += c.data.len();
            }
        }
        if self.closed.is_empty() && !self.head.is_empty() && self.head.max_time() < cutoff_ms {
            samples += u64::from(self.head.len());
            bytes += self.head.bytes().len();
            self.head = XorChunk::new();
        }
        self.samples -= samples.min(self.samples);
        (samples, bytes)
    }

    /// Bytes of chunk data held (closed + open).
    pub fn chunk_bytes(&self) -> usize {
        self.closed.iter().map(|c| c.data.len()).sum::<usize>() + self.head.bytes().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::xor;

    fn series() -> MemSeries {
        MemSeries::new(Labels::from_pairs(&[("__name__", "m")]))
    }

    #[test]
    fn cuts_at_120_and_reads_back_in_order() {
        let mut s = series();
        for i in 0..300 {
            assert!(matches!(
                s.append(i * 10_000, i as f64),
                Appended::Stored { .. }
            ));
        }
        assert_eq!(s.append(5, 1.0), Appended::OutOfOrder);
        assert_eq!(s.closed.len(), 2);
        let all = s.chunks(i64::MIN, i64::MAX);
        assert_eq!(all.len(), 3);
        let decoded: Vec<(i64, f64)> = all
            .iter()
            .flat_map(|c| xor::decode(&c.data).unwrap())
            .collect();
        assert_eq!(decoded.len(), 300);
        assert_eq!(decoded[299], (2_990_000, 299.0));
        assert_eq!(s.chunks(1_200_000, 1_300_000).len(), 1);
        assert_eq!(
            s.chunk_bytes(),
            all.iter().map(|c| c.data.len()).sum::<usize>()
        );
    }

    #[test]
    fn retention_drops_whole_chunks() {
        let mut s = series();
        for i in 0..250 {
            s.append(i, 1.0);
        }
        assert_eq!(s.truncate_before(150).0, 120);
        assert_eq!(s.samples, 130);
        assert_eq!(s.truncate_before(1000).0, 130);
        assert_eq!(s.max_time(), None);
        assert_eq!(s.samples, 0);
    }
}
