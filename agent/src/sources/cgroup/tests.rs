use hvscope_parse::cgroup::Hierarchy;
use hvscope_parse::proc::mounts;

use super::*;

const FX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/libvirt-kvm-2vm"
);
const MOUNTS: &str = include_str!("../../../tests/fixtures/libvirt-kvm-2vm/proc/mounts");

#[test]
fn locates_fixture_domains() {
    let root = crate::io::HostRoot::new(FX);
    let cm = CgroupMounts::from_mounts(&mounts::parse(MOUNTS).unwrap());
    let d = locate_domain(&root, 25473, &cm).unwrap().unwrap();
    assert_eq!(d.path, "/machine/qemu-22-instance-0000002b.libvirt-qemu");
    // cpu, cpuset, memory, blkio, freezer (v1) and the unified hierarchy.
    assert_eq!(d.dirs.len(), 6, "{:?}", d.dirs);
    for dir in &d.dirs {
        assert!(
            dir.dir
                .ends_with("machine/qemu-22-instance-0000002b.libvirt-qemu")
        );
    }
    let v2 = d
        .dirs
        .iter()
        .find(|x| x.hierarchy == Hierarchy::V2)
        .unwrap();
    let s = stats::read(&root, &v2.dir).unwrap();
    assert!(s.cpu_usage_seconds.unwrap() > 0.0);
    let mem = d
        .dirs
        .iter()
        .find(|x| x.hierarchy == Hierarchy::V1(vec!["memory".into()]))
        .unwrap();
    assert!(stats::read(&root, &mem.dir).unwrap().memory_bytes.unwrap() > 0);
    assert!(
        locate_domain(&root, 999_999, &cm).is_err(),
        "vanished process"
    );
    let live = crate::io::HostRoot::default();
    let self_pid = std::process::id();
    assert!(
        locate_domain(&live, self_pid, &cm).unwrap().is_none(),
        "not a domain"
    );
}
