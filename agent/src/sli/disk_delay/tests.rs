use super::*;
use hvscope_parse::proc::diskstats::parse;

/// One diskstats reading of `sda` with `ios` completed reads that took `ms`, `inflight` queued.
fn sda(ios: u64, ms: u64, inflight: u64) -> Vec<DiskStat> {
    parse(&format!(
        "8 0 sda {ios} 0 {} {ms} 0 0 0 0 {inflight} {ms} 0",
        ios * 8
    ))
    .unwrap()
}

fn vm() -> Vec<VmDevices> {
    vec![VmDevices {
        uuid: "u1".into(),
        name: "instance-1".into(),
        devices: vec!["sda".into()],
    }]
}

#[test]
fn counts_seconds_above_threshold() {
    let mut s = DiskDelaySli::new(20.0, 5000);
    s.sample(0, &sda(0, 0, 0), &vm());
    assert_eq!(
        s.get("u1"),
        Some(VmDiskSli::default()),
        "first reading: nothing yet"
    );
    // 1 s, 10 I/Os of 5 ms: fine.
    s.sample(1000, &sda(10, 50, 0), &vm());
    // 1 s, 10 I/Os of 30 ms: delayed.
    s.sample(2000, &sda(20, 350, 0), &vm());
    // 1 s idle: observed, not delayed (no latency without I/O).
    s.sample(3000, &sda(20, 350, 0), &vm());
    // 1 s with I/O stuck in flight and nothing completing: delayed.
    s.sample(4000, &sda(20, 350, 2), &vm());
    s.sample(5000, &sda(20, 350, 2), &vm());
    let c = s.get("u1").unwrap();
    assert_eq!(c.observed_secs, 5.0);
    assert_eq!(c.delayed_secs, 2.0);
    let mut out = SeriesBuf::default();
    s.series(&mut out);
    let delayed = out
        .samples
        .iter()
        .find(|x| x.labels.name() == "hvscope_vm_disk_delayed_seconds_total")
        .unwrap();
    assert_eq!(delayed.value, 2.0);
    assert!(delayed.labels.get("domain_uuid").is_some());
    assert_eq!(
        delayed.labels.get("domain_name"),
        None,
        "names live in hvscope_vm_info"
    );
}

#[test]
fn gaps_resets_and_vanished_vms_are_not_counted() {
    let mut s = DiskDelaySli::new(20.0, 5000);
    s.sample(0, &sda(0, 0, 0), &vm());
    // A 10 s stall of the sampler with slow I/O: not attributed.
    s.sample(10_000, &sda(10, 1000, 0), &vm());
    assert_eq!(s.get("u1"), Some(VmDiskSli::default()));
    // Counters went backwards (device re-created): not observed.
    s.sample(11_000, &sda(1, 100, 0), &vm());
    assert_eq!(s.get("u1").unwrap().observed_secs, 0.0);
    // The same instant again: ignored.
    s.sample(11_000, &sda(2, 200, 0), &vm());
    assert_eq!(s.get("u1").unwrap().observed_secs, 0.0);
    // A device not in diskstats: the VM is not observed.
    let other = vec![VmDevices {
        devices: vec!["sdz".into()],
        ..vm()[0].clone()
    }];
    s.sample(12_000, &sda(3, 300, 0), &other);
    assert_eq!(s.get("u1").unwrap().observed_secs, 0.0);
    // The VM is gone: its counters are dropped.
    s.sample(13_000, &sda(3, 300, 0), &[]);
    assert_eq!(s.get("u1"), None);
}

#[test]
fn vm_devices_from_the_join() {
    use crate::sources::iscsi::join::{Backing, DiskMapping};
    let map = |disk: &str, backing| DiskMapping {
        domain_name: "i".into(),
        domain_uuid: "u".into(),
        disk: disk.into(),
        source: String::new(),
        backing,
    };
    let kernel = |dev: &str| Backing::Kernel {
        device: dev.into(),
        multipath: None,
        disks: vec![dev.into()],
        sessions: vec!["session1".into()],
        paths: vec![],
    };
    let v = vm_devices(&[
        map("vda", kernel("sda")),
        map("vdb", kernel("dm-0")),
        map("vdc", kernel("sda")),
        map("vdd", Backing::NotIscsi),
    ]);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].devices, ["sda", "dm-0"]);
}
