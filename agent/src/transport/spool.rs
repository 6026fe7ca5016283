//! The in-memory spool of batches not yet acknowledged by one aggregator, bounded in bytes.
//! Nothing is ever written to disk (a diskless node has none). When a new batch does not fit,
//! the oldest batches are dropped and counted.

use std::collections::VecDeque;
use std::sync::Arc;

use hvscope_proto::v1::Batch;
use prost::Message;

/// A batch as collected: samples and findings, without series definitions (those depend on
/// the stream it is sent on).
#[derive(Debug)]
pub struct SpooledBatch {
    pub batch: Batch,
    /// Encoded size of `batch`, the unit of the spool's bound.
    pub bytes: usize,
}

impl SpooledBatch {
    /// Wraps a batch, measuring it.
    pub fn new(batch: Batch) -> Arc<Self> {
        let bytes = batch.encoded_len();
        Arc::new(Self { batch, bytes })
    }

    /// The batch's sequence number.
    pub fn seq(&self) -> u64 {
        self.batch.seq
    }
}

/// Unacknowledged batches in sequence order.
#[derive(Debug)]
pub struct Spool {
    entries: VecDeque<Arc<SpooledBatch>>,
    bytes: usize,
    max_bytes: usize,
    dropped: u64,
    acked: u64,
}

impl Spool {
    /// An empty spool holding at most `max_bytes` of encoded batches (but always the newest
    /// batch, even if it alone is larger).
    pub fn new(max_bytes: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            bytes: 0,
            max_bytes,
            dropped: 0,
            acked: 0,
        }
    }

    /// Appends a batch (sequence numbers must increase), dropping the oldest on overflow.
    pub fn push(&mut self, b: Arc<SpooledBatch>) {
        debug_assert!(self.entries.back().is_none_or(|l| l.seq() < b.seq()));
        self.bytes += b.bytes;
        self.entries.push_back(b);
        while self.bytes > self.max_bytes && self.entries.len() > 1 {
            if let Some(old) = self.entries.pop_front() {
                self.bytes -= old.bytes;
                self.dropped += 1;
            }
        }
    }

    /// Removes every batch with `seq <= upto` (acknowledged).
    pub fn ack(&mut self, upto: u64) {
        while let Some(front) = self.entries.front() {
            if front.seq() > upto {
                break;
            }
            self.bytes -= front.bytes;
            self.entries.pop_front();
        }
        self.acked = self.acked.max(upto);
    }

    /// The first batch with `seq >= from`.
    pub fn next_from(&self, from: u64) -> Option<Arc<SpooledBatch>> {
        // Sequences are increasing: binary search by seq.
        let i = self.entries.partition_point(|e| e.seq() < from);
        self.entries.get(i).cloned()
    }

    /// Sequence of the oldest batch held.
    pub fn oldest_seq(&self) -> Option<u64> {
        self.entries.front().map(|e| e.seq())
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Batches held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is waiting for an ack.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Batches dropped on overflow since start.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Highest sequence acknowledged so far.
    pub fn acked(&self) -> u64 {
        self.acked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(seq: u64, n: usize) -> Arc<SpooledBatch> {
        SpooledBatch::new(Batch {
            seq,
            values: vec![1.0; n],
            id_deltas: vec![1; n],
            ..Default::default()
        })
    }

    #[test]
    fn bounded_in_bytes_dropping_oldest() {
        let one = batch(1, 100).bytes;
        let mut s = Spool::new(one * 3);
        for seq in 1..=5 {
            s.push(batch(seq, 100));
        }
        assert_eq!(s.len(), 3);
        assert_eq!(s.dropped(), 2);
        assert_eq!(s.oldest_seq(), Some(3));
        assert!(s.bytes() <= one * 3);
    }

    #[test]
    fn ack_and_resend_cursor() {
        let mut s = Spool::new(1 << 20);
        for seq in 1..=4 {
            s.push(batch(seq, 1));
        }
        assert_eq!(s.next_from(0).unwrap().seq(), 1);
        assert_eq!(s.next_from(3).unwrap().seq(), 3);
        assert!(s.next_from(5).is_none());
        s.ack(2);
        assert_eq!(s.oldest_seq(), Some(3));
        assert_eq!(s.next_from(1).unwrap().seq(), 3);
        assert_eq!(s.acked(), 2);
        s.ack(10);
        assert!(s.is_empty());
        assert_eq!(s.bytes(), 0);
    }

    #[test]
    fn a_single_oversized_batch_is_kept() {
        let mut s = Spool::new(10);
        s.push(batch(1, 100));
        assert_eq!(s.len(), 1);
        s.push(batch(2, 100));
        assert_eq!(s.len(), 1);
        assert_eq!(s.dropped(), 1);
    }
}
