use super::*;

/// Prometheus' stale marker (`value.StaleNaN`).
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

fn encode(samples: &[(i64, f64)]) -> XorChunk {
    let mut c = XorChunk::new();
    for &(t, v) in samples {
        c.append(t, v);
    }
    c
}

fn same(a: &[(i64, f64)], b: &[(i64, f64)]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.0, y.0);
        assert_eq!(x.1.to_bits(), y.1.to_bits(), "{} vs {}", x.1, y.1);
    }
}

#[test]
fn round_trips_regular_and_irregular_series() {
    let mut s = Vec::new();
    let mut t = 1_700_000_000_000i64;
    let mut x = 12345u64;
    for i in 0..120 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // jitter of every bucket size: 0, small, 14, 17, 20 and 64 bits
        t += match i % 7 {
            0 => 10_000,
            1 => 10_003,
            2 => 10_000 + 5_000,
            3 => 10_000 + 60_000,
            4 => 10_000 + 500_000,
            5 => 10_000 + 10_000_000_000,
            _ => 1,
        };
        let v = match i % 5 {
            0 => i as f64,
            1 => (x >> 11) as f64 / 7.0,
            2 => -0.0,
            3 => f64::from_bits(x),
            _ => 1e300,
        };
        s.push((t, v));
    }
    let c = encode(&s);
    assert_eq!(c.len(), 120);
    assert!(c.is_full());
    same(&decode(c.bytes()).unwrap(), &s);
}

#[test]
fn edge_values_survive() {
    let s = vec![
        (-5, f64::NAN),
        (0, f64::INFINITY),
        (1, f64::NEG_INFINITY),
        (2, f64::from_bits(STALE_NAN)),
        (3, f64::MIN_POSITIVE),
        (4, f64::MAX),
        (i64::MAX / 2, 0.0),
        (i64::MAX / 2 + 1, f64::from_bits(1)),
    ];
    same(&decode(encode(&s).bytes()).unwrap(), &s);
    let one = [(i64::MIN, -1.5)];
    same(&decode(encode(&one).bytes()).unwrap(), &one);
}

#[test]
fn known_byte_vectors() {
    // Worked by hand from xor.go: header 0x0003; varint(1000)=0xd0 0x0f; 1.0 raw;
    // uvarint(10)=0x0a; value 2.0 vs 1.0: xor=0x7ff0… → leading 1, trailing 52, sig 11:
    // bits 1 1 00001 001011 11111111111; third sample: dod 0 → 0, value 2.0 unchanged → 0.
    let c = encode(&[(1000, 1.0), (1010, 2.0), (1020, 2.0)]);
    let mut want = vec![0x00, 0x03, 0xd0, 0x0f];
    want.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
    want.push(0x0a);
    // 11 00001 0 | 01011 111 | 11111111 | 00 (pad)
    want.extend_from_slice(&[0b1100_0010, 0b0101_1111, 0b1111_1111, 0b0000_0000]);
    assert_eq!(c.bytes(), &want[..]);

    // A one-sample chunk ends with the wholly free byte Prometheus' writeByte leaves.
    let one = encode(&[(1000, 1.0)]);
    assert_eq!(one.bytes().len(), 2 + 2 + 8 + 1);
    assert_eq!(one.bytes().last(), Some(&0));

    // An empty chunk is just the header.
    assert_eq!(XorChunk::new().bytes(), &[0, 0]);
    assert_eq!(decode(&[0, 0]).unwrap(), vec![]);
}

#[test]
fn dod_bucket_bounds_follow_bit_range() {
    assert!(bit_range(8192, 14) && !bit_range(8193, 14));
    assert!(bit_range(-8191, 14) && !bit_range(-8192, 14));
    for dod in [
        8192i64, 8193, -8191, -8192, 65536, 65537, -65535, 524288, -524288,
    ] {
        let s = [(0, 1.0), (100_000_000, 1.0), (200_000_000 + dod, 1.0)];
        same(&decode(encode(&s).bytes()).unwrap(), &s);
    }
}

#[test]
fn garbage_never_panics() {
    assert_eq!(decode(&[]), Err(XorError::NoHeader));
    assert_eq!(decode(&[7]), Err(XorError::NoHeader));
    assert!(matches!(
        decode(&[0, 5, 1]),
        Err(XorError::Truncated { index: 0, .. })
    ));
    let good = encode(&[(1, 1.0), (2, 3.0), (4, 9.0), (9, -1.0)]);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for n in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 40) as usize;
        let mut buf: Vec<u8> = (0..len).map(|i| (x >> (i % 8 * 8)) as u8).collect();
        if n % 2 == 0 && buf.len() >= 2 {
            buf[..2].copy_from_slice(&0xffffu16.to_be_bytes());
        }
        let _ = decode(&buf);
        // truncations and bit flips of a valid chunk
        let mut g = good.bytes().to_vec();
        let i = (x as usize) % g.len();
        g[i] ^= 1 << (x % 8);
        let _ = decode(&g);
        let _ = decode(&good.bytes()[..i]);
    }
}
