use super::*;
use crate::labels::MatchKind;

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

fn eq(n: &str, v: &str) -> Matcher {
    Matcher::new(MatchKind::Equal, n, v).unwrap()
}

#[test]
fn append_select_and_stats() {
    let db = Db::new(3_600_000);
    let a = l(&[("__name__", "up"), ("node", "a")]);
    let b = l(&[("__name__", "up"), ("node", "b")]);
    let mut ha = db.series(&a);
    for i in 0..200 {
        db.append(&mut ha, 1_000_000 + i * 10_000, i as f64);
    }
    db.append_labels(&b, 1_000_000, 7.0);
    assert_eq!(db.append(&mut ha, 5, 1.0), Appended::OutOfOrder);
    let sel = db
        .select(&[eq("__name__", "up")], i64::MIN, i64::MAX)
        .unwrap();
    assert_eq!(sel.len(), 2);
    assert_eq!(sel[0].labels, a, "sorted by labels");
    assert_eq!(sel[0].chunks.len(), 2);
    let none = db.select(&[eq("__name__", "up")], 0, 999_999).unwrap();
    assert!(none.is_empty(), "series without data in range are left out");
    let s = db.stats();
    assert_eq!(s.series, 2);
    assert_eq!(s.samples, 201);
    assert_eq!(s.out_of_order_total, 1);
    let held: usize = sel
        .iter()
        .flat_map(|x| x.chunks.iter())
        .map(|c| c.data.len())
        .sum();
    assert_eq!(s.chunk_bytes, held as u64);
    assert!(s.overhead_bytes > 0);
}

#[test]
fn retention_removes_old_data_and_series_come_back() {
    let db = Db::new(1_000);
    let a = l(&[("__name__", "m")]);
    let mut h = db.series(&a);
    for i in 0..130 {
        db.append(&mut h, i, 1.0);
    }
    assert_eq!(db.gc(1_125), 0, "the newest chunk is still in retention");
    assert_eq!(db.stats().samples, 10);
    assert_eq!(db.gc(10_000), 1);
    let s = db.stats();
    assert_eq!(
        (s.series, s.samples, s.chunk_bytes, s.overhead_bytes),
        (0, 0, 0, 0)
    );
    // The stale handle re-registers the series on its next append.
    db.append(&mut h, 20_000, 2.0);
    let sel = db.select(&[eq("__name__", "m")], 0, i64::MAX).unwrap();
    assert_eq!(sel.len(), 1);
    assert_eq!(
        xor::decode(&sel[0].chunks[0].data).unwrap(),
        vec![(20_000, 2.0)]
    );
}

#[test]
fn batch_appender_counts_once_per_batch_like_single_appends() {
    let one = Db::new(i64::MAX / 4);
    let many = Db::new(i64::MAX / 4);
    let labels: Vec<Labels> = (0..5)
        .map(|i| l(&[("__name__", "m"), ("i", &i.to_string())]))
        .collect();
    let mut h1: Vec<SeriesHandle> = labels.iter().map(|x| one.series(x)).collect();
    let mut h2: Vec<SeriesHandle> = labels.iter().map(|x| many.series(x)).collect();
    for k in 0..300i64 {
        let t = if k == 7 { 0 } else { 1_000 + k * 10_000 }; // one out-of-order batch
        for (i, h) in h1.iter_mut().enumerate() {
            one.append(h, t, (k * i as i64) as f64);
        }
        let mut a = many.appender();
        for (i, h) in h2.iter_mut().enumerate() {
            a.append(h, t, (k * i as i64) as f64);
        }
        if k == 100 {
            // counters are published when the appender is dropped
            assert_eq!(many.stats().samples, one.stats().samples - 5);
        }
    }
    assert_eq!(one.stats(), many.stats());
    assert_eq!(many.stats().samples, 299 * 5);
    assert_eq!(many.stats().out_of_order_total, 5);
    let a = one.select(&[], i64::MIN, i64::MAX).unwrap();
    let b = many.select(&[], i64::MIN, i64::MAX).unwrap();
    assert_eq!(
        a.iter().map(|s| &s.chunks).collect::<Vec<_>>(),
        b.iter().map(|s| &s.chunks).collect::<Vec<_>>()
    );
}

