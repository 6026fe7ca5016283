//! WAL records and their framing, pure. A record is one applied batch of one node (with the
//! agent instance it came from) or a checkpoint of a node's state. On disk each record is
//! `u32 LE length | u32 LE CRC32-Castagnoli | body`, the body the record's protobuf, or its
//! snappy block when that is at least an eighth smaller (then the length's top bit is set; as
//! Prometheus' WAL, which snappy-compresses its records). Reading stops at the first frame that
//! is short, over the size limit, or fails its checksum: that is the torn tail.

use hvscope_proto::v1::{Batch, Label};
use prost::Message;

pub(crate) const CASTAGNOLI: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// Largest record accepted on replay (the ingest message limit plus headroom).
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// One WAL record.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WalRecord {
    /// Node name (from its certificate).
    #[prost(string, tag = "1")]
    pub node: String,
    /// Agent instance: boot id and agent start.
    #[prost(string, tag = "2")]
    pub boot_id: String,
    #[prost(int64, tag = "3")]
    pub started_ms: i64,
    /// The hello's static labels (rack, …).
    #[prost(message, repeated, tag = "4")]
    pub hello_labels: Vec<Label>,
    /// The batch as applied. Its `defs` hold every series the batch uses that this WAL
    /// segment has not defined yet for the node, so each segment replays on its own.
    #[prost(message, optional, tag = "5")]
    pub batch: Option<Batch>,
    /// Non-zero on a record without a batch that declares the node stale at this time (ms):
    /// every series of the node got its stale marker there.
    #[prost(int64, tag = "6")]
    pub stale_ms: i64,
    /// On a record without a batch: samples the aggregator derived itself (the liveness
    /// series), logged so remote-write sends them too. Replay of the head ignores them.
    #[prost(message, repeated, tag = "7")]
    pub derived: Vec<DerivedSample>,
}

/// A sample the aggregator stored of its own accord, with its series' full labels.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DerivedSample {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(int64, tag = "2")]
    pub timestamp_ms: i64,
    #[prost(double, tag = "3")]
    pub value: f64,
}

impl WalRecord {
    /// The time the record is about (its batch's, or the stale declaration's), ms;
    /// `i64::MIN` when neither.
    pub fn time_ms(&self) -> i64 {
        match &self.batch {
            Some(b) => b.timestamp_ms,
            None if self.stale_ms != 0 => self.stale_ms,
            None => self
                .derived
                .iter()
                .map(|d| d.timestamp_ms)
                .max()
                .unwrap_or(i64::MIN),
        }
    }
}

/// Why reading stopped before the end of a segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TornTail {
    #[error("partial frame header at byte {offset}")]
    ShortHeader { offset: usize },
    #[error("frame at byte {offset} declares {len} bytes, over the {MAX_RECORD_BYTES}-byte limit")]
    TooLong { offset: usize, len: usize },
    #[error("frame at byte {offset} is cut short")]
    ShortBody { offset: usize },
    #[error("frame at byte {offset} fails its checksum")]
    Checksum { offset: usize },
    #[error("frame at byte {offset} is not a record: {message}")]
    Decode { offset: usize, message: String },
}

/// Top bit of a frame's length: the body is a snappy block.
const SNAPPY: u32 = 1 << 31;

/// Appends the frame of `record` to `out`.
pub fn encode(record: &WalRecord, out: &mut Vec<u8>) {
    let raw = record.encode_to_vec();
    let packed = snap::raw::Encoder::new()
        .compress_vec(&raw)
        .ok()
        .filter(|c| c.len() <= raw.len() - raw.len() / 8);
    let (flag, body) = match &packed {
        Some(c) => (SNAPPY, c.as_slice()),
        None => (0, raw.as_slice()),
    };
    out.extend_from_slice(&(body.len() as u32 | flag).to_le_bytes());
    out.extend_from_slice(&CASTAGNOLI.checksum(body).to_le_bytes());
    out.extend_from_slice(body);
}

/// A frame's body as a record (`snappy`: the length's top bit was set).
pub(crate) fn decode_body(body: &[u8], snappy: bool) -> Result<WalRecord, String> {
    if !snappy {
        return WalRecord::decode(body).map_err(|e| e.to_string());
    }
    let n = snap::raw::decompress_len(body).map_err(|e| e.to_string())?;
    if n > MAX_RECORD_BYTES {
        return Err(format!("decompresses to {n} bytes, over the limit"));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| e.to_string())?;
    WalRecord::decode(raw.as_slice()).map_err(|e| e.to_string())
}

/// A frame header's body length, snappy flag and checksum (`head` is at least 8 bytes).
pub(crate) fn frame_head(head: &[u8]) -> (usize, bool, u32) {
    let word = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    ((word & !SNAPPY) as usize, word & SNAPPY != 0, crc)
}

