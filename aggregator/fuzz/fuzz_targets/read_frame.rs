//! Fuzzes the `STREAMED_XOR_CHUNKS` frame reader (uvarint length, CRC32-C, message), as a
//! client of a remote-read peer runs it, over arbitrary bytes and over frames with valid
//! checksums around arbitrary message bytes.
#![no_main]

use hvscope_aggregator::remote_read::codec::read_frame;
use libfuzzer_sys::fuzz_target;

const CASTAGNOLI: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

fn read_all(mut rest: &[u8]) {
    while let Ok(Some((_, used))) = read_frame(rest, 1 << 16) {
        assert!(used > 0 && used <= rest.len());
        rest = &rest[used..];
    }
}

fuzz_target!(|data: &[u8]| {
    read_all(data);
    let mut framed = Vec::new();
    prost::encoding::encode_varint(data.len() as u64, &mut framed);
    framed.extend_from_slice(&CASTAGNOLI.checksum(data).to_be_bytes());
    framed.extend_from_slice(data);
    read_all(&framed);
});