#[test]
fn a_shadow_head_taps_what_it_stores_and_keeps_one_sample_per_series() {
    let db = Db::shadow(1000);
    let l = Labels::from_pairs(&[("__name__", "m")]);
    let mut h = db.series(&l);
    let mut a = db.appender();
    for t in 1..=300 {
        a.append(&mut h, t, t as f64);
    }
    assert_eq!(a.append(&mut h, 5, 1.0), Appended::OutOfOrder);
    assert!(!a.append_if_newer(&mut h, 300, 2.0));
    drop(a);
    let tapped = db.take_tapped();
    assert_eq!(tapped.len(), 300);
    assert_eq!(tapped[299], (l.clone(), 300, 300.0));
    assert!(db.take_tapped().is_empty());
    let s = h.lock().unwrap();
    assert_eq!((s.samples, s.closed.len(), s.max_time()), (1, 0, Some(300)));
    drop(s);
    // forgotten like the real head's series once older than the retention
    assert_eq!(db.gc(2000), 1);
    assert_eq!(db.stats().series, 0);
}

#[test]
fn closed_chunks_in_files_read_back_as_in_memory_and_go_with_retention() {
    let dir = crate::tsdb::disk::test_dir("db-files");
    let mem = Db::new(3_600_000);
    let disk = Db::new(3_600_000).with_chunk_files(ChunkFiles::open(&dir.0).unwrap(), 0);
    for db in [&mem, &disk] {
        for s in 0..20 {
            let mut h = db.series(&l(&[("__name__", "m"), ("s", &s.to_string())]));
            let mut a = db.appender();
            for i in 0..500i64 {
                a.append(&mut h, i * 10_000, (i * s * 7919 % 1013) as f64);
            }
        }
    }
    let (m, d) = (mem.stats(), disk.stats());
    assert_eq!((m.chunk_bytes, m.samples), (d.chunk_bytes, d.samples));
    assert_eq!(m.chunk_disk_bytes, 0);
    // 4 of each series' 5 chunks are closed: on disk; the open one stays on the heap.
    let open: u64 = d.chunk_bytes - d.chunk_disk_bytes;
    assert!(d.chunk_disk_bytes > 3 * open, "{d:?}");
    assert_eq!((d.chunk_files, d.chunk_write_errors_total), (1, 0));
    assert!(disk.accounted_bytes() < mem.accounted_bytes() / 2);
    for (mint, maxt) in [
        (i64::MIN, i64::MAX),
        (1_300_000, 2_500_000),
        (4_900_000, 5_000_000),
    ] {
        let a = mem.select(&[], mint, maxt).unwrap();
        let b = disk.select(&[], mint, maxt).unwrap();
        assert!(!a.is_empty());
        assert_eq!(
            a.iter().map(|s| (&s.labels, &s.chunks)).collect::<Vec<_>>(),
            b.iter().map(|s| (&s.labels, &s.chunks)).collect::<Vec<_>>()
        );
    }
    // Retention frees disk chunks and counts them out.
    disk.gc(3_600_000 + 2_400_000);
    let after = disk.stats();
    assert_eq!(after.samples, 500 * 20 - 240 * 20);
    assert!(after.chunk_disk_bytes < d.chunk_disk_bytes, "{after:?}");
    assert_eq!(
        after.chunk_bytes - after.chunk_disk_bytes,
        open,
        "open chunks untouched"
    );
    disk.gc(i64::MAX / 2);
    let empty = disk.stats();
    assert_eq!(
        (empty.series, empty.chunk_bytes, empty.chunk_disk_bytes),
        (0, 0, 0)
    );
}
