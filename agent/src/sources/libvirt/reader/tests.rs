use super::super::process::Reading;
use super::super::vm::Role;
use super::*;
use crate::io::Holder;
use hvscope_parse::cgroup::CgroupMounts;
use hvscope_parse::cpuset::CpuSet;

/// A [`LibvirtSource`] with the fd budget of this process, as the collector holds them.
struct TestSource {
    src: LibvirtSource,
    fds: FdBudget,
}

impl Default for TestSource {
    fn default() -> Self {
        Self {
            src: LibvirtSource::new(),
            fds: FdBudget::for_process(),
        }
    }
}

impl TestSource {
    /// Collects with the fixture's own mount table.
    fn collect_for_test(&mut self, root: &HostRoot, errors: &mut Vec<SourceError>) -> Libvirt {
        let mounts = root
            .read_string("proc/mounts")
            .ok()
            .and_then(|t| hvscope_parse::proc::mounts::parse(&t).ok());
        self.src
            .read(root, &self.fds, mounts.as_deref(), None, errors)
    }

    fn sample(&mut self, root: &HostRoot) -> Vec<VmSample> {
        self.sample_quiet(root, false)
    }

    fn sample_quiet(&mut self, root: &HostRoot, memory_quiet: bool) -> Vec<VmSample> {
        let mut out = Vec::new();
        self.src.sample(root, &self.fds, memory_quiet, &mut out);
        out
    }
}

