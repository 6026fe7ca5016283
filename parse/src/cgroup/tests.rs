use super::*;
use crate::proc::mounts;

const FX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../agent/tests/fixtures/libvirt-kvm-2vm"
);
const QEMU_CGROUP: &str =
    include_str!("../../../agent/tests/fixtures/libvirt-kvm-2vm/proc/25453/cgroup");
const MOUNTS: &str = include_str!("../../../agent/tests/fixtures/libvirt-kvm-2vm/proc/mounts");

#[test]
fn v1_plus_unified_fixture_layout() {
    let m = parse_proc_cgroup(QEMU_CGROUP).unwrap();
    assert_eq!(m.len(), 10);
    assert!(m.last().unwrap().is_v2());
    let cm = CgroupMounts::from_mounts(&mounts::parse(MOUNTS).unwrap());
    assert_eq!(cm.v2.as_deref(), Some("/sys/fs/cgroup/unified"));
    assert!(
        cm.v1
            .iter()
            .any(|(c, p)| c == &["cpu"] && p == "/sys/fs/cgroup/cpu")
    );
    assert!(cm.v1.iter().any(|(c, _)| c == &["name=systemd"]));
    let dirs = cm.dirs(&m);
    let cpu = dirs
        .iter()
        .find(|d| d.hierarchy == Hierarchy::V1(vec!["cpu".into()]))
        .unwrap();
    assert_eq!(
        cpu.dir,
        PathBuf::from("/sys/fs/cgroup/cpu/machine/qemu-21-instance-0000002a.libvirt-qemu/emulator")
    );
    // The directories exist in the capture.
    assert!(
        std::path::Path::new(FX)
            .join(cpu.dir.strip_prefix("/").unwrap())
            .is_dir()
    );
    let v2 = dirs.iter().find(|d| d.hierarchy == Hierarchy::V2).unwrap();
    assert_eq!(
        thread_group(v2.dir.to_str().unwrap()),
        ThreadGroup::Emulator
    );
    assert_eq!(
        domain_path(&m[0].path),
        None,
        "name=systemd is the root here"
    );
    assert_eq!(
        domain_path("/machine/qemu-21-instance-0000002a.libvirt-qemu/emulator"),
        Some("/machine/qemu-21-instance-0000002a.libvirt-qemu")
    );
    assert_eq!(
        vcpu_subdir("/machine/qemu-21-x.libvirt-qemu", true, 1),
        "vcpu1"
    );
}

#[test]
fn systemd_layouts() {
    let v2 = "0::/machine.slice/machine-qemu\\x2d3\\x2dinstance\\x2d00000001.scope/libvirt/vcpu2\n";
    let m = parse_proc_cgroup(v2).unwrap();
    let dp = domain_path(&m[0].path).unwrap();
    assert_eq!(
        dp,
        "/machine.slice/machine-qemu\\x2d3\\x2dinstance\\x2d00000001.scope"
    );
    assert_eq!(thread_group(&m[0].path), ThreadGroup::Vcpu(2));
    assert_eq!(vcpu_subdir(dp, true, 2), "libvirt/vcpu2");
    let v1 = "4:cpu,cpuacct:/machine.slice/machine-qemu\\x2d3\\x2dx.scope/emulator\n";
    let m = parse_proc_cgroup(v1).unwrap();
    let cm = CgroupMounts::from_mounts(
        &mounts::parse("cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,cpu,cpuacct 0 0")
            .unwrap(),
    );
    let d = cm.dirs(&m);
    assert_eq!(
        d[0].dir,
        PathBuf::from(
            "/sys/fs/cgroup/cpu,cpuacct/machine.slice/machine-qemu\\x2d3\\x2dx.scope/emulator"
        )
    );
    assert_eq!(
        vcpu_subdir("/machine.slice/machine-qemu-1.scope", false, 0),
        "vcpu0"
    );
    assert_eq!(thread_group("/machine.slice/x.scope"), ThreadGroup::Other);
    assert_eq!(domain_path("/user.slice/session-1.scope"), None);
}

#[test]
fn rejects_garbage() {
    for bad in ["", "x", "a:b:/c", "1:cpu:relative", "1:cpu"] {
        assert!(parse_proc_cgroup(bad).is_err(), "{bad:?}");
    }
    // Unmounted hierarchies give no directory rather than a wrong one.
    let m = parse_proc_cgroup("3:blkio:/machine/x.libvirt-qemu").unwrap();
    assert!(CgroupMounts::default().dirs(&m).is_empty());
}
