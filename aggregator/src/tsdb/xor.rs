//! Prometheus-compatible XOR (Gorilla) chunks, byte for byte the layout of Prometheus'
//! `tsdb/chunkenc/xor.go`: a 2-byte big-endian sample count, then a bit stream with the first
//! timestamp as a zig-zag varint, the first value as 64 raw bits, the first delta as a uvarint,
//! then delta-of-deltas in 1/14/17/20/64-bit buckets and XOR'ed values with a
//! leading/significant-bit window. Pure: encoding appends to a byte vector, decoding reads a
//! slice and reports malformed input as [`XorError`], never panics.

use super::bits::{BitReader, BitWriter, put_uvarint, put_varint};

/// Samples per chunk before a new one is cut (Prometheus' `samplesPerChunk`).
pub const SAMPLES_PER_CHUNK: u16 = 120;

/// A chunk could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XorError {
    #[error("xor chunk shorter than its 2-byte header")]
    NoHeader,
    #[error("xor chunk ends inside sample {index} of {count}")]
    Truncated { index: u16, count: u16 },
}

/// An XOR chunk being appended to.
#[derive(Debug, Clone, PartialEq)]
pub struct XorChunk {
    w: BitWriter,
    num: u16,
    t: i64,
    v: f64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
    min_t: i64,
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    /// An empty chunk (two zero header bytes).
    pub fn new() -> Self {
        // Prometheus starts chunks with room for 128 bytes, about a full chunk.
        Self::with_capacity(128)
    }

    /// An empty chunk with room for `bytes` bytes before it grows.
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            w: BitWriter::from_parts(
                {
                    let mut v = Vec::with_capacity(bytes.max(2));
                    v.extend_from_slice(&[0, 0]);
                    v
                },
                0,
            ),
            num: 0,
            t: 0,
            v: 0.0,
            t_delta: 0,
            leading: 0xff,
            trailing: 0,
            min_t: 0,
        }
    }

    /// The encoded chunk, as Prometheus stores and streams it.
    pub fn bytes(&self) -> &[u8] {
        &self.w.bytes
    }

    /// Samples in the chunk.
    pub fn len(&self) -> u16 {
        self.num
    }

    /// True before the first append.
    pub fn is_empty(&self) -> bool {
        self.num == 0
    }

    /// Timestamp of the first sample (ms).
    pub fn min_time(&self) -> i64 {
        self.min_t
    }

    /// Timestamp of the last sample (ms).
    pub fn max_time(&self) -> i64 {
        self.t
    }

    /// True once the chunk holds [`SAMPLES_PER_CHUNK`] samples.
    pub fn is_full(&self) -> bool {
        self.num >= SAMPLES_PER_CHUNK
    }

    /// Bytes held (capacity included).
    pub fn heap_bytes(&self) -> usize {
        self.w.bytes.capacity()
    }

    /// Appends a sample. Timestamps should increase; the caller enforces order.
    pub fn append(&mut self, t: i64, v: f64) {
        match self.num {
            0 => {
                put_varint(&mut self.w, t);
                self.w.bits(v.to_bits(), 64);
                self.min_t = t;
            }
            1 => {
                let delta = t.wrapping_sub(self.t) as u64;
                put_uvarint(&mut self.w, delta);
                self.write_value(v);
                self.t_delta = delta;
            }
            _ => {
                let delta = t.wrapping_sub(self.t) as u64;
                let dod = delta.wrapping_sub(self.t_delta) as i64;
                if dod == 0 {
                    self.w.bit(false);
                } else if bit_range(dod, 14) {
                    self.w.bits(0b10, 2);
                    self.w.bits(dod as u64, 14);
                } else if bit_range(dod, 17) {
                    self.w.bits(0b110, 3);
                    self.w.bits(dod as u64, 17);
                } else if bit_range(dod, 20) {
                    self.w.bits(0b1110, 4);
                    self.w.bits(dod as u64, 20);
                } else {
                    self.w.bits(0b1111, 4);
                    self.w.bits(dod as u64, 64);
                }
                self.write_value(v);
                self.t_delta = delta;
            }
        }
        self.t = t;
        self.v = v;
        self.num = self.num.wrapping_add(1);
        let [hi, lo] = self.num.to_be_bytes();
        self.w.bytes[0] = hi;
        self.w.bytes[1] = lo;
    }

    fn write_value(&mut self, v: f64) {
        let delta = v.to_bits() ^ self.v.to_bits();
        if delta == 0 {
            self.w.bit(false);
            return;
        }
        self.w.bit(true);
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            self.w.bit(false);
            let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
            self.w.bits(delta >> self.trailing, sig);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        self.w.bit(true);
        self.w.bits(u64::from(leading), 5);
        let sig = 64 - u32::from(leading) - u32::from(trailing);
        // 64 significant bits are written as 0 in the 6-bit field; the reader maps 0 back.
        self.w.bits(u64::from(sig), 6);
        self.w.bits(delta >> trailing, sig);
    }
}

