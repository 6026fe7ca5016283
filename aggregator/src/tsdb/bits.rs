//! Bit streams for the XOR chunk codec: MSB-first writing and bounded reading (Prometheus'
//! `tsdb/chunkenc/bstream.go` layout: bits fill each byte from its high bit down).

/// An append-only bit stream over a byte vector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BitWriter {
    pub bytes: Vec<u8>,
    /// Free bits in the last byte (0: start a new byte).
    free: u8,
}

impl BitWriter {
    /// Continues after `bytes`, whose last byte has `free` unused low bits.
    pub fn from_parts(bytes: Vec<u8>, free: u8) -> Self {
        Self { bytes, free }
    }

    /// Unused low bits in the last byte.
    pub fn free_bits(&self) -> u8 {
        self.free
    }

    /// Appends one bit.
    pub fn bit(&mut self, one: bool) {
        if self.free == 0 {
            self.bytes.push(0);
            self.free = 8;
        }
        self.free -= 1;
        if one && let Some(last) = self.bytes.last_mut() {
            *last |= 1 << self.free;
        }
    }

    /// Appends the low `n` bits of `v` (n ≤ 64), high bit first: whole bytes first, then
    /// single bits, as Prometheus' `bstream.writeBits` does (which decides the byte layout).
    pub fn bits(&mut self, v: u64, n: u32) {
        let mut n = n.min(64);
        let mut u = if n == 0 { 0 } else { v << (64 - n) };
        while n >= 8 {
            self.byte((u >> 56) as u8);
            u <<= 8;
            n -= 8;
        }
        while n > 0 {
            self.bit(u >> 63 == 1);
            u <<= 1;
            n -= 1;
        }
    }

    /// Appends a whole byte exactly like Prometheus' `bstream.writeByte`: the byte is split
    /// over the last byte's free bits and a new byte, which is *always* appended, even when
    /// the write was aligned (it is then entirely free and still part of the chunk).
    pub fn byte(&mut self, b: u8) {
        if self.free == 0 {
            self.bytes.push(0);
            self.free = 8;
        }
        if let Some(last) = self.bytes.last_mut() {
            *last |= b >> (8 - self.free);
        }
        self.bytes.push((u16::from(b) << self.free) as u8);
    }
}

/// Reads bits from a byte slice; every read fails cleanly at the end.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// One bit, or `None` past the end.
    pub fn bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.pos / 8)?;
        let b = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        Some(b)
    }

    /// `n` bits (n ≤ 64) as an unsigned integer, high bit first.
    pub fn bits(&mut self, n: u32) -> Option<u64> {
        if self.pos + n as usize > self.bytes.len() * 8 {
            return None;
        }
        let mut v = 0u64;
        let mut n = n;
        while n > 0 {
            let byte = self.bytes[self.pos / 8];
            let off = (self.pos % 8) as u32;
            let avail = 8 - off;
            let take = n.min(avail);
            let chunk = (u64::from(byte) >> (avail - take)) & ((1u64 << take) - 1);
            v = if take == 64 {
                chunk
            } else {
                (v << take) | chunk
            };
            self.pos += take as usize;
            n -= take;
        }
        Some(v)
    }

    /// One byte (aligned or not).
    pub fn byte(&mut self) -> Option<u8> {
        self.bits(8).map(|v| v as u8)
    }

    /// An unsigned LEB128 varint of at most 10 bytes.
    pub fn uvarint(&mut self) -> Option<u64> {
        let mut x = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            if i == 9 && b > 1 {
                return None; // overflows 64 bits
            }
            x |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Some(x);
            }
        }
        None
    }

    /// A zig-zag signed varint (Go's `binary.ReadVarint`).
    pub fn varint(&mut self) -> Option<i64> {
        let u = self.uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
}

/// Appends `x` as an unsigned LEB128 varint.
pub fn put_uvarint(w: &mut BitWriter, mut x: u64) {
    while x >= 0x80 {
        w.byte((x as u8) | 0x80);
        x >>= 7;
    }
    w.byte(x as u8);
}

/// Appends `x` as a zig-zag signed varint (Go's `binary.PutVarint`).
pub fn put_varint(w: &mut BitWriter, x: i64) {
    put_uvarint(w, ((x << 1) ^ (x >> 63)) as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_across_bytes() {
        let mut w = BitWriter::default();
        w.bit(true);
        w.bits(0b101, 3);
        w.bits(u64::MAX, 64);
        w.bits(0x1234, 13);
        put_varint(&mut w, -300);
        put_uvarint(&mut w, u64::MAX);
        let mut r = BitReader::new(&w.bytes);
        assert_eq!(r.bit(), Some(true));
        assert_eq!(r.bits(3), Some(0b101));
        assert_eq!(r.bits(64), Some(u64::MAX));
        assert_eq!(r.bits(13), Some(0x1234 & 0x1fff));
        assert_eq!(r.varint(), Some(-300));
        assert_eq!(r.uvarint(), Some(u64::MAX));
        // only padding is left
        assert!(r.bits(8).is_none());
    }

    #[test]
    fn known_bytes_msb_first() {
        let mut w = BitWriter::default();
        w.bits(0b10, 2);
        w.bits(0x3f, 6);
        w.bit(true);
        assert_eq!(w.bytes, vec![0b1011_1111, 0b1000_0000]);
        assert_eq!(w.free_bits(), 7);
        // Byte writes always leave a trailing (possibly wholly free) byte, as in Prometheus.
        let mut w = BitWriter::default();
        put_varint(&mut w, 1);
        put_uvarint(&mut w, 300);
        assert_eq!(w.bytes, vec![2, 0xac, 0x02, 0]);
        assert_eq!(w.free_bits(), 8);
        w.bits(0b101, 3);
        assert_eq!(w.bytes, vec![2, 0xac, 0x02, 0b1010_0000]);
    }

    #[test]
    fn overlong_varint_is_refused() {
        let mut r = BitReader::new(&[0xff; 11]);
        assert_eq!(r.uvarint(), None);
    }
}