/// Every whole record of a segment, the length of the valid prefix, and why reading stopped
/// early (`None`: the segment ended cleanly).
pub fn decode_all(buf: &[u8]) -> (Vec<WalRecord>, usize, Option<TornTail>) {
    let mut out = Vec::new();
    let mut off = 0;
    while off < buf.len() {
        let Some(head) = buf.get(off..off + 8) else {
            return (out, off, Some(TornTail::ShortHeader { offset: off }));
        };
        let (len, snappy, crc) = frame_head(head);
        if len > MAX_RECORD_BYTES {
            return (out, off, Some(TornTail::TooLong { offset: off, len }));
        }
        let Some(body) = buf.get(off + 8..off + 8 + len) else {
            return (out, off, Some(TornTail::ShortBody { offset: off }));
        };
        if CASTAGNOLI.checksum(body) != crc {
            return (out, off, Some(TornTail::Checksum { offset: off }));
        }
        match decode_body(body, snappy) {
            Ok(r) => out.push(r),
            Err(message) => {
                return (
                    out,
                    off,
                    Some(TornTail::Decode {
                        offset: off,
                        message,
                    }),
                );
            }
        }
        off += 8 + len;
    }
    (out, off, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: u64) -> WalRecord {
        WalRecord {
            node: "n1".into(),
            boot_id: "b".into(),
            started_ms: 7,
            hello_labels: vec![],
            batch: Some(Batch {
                seq,
                timestamp_ms: seq as i64 * 1000,
                id_deltas: vec![1, 1],
                values: vec![1.5, f64::NAN],
                ..Default::default()
            }),
            stale_ms: 0,
            derived: Vec::new(),
        }
    }

    #[test]
    fn compressible_records_are_snappy_and_plain_frames_still_read() {
        let mut r = rec(9);
        if let Some(b) = r.batch.as_mut() {
            b.values = vec![42.0; 1000];
            b.id_deltas = vec![1; 1000];
        }
        let raw = r.encode_to_vec();
        let mut buf = Vec::new();
        encode(&r, &mut buf);
        let word = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
        assert!(
            word & SNAPPY != 0 && buf.len() < raw.len() / 2,
            "{} of {}",
            buf.len(),
            raw.len()
        );
        // A frame written without compression (older segments) reads the same.
        let mut plain = Vec::new();
        plain.extend_from_slice(&(raw.len() as u32).to_le_bytes());
        plain.extend_from_slice(&CASTAGNOLI.checksum(&raw).to_le_bytes());
        plain.extend_from_slice(&raw);
        plain.extend_from_slice(&buf);
        let (all, good, torn) = decode_all(&plain);
        assert_eq!((all.len(), good, torn), (2, plain.len(), None));
        assert_eq!(all[0], r);
        assert_eq!(all[1], r);
        // A flagged frame whose body is not snappy is a torn tail, not a panic.
        let junk = [0xffu8; 16];
        let mut bad = Vec::new();
        bad.extend_from_slice(&(junk.len() as u32 | SNAPPY).to_le_bytes());
        bad.extend_from_slice(&CASTAGNOLI.checksum(&junk).to_le_bytes());
        bad.extend_from_slice(&junk);
        assert!(matches!(
            decode_all(&bad).2,
            Some(TornTail::Decode { offset: 0, .. })
        ));
    }

    #[test]
    fn round_trip_and_torn_tails() {
        let mut buf = Vec::new();
        for s in 1..=3 {
            encode(&rec(s), &mut buf);
        }
        let (all, good, torn) = decode_all(&buf);
        assert_eq!(all.len(), 3);
        assert_eq!((good, torn), (buf.len(), None));
        assert_eq!(all[2].batch.as_ref().unwrap().seq, 3);
        let one = {
            let mut b = Vec::new();
            encode(&rec(1), &mut b);
            b.len()
        };
        // cut anywhere in the last record: the first two survive
        for cut in [buf.len() - 1, buf.len() - one + 3, buf.len() - one + 9] {
            let (r, good, torn) = decode_all(&buf[..cut]);
            assert_eq!(r.len(), 2, "cut at {cut}");
            assert_eq!(good, 2 * one);
            assert!(torn.is_some());
        }
        let mut flipped = buf.clone();
        flipped[one + 12] ^= 0x40;
        let (r, good, torn) = decode_all(&flipped);
        assert_eq!((r.len(), good), (1, one));
        assert_eq!(torn, Some(TornTail::Checksum { offset: one }));
        let mut huge = buf.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            decode_all(&huge).2,
            Some(TornTail::TooLong { offset: 0, .. })
        ));
        // zero padding (a preallocated or zeroed tail) decodes as an empty record at worst
        let (r, _, _) = decode_all(&[0u8; 3]);
        assert!(r.is_empty());
    }
}