impl std::ops::Deref for TestSource {
    type Target = LibvirtSource;
    fn deref(&self) -> &LibvirtSource {
        &self.src
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
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dst = hvscope_testkit::copy_dir(&fixture.join(name), &format!("lv-{tag}"));
    let r = HostRoot::new(&dst);
    (dst, r)
}

#[test]
fn reads_both_fixture_domains_with_thread_roles() {
    let mut src = TestSource::default();
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
    // The SLI sampler reads the same VMs between collections.
    let samples = src.sample(&fixture("libvirt-kvm-2vm"));
    assert_eq!(samples.len(), 2);
    assert_eq!(&*samples[0].uuid, a.domain.uuid.as_str());
    assert!(samples[0].vcpu_wait_ns >= 20924458163);
    assert!(samples[0].memory_stall_us.is_some());
}

#[test]
fn drift_fixture_shows_the_moved_thread() {
    let mut src = TestSource::default();
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
    let mut src = TestSource::default();
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
    let mut src = TestSource::default();
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
    // libvirt's own rewrite: a new file renamed over the status file, here pausing the domain.
    let new = dir.join("run/libvirt/qemu/instance-0000002a.xml.new");
    std::fs::write(&new, t.replacen("state='running'", "state='paused'", 1)).unwrap();
    std::fs::rename(&new, &xml).unwrap();
    let fourth = src.collect_for_test(&root, &mut errors);
    assert_eq!(fourth.vms[0].domain.state, "paused");
    assert!(Arc::ptr_eq(&third.vms[1].domain, &fourth.vms[1].domain));
    // A domain whose status file appears is read in the next collection.
    let other = dir.join("run/libvirt/qemu/instance-0000002b.xml");
    let moved = dir.join("hvscope-moved.xml");
    std::fs::rename(&other, &moved).unwrap();
    assert_eq!(src.collect_for_test(&root, &mut errors).vms.len(), 1);
    std::fs::rename(&moved, &other).unwrap();
    assert_eq!(src.collect_for_test(&root, &mut errors).vms.len(), 2);
    assert!(errors.is_empty(), "{errors:?}");
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
    let l = TestSource::default().collect_for_test(&root, &mut errors);
    assert_eq!(l.nova.unwrap().dedicated, Some(CpuSet::of([1])));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tids(l: &Libvirt, vm: usize) -> Vec<u32> {
    l.vms[vm].threads.iter().map(|t| t.tid).collect()
}

/// Adds thread `tid` named `comm` to process 25453 of a fixture copy (a copy of thread 25460).
fn add_thread(dir: &std::path::Path, tid: u32, comm: &str) {
    let task = dir.join("proc/25453/task");
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(task.join("25460"))
        .arg(task.join(tid.to_string()))
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::write(task.join(format!("{tid}/comm")), format!("{comm}\n")).unwrap();
}

fn set_thread_count(dir: &std::path::Path, n: u32) {
    let p = dir.join("proc/25453/status");
    let t = std::fs::read_to_string(&p).unwrap();
    let t: String = t
        .lines()
        .map(|l| {
            if l.starts_with("Threads:") {
                format!("Threads:\t{n}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&p, t).unwrap();
}

#[test]
fn the_thread_listing_is_kept_while_the_count_holds_and_every_thread_is_there() {
    let (dir, root) = copy_fixture("libvirt-kvm-2vm", "tasks");
    let mut src = TestSource::default();
    let mut errors = vec![];
    let all = [25453, 25457, 25460, 25461, 25462, 25464];
    assert_eq!(tids(&src.collect_for_test(&root, &mut errors), 0), all);
    // A new thread while the process still counts 6 (as the status file says): the listing
    // holds (on a real host the count would have moved with it).
    add_thread(&dir, 25470, "worker");
    assert_eq!(tids(&src.collect_for_test(&root, &mut errors), 0), all);
    // The count moves: listed again, the new thread named and an emulator thread.
    set_thread_count(&dir, 7);
    let l = src.collect_for_test(&root, &mut errors);
    let w = l.vms[0].threads.iter().find(|t| t.tid == 25470).unwrap();
    assert_eq!((w.comm.as_str(), w.role), ("worker", Role::Emulator));
    assert_eq!(l.vms[0].threads.len(), 7);
    // One thread exits and another starts between two collections: same count, but a listed
    // thread is gone, so the listing is done again.
    std::fs::remove_dir_all(dir.join("proc/25453/task/25457")).unwrap();
    add_thread(&dir, 25471, "worker");
    let ids = tids(&src.collect_for_test(&root, &mut errors), 0);
    assert!(ids.contains(&25471) && !ids.contains(&25457), "{ids:?}");
    // Likewise for a kernel helper thread, of which nothing else is read.
    std::fs::remove_dir_all(dir.join("proc/25453/task/25464")).unwrap();
    add_thread(&dir, 25472, "kvm-pit/25453");
    let l = src.collect_for_test(&root, &mut errors);
    let ids = tids(&l, 0);
    assert!(ids.contains(&25472) && !ids.contains(&25464), "{ids:?}");
    assert_eq!(l.vms[0].threads.last().unwrap().role, Role::Kernel);
    assert!(errors.is_empty(), "{errors:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_cgroup_is_located_once_per_status_file_and_again_at_revalidation() {
    let (dir, root) = copy_fixture("libvirt-kvm-2vm", "cglocate");
    let mut src = TestSource::default();
    let mut errors = vec![];
    let first = src.collect_for_test(&root, &mut errors);
    let cg = first.vms[0].cgroup.clone();
    assert!(cg.is_some());
    // The process's cgroup file is not read again while the status file is unchanged...
    std::fs::write(dir.join("proc/25453/cgroup"), "0::/\n").unwrap();
    let l = src.collect_for_test(&root, &mut errors);
    assert_eq!(l.vms[0].cgroup, cg);
    // ...but the control files are read every time.
    let usage =
        dir.join("sys/fs/cgroup/unified/machine/qemu-21-instance-0000002a.libvirt-qemu/cpu.stat");
    let text = std::fs::read_to_string(&usage).unwrap();
    std::fs::write(&usage, text.replacen("usage_usec ", "usage_usec 1", 1)).unwrap();
    let l = src.collect_for_test(&root, &mut errors);
    assert!(
        l.vms[0].cgroup.as_ref().unwrap().cpu_usage_seconds
            > cg.as_ref().unwrap().cpu_usage_seconds
    );
    // A rewritten status file starts the VM afresh: located again (now in no domain cgroup).
    let xml = dir.join("run/libvirt/qemu/instance-0000002a.xml");
    let t = std::fs::read_to_string(&xml).unwrap();
    std::fs::write(&xml, format!("{t}\n")).unwrap();
    let l = src.collect_for_test(&root, &mut errors);
    assert_eq!(l.vms[0].cgroup, None);
    assert_eq!(l.vms[0].cgroup_v2_dir, None);
    // Without a status change, refresh period everything is read anew.
    std::fs::copy(
        fixture("libvirt-kvm-2vm").path("proc/25453/cgroup"),
        dir.join("proc/25453/cgroup"),
    )
    .unwrap();
    let mut located = None;
    for n in 1..=crate::io::REFRESH.collections() {
        if src.collect_for_test(&root, &mut errors).vms[0]
            .cgroup
            .is_some()
        {
            located = Some(n);
            break;
        }
    }
    assert!(located.is_some(), "never located again");
    assert!(errors.is_empty(), "{errors:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn vms_that_stop_leave_the_kept_state_and_the_sampler() {
    let (dir, root) = copy_fixture("libvirt-kvm-2vm", "stop");
    let mut src = TestSource::default();
    let mut errors = vec![];
    assert_eq!(src.collect_for_test(&root, &mut errors).vms.len(), 2);
    assert_eq!(src.sample(&root).len(), 2);
    std::fs::remove_file(dir.join("run/libvirt/qemu/instance-0000002b.xml")).unwrap();
    assert_eq!(src.collect_for_test(&root, &mut errors).vms.len(), 1);
    assert_eq!(src.vms.len(), 1);
    let s = src.sample(&root);
    assert_eq!(s.len(), 1);
    // A vCPU thread gone between collections: that VM is left out of the sample.
    std::fs::remove_dir_all(dir.join("proc/25453/task/25462")).unwrap();
    assert!(src.sample(&root).is_empty());
    assert!(errors.is_empty(), "{errors:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_collection_is_the_sample_the_sampler_would_take_once() {
    let (dir, root) = copy_fixture("libvirt-kvm-2vm", "collected");
    let mut src = TestSource::default();
    let mut errors = vec![];
    let mut collected = Vec::new();
    src.src.collected_sample(&mut collected);
    assert!(collected.is_empty(), "nothing collected yet");
    let l = src.collect_for_test(&root, &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    src.src.collected_sample(&mut collected);
    let sampled = src.sample(&root);
    assert_eq!(collected.len(), 2);
    assert_eq!(
        collected, sampled,
        "the same figures, from the collection's reads"
    );
    assert!(
        collected
            .iter()
            .all(|s| s.vcpu_wait_ns > 0 && s.memory_stall_us.is_some())
    );
    let wait: u64 = l.vms[0]
        .threads
        .iter()
        .filter_map(|t| t.sched.map(|s| s.wait_ns))
        .sum();
    assert_eq!(collected[0].vcpu_wait_ns, wait);
    // Taken once: the next tick's sample is the sampler's.
    src.src.collected_sample(&mut collected);
    assert!(collected.is_empty());
    // A vCPU thread that cannot be read leaves its VM out, as the sampler does.
    std::fs::remove_dir_all(dir.join("proc/25453/task/25462")).unwrap();
    src.collect_for_test(&root, &mut errors);
    src.src.collected_sample(&mut collected);
    assert_eq!(collected.len(), 1);
    assert_eq!(collected, src.sample(&root));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_quiet_host_memory_psi_skips_the_vm_memory_pressure_reads() {
    let (dir, root) = copy_fixture("libvirt-kvm-2vm", "quiet");
    let mut src = TestSource::default();
    let mut errors = vec![];
    src.collect_for_test(&root, &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    let stall = |s: &[VmSample]| s[0].memory_stall_us;
    // never read yet: read even when the host is quiet
    let first = stall(&src.sample_quiet(&root, true));
    assert!(first.is_some());
    let file = dir.join(
        "sys/fs/cgroup/unified/machine/qemu-21-instance-0000002a.libvirt-qemu/memory.pressure",
    );
    std::fs::write(
        &file,
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=987654321\n\
         full avg10=0.00 avg60=0.00 avg300=0.00 total=1\n",
    )
    .unwrap();
    // quiet: the last total again, the file not read
    assert_eq!(stall(&src.sample_quiet(&root, true)), first);
    // not quiet: read
    assert_eq!(stall(&src.sample_quiet(&root, false)), Some(987654321));
    assert_eq!(stall(&src.sample_quiet(&root, true)), Some(987654321));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_quiet_host_psi_total_keeps_the_vm_pressure_readings_of_that_resource() {
    let (dir, root) = copy_fixture("libvirt-kvm-2vm", "quietpsi");
    let mounts = root
        .read_string("proc/mounts")
        .ok()
        .and_then(|t| hvscope_parse::proc::mounts::parse(&t).ok());
    let mut src = TestSource::default();
    let mut collect = |host: Option<[f64; 3]>| {
        let mut errors = vec![];
        let l = src
            .src
            .read(&root, &src.fds, mounts.as_deref(), host, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let cg = l.vms[0].cgroup.clone().unwrap();
        [cg.cpu_pressure, cg.memory_pressure, cg.io_pressure]
            .map(|p| p.map(|p| p.some.total_seconds))
    };
    let first = collect(Some([1.0, 2.0, 3.0]));
    assert!(first.iter().all(Option::is_some), "{first:?}");
    let vm = dir.join("sys/fs/cgroup/unified/machine/qemu-21-instance-0000002a.libvirt-qemu");
    for f in ["cpu.pressure", "memory.pressure", "io.pressure"] {
        std::fs::write(
            vm.join(f),
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=7000000\n\
             full avg10=0.00 avg60=0.00 avg300=0.00 total=1\n",
        )
        .unwrap();
    }
    // The host's cpu total moved, memory and io stood still: only cpu.pressure is read.
    let second = collect(Some([1.5, 2.0, 3.0]));
    assert_eq!(second, [Some(7.0), first[1], first[2]]);
    // Memory moved now: read; io still quiet.
    assert_eq!(
        collect(Some([1.5, 2.5, 3.0])),
        [Some(7.0), Some(7.0), first[2]]
    );
    // Without the host's totals (no PSI, or unreadable) every file is read.
    assert_eq!(collect(None), [Some(7.0); 3]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_live_host_keeps_files_open_within_the_budget() {
    // This test process as a "VM": its status and stat files and a thread's schedstat are
    // read through kept files on the live host, within the budget given.
    let pid = std::process::id();
    let domain = Arc::new(Domain {
        name: "self".into(),
        uuid: "00000000-0000-4000-8000-000000000000".into(),
        state: "running".into(),
        pid: Some(pid),
        vcpu_threads: [(0, pid)].into(),
        vcpus: 1,
        ..Domain::default()
    });
    let root = HostRoot::default();
    let mut st = VmState::new(domain);
    let mut buf = Vec::new();
    let cg_mounts = CgroupMounts::default();
    for (budget, open) in [(0, 0), (2, 2), (10, 3)] {
        let mut st2 = VmState::new(st.domain.clone());
        let fds = FdBudget::with_caps([(Holder::Libvirt, budget)]);
        let read = Reading {
            root: &root,
            cg_mounts: &cg_mounts,
            fds: &fds,
            buf: &mut buf,
            swapless: None,
            psi_quiet: [false; 3],
        };
        let vm = read.vm(&mut st2, pid).unwrap().unwrap();
        assert!(vm.rss_bytes.is_some() && vm.cpu_seconds.is_some());
        let main = vm.threads.iter().find(|t| t.tid == pid).unwrap();
        assert_eq!(main.role, Role::Vcpu(0));
        assert!(main.sched.is_some() && main.affinity.is_some());
        assert_eq!(st2.open_files(), open, "budget {budget}");
        assert_eq!(fds.held(Holder::Libvirt), open, "budget {budget}");
        st = st2;
    }
    // Read again through the kept files: the same figures move forward.
    let fds = FdBudget::none();
    let read = Reading {
        root: &root,
        cg_mounts: &cg_mounts,
        fds: &fds,
        buf: &mut buf,
        swapless: None,
        psi_quiet: [false; 3],
    };
    let again = read.vm(&mut st, pid).unwrap().unwrap();
    let sched = again.threads.iter().find(|t| t.tid == pid).unwrap().sched;
    assert!(sched.unwrap().run_ns > 0);
    assert_eq!(st.open_files(), 3);
    // Without swap on the host, RSS and the thread count come from the stat line alone: the
    // status file is not opened, and the figures agree with it.
    let mut st = VmState::new(st.domain.clone());
    let fds = FdBudget::with_caps([(Holder::Libvirt, 10)]);
    let read = Reading {
        root: &root,
        cg_mounts: &cg_mounts,
        fds: &fds,
        buf: &mut buf,
        swapless: Some(4096),
        psi_quiet: [false; 3],
    };
    let vm = read.vm(&mut st, pid).unwrap().unwrap();
    assert_eq!(st.open_files(), 2, "stat and the vCPU's schedstat");
    assert_eq!(vm.swap_bytes, Some(0));
    let status = hvscope_parse::proc::pidstatus::parse(
        &root.read_string(format!("proc/{pid}/status")).unwrap(),
    )
    .unwrap();
    let (a, b) = (vm.rss_bytes.unwrap(), status.vm_rss_bytes.unwrap());
    assert!(a.abs_diff(b) < 64 << 20, "{a} vs {b}");
    assert!(vm.cpu_seconds.is_some() && !vm.threads.is_empty());
}

#[test]
fn swap_devices_are_told_from_the_header() {
    let header = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
    assert!(no_swap_devices(header));
    assert!(!no_swap_devices(&format!(
        "{header}/dev/zram0                              partition\t4194300\t\t0\t\t100\n"
    )));
    assert!(!no_swap_devices(""));
    assert!(!no_swap_devices("garbage\n"));
}
