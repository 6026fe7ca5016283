use std::io::Write;

use hvscope_proto::v1::Batch;

use super::*;

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("hvscope-wal-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        Self(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn opts(d: &Dir, segment_bytes: u64, max_bytes: u64) -> WalOptions {
    WalOptions {
        dir: d.0.clone(),
        fsync: true,
        segment_bytes,
        max_bytes,
    }
}

fn rec(seq: u64) -> WalRecord {
    WalRecord {
        node: "n".into(),
        batch: Some(Batch {
            seq,
            timestamp_ms: seq as i64 * 1000,
            values: vec![seq as f64; 10],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn seqs(o: &WalOptions) -> (Vec<u64>, ReplayStats) {
    let mut got = Vec::new();
    let (_, stats) = Wal::open(o.clone(), |r| got.push(r.batch.unwrap().seq)).unwrap();
    (got, stats)
}

#[test]
fn replays_in_order_across_restarts_and_segments() {
    let d = Dir::new("order");
    let o = opts(&d, 300, 1 << 30);
    let (wal, s) = Wal::open(o.clone(), |_| panic!("empty")).unwrap();
    assert_eq!(s.records, 0);
    let mut seen_segments = Vec::new();
    for i in 1..=20 {
        wal.append(|seg| {
            seen_segments.push(seg);
            rec(i)
        })
        .unwrap();
    }
    assert!(seen_segments.last() > seen_segments.first(), "rotated");
    drop(wal);
    let (got, stats) = seqs(&o);
    assert_eq!(got, (1..=20).collect::<Vec<_>>());
    assert_eq!(stats.torn_tails, 0);
    // a second restart sees the same (the first restart's empty segment included)
    assert_eq!(seqs(&o).0.len(), 20);
}

#[test]
fn torn_tail_is_truncated_with_the_rest_kept() {
    let d = Dir::new("torn");
    let o = opts(&d, 1 << 20, 1 << 30);
    let (wal, _) = Wal::open(o.clone(), |_| {}).unwrap();
    for i in 1..=5 {
        wal.append(|_| rec(i)).unwrap();
    }
    drop(wal);
    // a crash in the middle of a write: half a frame at the end
    let last = std::fs::read_dir(&d.0)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| std::fs::metadata(p).unwrap().len() > 0)
        .max()
        .unwrap();
    let mut half = Vec::new();
    record::encode(&rec(6), &mut half);
    let mut f = OpenOptions::new().append(true).open(&last).unwrap();
    f.write_all(&half[..half.len() / 2]).unwrap();
    drop(f);
    let (got, stats) = seqs(&o);
    assert_eq!(got, vec![1, 2, 3, 4, 5]);
    assert_eq!(stats.torn_tails, 1);
    // truncated for good: the next start finds a clean log
    assert_eq!(seqs(&o).1.torn_tails, 0);
}

#[test]
fn retention_and_size_bound_delete_whole_segments() {
    let d = Dir::new("bound");
    let o = opts(&d, 200, 1 << 30);
    let (wal, _) = Wal::open(o.clone(), |_| {}).unwrap();
    for i in 1..=30 {
        wal.append(|_| rec(i)).unwrap();
    }
    let before = wal.bytes();
    assert!(wal.truncate_before(10_500) > 0);
    assert!(wal.bytes() < before);
    drop(wal);
    let (got, _) = seqs(&o);
    assert!(got[0] > 1 && got[0] <= 11, "{got:?}");
    assert_eq!(*got.last().unwrap(), 30);

    let small = opts(&d, 200, 600);
    let (wal, _) = Wal::open(small.clone(), |_| {}).unwrap();
    assert!(wal.bytes() <= 600 + 200, "{}", wal.bytes());
}

#[test]
fn concurrent_synced_appends_share_syncs() {
    let d = Dir::new("group");
    // Small segments: rotations happen while others wait for a sync.
    let o = opts(&d, 4096, 1 << 30);
    let (wal, _) = Wal::open(o.clone(), |_| {}).unwrap();
    let wal = std::sync::Arc::new(wal);
    let threads = 16;
    let per = 20;
    std::thread::scope(|s| {
        for t in 0..threads {
            let wal = wal.clone();
            s.spawn(move || {
                for i in 0..per {
                    wal.append(|_| rec((t * per + i + 1) as u64)).unwrap();
                }
            });
        }
    });
    let appends = (threads * per) as u64;
    let syncs = wal.syncs();
    assert!(syncs >= 1 && syncs <= appends, "{syncs}");
    drop(wal);
    let (mut got, _) = seqs(&o);
    got.sort_unstable();
    assert_eq!(
        got,
        (1..=appends).collect::<Vec<_>>(),
        "every record durable once"
    );
    println!("{appends} synced appends from {threads} threads took {syncs} syncs");
}