/// Whether `x` fits Prometheus' `bitRange(x, nbits)`: −(2^(n−1)−1) ≤ x ≤ 2^(n−1).
fn bit_range(x: i64, nbits: u32) -> bool {
    let half = 1i64 << (nbits - 1);
    -(half - 1) <= x && x <= half
}

/// Iterates the samples of an encoded chunk.
#[derive(Debug, Clone)]
pub struct XorIter<'a> {
    r: BitReader<'a>,
    count: u16,
    read: u16,
    t: i64,
    v: u64,
    t_delta: u64,
    leading: u32,
    trailing: u32,
    failed: bool,
}

/// Reads the samples of `bytes` (a whole chunk, header included).
pub fn iter(bytes: &[u8]) -> Result<XorIter<'_>, XorError> {
    let [hi, lo, ..] = bytes else {
        return Err(XorError::NoHeader);
    };
    Ok(XorIter {
        r: BitReader::new(&bytes[2..]),
        count: u16::from_be_bytes([*hi, *lo]),
        read: 0,
        t: 0,
        v: 0,
        t_delta: 0,
        leading: 0,
        trailing: 0,
        failed: false,
    })
}

/// Decodes every sample of a chunk.
pub fn decode(bytes: &[u8]) -> Result<Vec<(i64, f64)>, XorError> {
    iter(bytes)?.collect()
}

/// The sample count in a chunk's header.
pub fn sample_count(bytes: &[u8]) -> Result<u16, XorError> {
    iter(bytes).map(|i| i.count)
}

impl XorIter<'_> {
    fn step(&mut self) -> Option<()> {
        match self.read {
            0 => {
                self.t = self.r.varint()?;
                self.v = self.r.bits(64)?;
            }
            1 => {
                self.t_delta = self.r.uvarint()?;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
            _ => {
                let mut prefix = 0u8;
                for _ in 0..4 {
                    prefix <<= 1;
                    if !self.r.bit()? {
                        break;
                    }
                    prefix |= 1;
                }
                let dod = match prefix {
                    0 => 0,
                    0b10 => self.signed(14)?,
                    0b110 => self.signed(17)?,
                    0b1110 => self.signed(20)?,
                    _ => self.r.bits(64)? as i64,
                };
                self.t_delta = (self.t_delta as i64).wrapping_add(dod) as u64;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
        }
        Some(())
    }

    fn signed(&mut self, n: u32) -> Option<i64> {
        let mut b = self.r.bits(n)?;
        if b > 1 << (n - 1) {
            b = b.wrapping_sub(1 << n);
        }
        Some(b as i64)
    }

    fn read_value(&mut self) -> Option<()> {
        if !self.r.bit()? {
            return Some(());
        }
        if self.r.bit()? {
            self.leading = self.r.bits(5)? as u32;
            let mut sig = self.r.bits(6)? as u32;
            if sig == 0 {
                sig = 64;
            }
            // A garbage window wider than 64 bits is refused rather than wrapped.
            self.trailing = 64u32.checked_sub(self.leading + sig)?;
        }
        let sig = 64 - self.leading - self.trailing;
        let bits = self.r.bits(sig)?;
        self.v ^= bits.checked_shl(self.trailing).unwrap_or(0);
        Some(())
    }
}

impl Iterator for XorIter<'_> {
    type Item = Result<(i64, f64), XorError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.read >= self.count {
            return None;
        }
        if self.step().is_none() {
            self.failed = true;
            return Some(Err(XorError::Truncated {
                index: self.read,
                count: self.count,
            }));
        }
        self.read += 1;
        Some(Ok((self.t, f64::from_bits(self.v))))
    }
}

#[cfg(test)]
mod tests;
