//! Fuzzes the XOR chunk decoder on arbitrary bytes (chunks arrive from remote-read peers in
//! tests and from memory otherwise) and the encoder/decoder pair: samples taken from the input
//! (sorted timestamps, any float bits) encode to a chunk that decodes to the same bits.
#![no_main]

use hvscope_aggregator::tsdb::xor::{self, XorChunk};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(count) = xor::sample_count(data) {
        let mut n = 0usize;
        if let Ok(it) = xor::iter(data) {
            for r in it {
                if r.is_err() {
                    break;
                }
                n += 1;
            }
        }
        assert!(n <= count as usize);
        if let Ok(all) = xor::decode(data) {
            assert_eq!(all.len(), count as usize);
        }
    }

    // Round trip: 16-byte records (timestamp, value bits); timestamps made non-decreasing.
    let mut samples: Vec<(i64, u64)> = data
        .chunks_exact(16)
        .map(|c| {
            (
                i64::from_le_bytes(c[..8].try_into().unwrap()),
                u64::from_le_bytes(c[8..].try_into().unwrap()),
            )
        })
        .collect();
    samples.sort_by_key(|s| s.0);
    samples.dedup_by_key(|s| s.0);
    samples.truncate(xor::SAMPLES_PER_CHUNK as usize);
    let mut c = XorChunk::new();
    for &(t, v) in &samples {
        c.append(t, f64::from_bits(v));
    }
    let back = xor::decode(c.bytes()).expect("own chunk decodes");
    assert_eq!(back.len(), samples.len());
    for ((t, v), (bt, bv)) in samples.iter().zip(&back) {
        assert_eq!(*t, *bt);
        assert_eq!(*v, bv.to_bits());
    }
});
