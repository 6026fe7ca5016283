use super::*;
use crate::series::SeriesBuf;

fn fixture() -> HostRoot {
    HostRoot::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/libvirt-kvm-2vm"
    ))
}

fn names(out: &SeriesBuf) -> Vec<&str> {
    out.samples.iter().map(|s| s.labels.name()).collect()
}

#[test]
fn fixture_host_has_all_parts() {
    let mut errors = vec![];
    let h = collect(
        &fixture(),
        &["qemu-system-x86_64".into(), "libvirtd".into()],
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert!(h.pressure.is_some() && h.vmstat.is_some() && h.diskstats.is_some());
    assert_eq!(h.numa.as_ref().unwrap().len(), 1);
    assert!(
        h.net.is_none() && h.hugepages.is_none(),
        "not captured in this fixture"
    );
    assert!(h.daemons[0].up(), "qemu runs in the capture");
    assert!(
        !h.daemons[1].up(),
        "libvirtd's /proc entry was not captured"
    );
    let mut out = SeriesBuf::default();
    series::series(&h, &mut out);
    let n = names(&out);
    assert!(n.contains(&"hvscope_host_memory_available_bytes"));
    assert!(n.contains(&"hvscope_host_oom_kills_total"));
    assert!(n.contains(&"hvscope_host_rootfs_info"));
    assert!(
        !n.contains(&"hvscope_host_rootfs_size_bytes"),
        "no statvfs below a fixture"
    );
    assert_eq!(
        n.iter()
            .filter(|n| **n == "hvscope_host_cpu_seconds_total")
            .count(),
        8
    );
    assert_eq!(
        n.iter()
            .filter(|n| **n == "hvscope_host_logical_cpu_seconds_total")
            .count(),
        16
    );
    assert_eq!(
        n.iter()
            .filter(|n| **n == "hvscope_host_pressure_stalled_seconds_total")
            .count(),
        6
    );
    let vda = out
        .samples
        .iter()
        .find(|s| s.labels.name() == "hvscope_host_disk_read_bytes_total")
        .unwrap();
    assert_eq!(vda.labels.get("device"), Some("vda"));
    assert_eq!(vda.value, (7857782u64 * 512) as f64);
}

#[test]
fn a_missing_root_is_an_error_per_part() {
    let mut errors = vec![];
    let h = collect(&HostRoot::new("/nonexistent-hvscope"), &[], &mut errors);
    assert!(h.stat.is_none() && h.meminfo.is_none() && h.loadavg.is_none());
    let sources: Vec<_> = errors.iter().map(|e| e.source.as_str()).collect();
    for part in [
        "proc.stat",
        "proc.mounts",
        "rootfs",
        "proc.processes",
        "sys.cpu",
    ] {
        assert!(sources.contains(&part), "{part}: {sources:?}");
    }
}

#[test]
fn live_host_reads_every_part() {
    let mut errors = vec![];
    let h = collect(&HostRoot::default(), &[], &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(h.rootfs.unwrap().usage.is_some());
    assert!(h.net.unwrap().iter().any(|i| i.name == "lo"));
    assert!(!h.cpus.unwrap().topology.is_empty());
}
