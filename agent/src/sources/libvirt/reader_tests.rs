use super::*;

impl LibvirtSource {
    /// Collects with the fixture's own mount table.
    fn collect_for_test(&mut self, root: &HostRoot, errors: &mut Vec<SourceError>) -> Libvirt {
        let mounts = root
            .read_string("proc/mounts")
            .ok()
            .and_then(|t| crate::sources::proc::mounts::parse(&t).ok());
        self.collect(root, mounts.as_deref(), errors)
    }
}

fn fixture(name: &str) -> HostRoot {
    HostRoot::new(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
}

/// A writable copy of a fixture tree.
fn copy_fixture(name: &str, tag: &str) -> (std::path::PathBuf, HostRoot) {
    let dst = std::env::temp_dir().join(format!("hvscope-lv-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dst);
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(&dst)
        .status()
        .unwrap();
    assert!(st.success());
    let r = HostRoot::new(&dst);
    (dst, r)
}

#[test]
fn reads_both_fixture_domains_with_thread_roles() {
    let mut src = LibvirtSource::default();
    let mut errors = vec![];
    let l = src.collect_for_test(&fixture("libvirt-kvm-2vm"), &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(l.present);
    assert_eq!(l.vms.len(), 2);
    let a = &l.vms[0];
    assert_eq!(a.domain.name, "instance-0000002a");
    assert_eq!(a.rss_bytes, Some(41952 * 1024));
    let role = |tid| a.threads.iter().find(|t| t.tid == tid).unwrap();
    assert_eq!(role(25461).role, Role::Vcpu(0));
    assert_eq!(role(25461).affinity, Some(CpuSet::of([0])));
    assert_eq!(role(25461).sched.unwrap().wait_ns, 20924458163);
    assert_eq!(role(25462).role, Role::Vcpu(1));
    assert_eq!(role(25453).role, Role::Emulator);
    assert_eq!(
        role(25460).role,
        Role::Emulator,
        "IO mon_iothread is QEMU's monitor thread"
    );
    assert_eq!(
        role(25464).role,
        Role::Kernel,
        "kvm-nx-lpage-re is not a vCPU"
    );
    assert_eq!(role(25464).affinity, None);
    assert!(l.nova.is_none());
    // cgroups: v2 (unified) cpu.stat and PSI, v1 memory.
    let cg = a.cgroup.as_ref().unwrap();
    assert!(cg.cpu_usage_seconds.unwrap() > 1.0, "{cg:?}");
    assert!(cg.memory_bytes.unwrap() > 1 << 20, "{cg:?}");
    assert!(cg.memory_pressure.is_some());
    assert!(
        a.cgroup_v2_dir
            .as_ref()
            .unwrap()
            .ends_with("unified/machine/qemu-21-instance-0000002a.libvirt-qemu")
    );
    // The SLI sampler reads the same VM between collections.
    let samples = sample(&fixture("libvirt-kvm-2vm"), &[a.sli_target()]);
    assert_eq!(samples.len(), 1);
    assert!(samples[0].vcpu_wait_ns >= 20924458163);
    assert!(samples[0].memory_stall_us.is_some());
}

#[test]
fn drift_fixture_shows_the_moved_thread() {
    let mut src = LibvirtSource::default();
    let mut errors = vec![];
    let l = src.collect_for_test(&fixture("libvirt-kvm-2vm-drift"), &mut errors);
    let t = l.vms[0].threads.iter().find(|t| t.tid == 25461).unwrap();
    assert_eq!(t.affinity, Some(CpuSet::of([1])));
}

#[test]
fn a_broken_status_file_costs_that_domain_only_and_is_reparsed_when_fixed() {
    let (dir, root) = copy_fixture("libvirt-kvm-2vm", "broken");
    let xml = dir.join("run/libvirt/qemu/instance-0000002b.xml");
    let good = std::fs::read_to_string(&xml).unwrap();
    std::fs::write(&xml, &good[..good.len() / 3]).unwrap(); // half-written by libvirt
    let mut src = LibvirtSource::default();
    let mut errors = vec![];
    let l = src.collect_for_test(&root, &mut errors);
    assert_eq!(l.vms.len(), 1);
    assert_eq!(l.vms[0].domain.name, "instance-0000002a");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].source, "libvirt.domain/instance-0000002b");

    std::fs::write(&xml, &good).unwrap();
    let mut errors = vec![];
    assert_eq!(src.collect_for_test(&root, &mut errors).vms.len(), 2);
    assert!(errors.is_empty());

    // A domain whose process is gone (stopping) is skipped quietly.
    std::fs::remove_dir_all(dir.join("proc/25473")).unwrap();
    let mut errors = vec![];
    assert_eq!(src.collect_for_test(&root, &mut errors).vms.len(), 1);
    assert!(errors.is_empty(), "{errors:?}");
    // No libvirt at all: not an error, nothing present.
    std::fs::remove_dir_all(dir.join("run/libvirt")).unwrap();
    let l = src.collect_for_test(&root, &mut errors);
    assert!(!l.present && l.vms.is_empty() && errors.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unchanged_files_are_not_parsed_again() {
    let (dir, root) = copy_fixture("libvirt-kvm-2vm", "cache");
    let mut src = LibvirtSource::default();
    let mut errors = vec![];
    let first = src.collect_for_test(&root, &mut errors);
    let second = src.collect_for_test(&root, &mut errors);
    assert!(Arc::ptr_eq(&first.vms[0].domain, &second.vms[0].domain));
    // Touching the file (same content, new mtime) makes it parse again.
    let xml = dir.join("run/libvirt/qemu/instance-0000002a.xml");
    let t = std::fs::read_to_string(&xml).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&xml, format!("{t}\n")).unwrap();
    let third = src.collect_for_test(&root, &mut errors);
    assert!(!Arc::ptr_eq(&first.vms[0].domain, &third.vms[0].domain));
    assert_eq!(first.vms[0].domain, third.vms[0].domain);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn nova_conf_is_read_when_present() {
    let (dir, root) = copy_fixture("libvirt-kvm-2vm", "novaconf");
    std::fs::create_dir_all(dir.join("etc/nova")).unwrap();
    std::fs::write(
        dir.join("etc/nova/nova.conf"),
        "[compute]\ncpu_dedicated_set=1\n",
    )
    .unwrap();
    let mut errors = vec![];
    let l = LibvirtSource::default().collect_for_test(&root, &mut errors);
    assert_eq!(l.nova.unwrap().dedicated, Some(CpuSet::of([1])));
    std::fs::remove_dir_all(&dir).unwrap();
}
