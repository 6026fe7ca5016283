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
    let sel = db.select(&[eq("__name__", "up")], i64::MIN, i64::MAX);
    assert_eq!(sel.len(), 2);
    assert_eq!(sel[0].labels, a, "sorted by labels");
    assert_eq!(sel[0].chunks.len(), 2);
    let none = db.select(&[eq("__name__", "up")], 0, 999_999);
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
    let sel = db.select(&[eq("__name__", "m")], 0, i64::MAX);
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
    let a = one.select(&[], i64::MIN, i64::MAX);
    let b = many.select(&[], i64::MIN, i64::MAX);
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
