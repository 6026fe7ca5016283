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

/// Every part's file made empty, garbage, non-UTF-8, huge or truncated: that part (and only
/// that part, plus what depends on it) is an error; the rest of the host is still read.
#[test]
fn bad_input_is_an_error_for_that_part_only() {
    use crate::checks::testtree::TestTree;
    let cases: [(&str, &str, &[&str]); 12] = [
        ("proc.stat", "proc/stat", &[]),
        ("proc.meminfo", "proc/meminfo", &[]),
        ("proc.loadavg", "proc/loadavg", &[]),
        ("proc.vmstat", "proc/vmstat", &[]),
        ("proc.pressure", "proc/pressure/io", &[]),
        ("proc.diskstats", "proc/diskstats", &[]),
        ("proc.mounts", "proc/mounts", &["rootfs"]),
        ("sys.cpu", "sys/devices/system/cpu/online", &[]),
        ("sys.node", "sys/devices/system/node/node0/meminfo", &[]),
        (
            "sys.hugepages",
            "sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
            &[],
        ),
        ("sys.net", "sys/class/net/eth0/operstate", &[]),
        ("sys.net", "sys/class/net/eth0/statistics/rx_bytes", &[]),
    ];
    let huge = "1 ".repeat(3 << 20);
    let garbage: &[(&str, &[u8])] = &[
        ("garbage", b"hello world: x y z\n"),
        ("non-utf8", b"\xff\xfe\x00 1 2 3\n"),
        ("huge", huge.as_bytes()),
        ("empty", b""),
    ];
    for (part, file, also) in cases {
        for (what, bytes) in garbage {
            if *what == "empty" && part == "proc.diskstats" {
                continue; // a host without block devices has an empty diskstats
            }
            let t = TestTree::new("bad", &[]);
            t.interface("eth0", "up", Some(true));
            for f in [
                "nr_hugepages",
                "free_hugepages",
                "surplus_hugepages",
                "resv_hugepages",
            ] {
                t.write(
                    &format!("sys/kernel/mm/hugepages/hugepages-2048kB/{f}"),
                    "4\n",
                );
            }
            std::fs::write(t.0.join(file), bytes).unwrap();
            let mut errors = vec![];
            let h = collect(&t.root(), &[], &mut errors);
            let mut got: Vec<&str> = errors.iter().map(|e| e.source.as_str()).collect();
            got.dedup();
            let mut want = vec![part];
            want.extend_from_slice(also);
            got.sort_unstable();
            want.sort_unstable();
            assert_eq!(got, want, "{what} {file}: {errors:?}");
            assert!(
                errors
                    .iter()
                    .any(|e| e.reason.contains(file.rsplit('/').next().unwrap())),
                "{what} {file}: reason names the file: {errors:?}"
            );
            // Unrelated parts are still there.
            assert!(part == "proc.stat" || h.stat.is_some());
            assert!(part == "proc.meminfo" || h.meminfo.is_some());
            assert!(part == "sys.net" || h.net.is_some());
        }
        // Truncated mid-line: either still a valid prefix or an error of that part; never a
        // panic, never another part.
        let t = TestTree::new("trunc", &[]);
        t.interface("eth0", "up", Some(true));
        for f in ["nr_hugepages", "free_hugepages", "surplus_hugepages"] {
            t.write(
                &format!("sys/kernel/mm/hugepages/hugepages-2048kB/{f}"),
                "4\n",
            );
        }
        let full = std::fs::read(t.0.join(file)).unwrap();
        std::fs::write(t.0.join(file), &full[..full.len() / 2]).unwrap();
        let mut errors = vec![];
        collect(&t.root(), &[], &mut errors);
        assert!(
            errors
                .iter()
                .all(|e| e.source == part || also.contains(&e.source.as_str())),
            "truncated {file}: {errors:?}"
        );
    }
}
