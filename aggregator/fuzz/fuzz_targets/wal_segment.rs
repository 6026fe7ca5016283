//! Fuzzes WAL replay: a segment's framing (length, CRC32-C, record) on arbitrary bytes, and
//! records with valid checksums around arbitrary protobuf bytes replayed into a node store
//! (as after a restart on a corrupted disk). Replay must never panic, and the valid prefix it
//! reports must re-encode to the same records.
#![no_main]

use std::sync::Arc;

use hvscope_aggregator::nodes::NodeStore;
use hvscope_aggregator::tsdb::Db;
use hvscope_aggregator::wal::record::{decode_all, encode};
use libfuzzer_sys::fuzz_target;

const CASTAGNOLI: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

fuzz_target!(|data: &[u8]| {
    let (mode, rest) = match data.split_first() {
        Some((m, r)) => (*m, r),
        None => return,
    };
    let segment = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        // Bodies separated by 0xfe get valid frames, to reach record decoding and replay.
        let mut seg = Vec::new();
        for body in rest.split(|b| *b == 0xfe) {
            seg.extend_from_slice(&(body.len() as u32).to_le_bytes());
            seg.extend_from_slice(&CASTAGNOLI.checksum(body).to_le_bytes());
            seg.extend_from_slice(body);
        }
        seg
    };
    let (records, valid, torn) = decode_all(&segment);
    assert!(valid <= segment.len());
    assert_eq!(torn.is_none(), valid == segment.len());
    let mut again = Vec::new();
    for r in &records {
        encode(r, &mut again);
    }
    let (back, _, torn_again) = decode_all(&again);
    assert!(torn_again.is_none());
    assert_eq!(back, records);
    let store = NodeStore::with_db(Arc::new(Db::new(i64::MAX)));
    for r in records {
        store.replay(r);
    }
    store.resume_after_restart(500);
    store.record_liveness(1_000, 60_000, 30_000);
    let _ = store.view(true);
});
