use super::*;
use crate::checks::run_all;
use crate::io::HostRoot;
use crate::snapshot::Snapshot;
use crate::sources::libvirt::Thread;
use std::sync::Arc;

fn fixture(name: &str) -> Snapshot {
    Snapshot::collect(&HostRoot::new(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )))
}

fn checks() -> Vec<Box<dyn Check>> {
    vec![
        Box::new(AffinityDrift),
        Box::new(DedicatedOverlap),
        Box::new(OutsideDedicatedSet {
            dedicated: None,
            shared: None,
        }),
        Box::new(NumaMismatch),
    ]
}

const A: &str = "3b9f6d2e-8c41-4a7f-9e15-2d6c0a4b7f11";
const B: &str = "7e2a1c94-5f03-4d8b-b6a2-9c1e8f0d3a22";

#[test]
fn baseline_has_only_the_overlap_on_cpu_1() {
    let snap = fixture("libvirt-kvm-2vm");
    let f = run_all(&checks(), &snap);
    let f: Vec<_> = f
        .iter()
        .filter(|f| f.check.starts_with("pinning."))
        .collect();
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].check, DEDICATED_OVERLAP);
    assert_eq!(f[0].subject["cpu"], "1");
    assert!(
        f[0].message
            .contains(&format!("{A} (instance-0000002a) vcpu 1")),
        "{}",
        f[0].message
    );
    assert!(
        f[0].message
            .contains(&format!("{B} (instance-0000002b) vcpu 0"))
    );
    assert!(
        !f[0].message.contains("vcpu 0, ")
            || !f[0]
                .message
                .contains(&format!("{A} (instance-0000002a) vcpu 0"))
    );
}

#[test]
fn drift_fixture_finds_vcpu0_of_a() {
    let snap = fixture("libvirt-kvm-2vm-drift");
    let f = run_all(&checks(), &snap);
    let drift: Vec<_> = f.iter().filter(|f| f.check == AFFINITY_DRIFT).collect();
    assert_eq!(drift.len(), 1, "{drift:#?}");
    assert_eq!(drift[0].subject["domain_uuid"], A);
    assert_eq!(drift[0].subject["domain_name"], "instance-0000002a");
    assert_eq!(drift[0].subject["vcpu"], "0");
    assert_eq!(
        drift[0].message,
        "vCPU 0 thread 25461 may run on CPUs 1; domain XML pins it to 0"
    );
    let overlap: Vec<_> = f.iter().filter(|f| f.check == DEDICATED_OVERLAP).collect();
    assert_eq!(overlap.len(), 1);
    assert_eq!(overlap[0].subject["cpu"], "1");
    assert!(
        overlap[0]
            .message
            .contains(&format!("{A} (instance-0000002a) vcpu 0"))
    );
    assert_eq!(crate::checks::exit_code(&f), 2);
}

fn set(s: &str) -> CpuSet {
    CpuSet::parse(s).unwrap()
}

/// One VM, hand-built: vcpu0 pinned to 4 running on `vcpu0_actual`, emulator pinned 0-1.
fn hand_vm(uuid: &str, vcpu0_pin: &str, vcpu0_actual: &str, emulator_actual: &str) -> Vm {
    let mut d = Domain {
        name: format!("inst-{uuid}"),
        uuid: uuid.into(),
        state: "running".into(),
        ..Default::default()
    };
    d.cputune.vcpupin.insert(0, set(vcpu0_pin));
    d.cputune.emulatorpin = Some(set("0-1"));
    d.cputune.iothreadpin.insert(1, set("2"));
    let t = |tid, role, aff: &str| Thread {
        tid,
        role,
        comm: String::new(),
        affinity: Some(set(aff)),
        sched: None,
    };
    Vm {
        domain: Arc::new(d),
        threads: vec![
            t(10, Role::Emulator, emulator_actual),
            t(11, Role::Emulator, emulator_actual),
            t(12, Role::Vcpu(0), vcpu0_actual),
            t(13, Role::IoThread(1), "2"),
            t(14, Role::Kernel, "0-63"),
        ],
        rss_bytes: None,
        swap_bytes: None,
        cpu_seconds: None,
        cgroup: None,
        cgroup_v2_dir: None,
    }
}

#[test]
fn emulator_and_iothread_drift_and_kernel_threads_ignored() {
    let mut snap = Snapshot::default();
    snap.libvirt.vms = vec![hand_vm("u1", "4", "4", "0-7")];
    let f = AffinityDrift.run(&snap);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].subject["thread"], "emulator");
    assert!(
        f[0].message
            .contains("emulator threads 10, 11 may run on CPUs 0-7"),
        "{}",
        f[0].message
    );
    snap.libvirt.vms = vec![hand_vm("u1", "4", "4", "0-1")];
    assert!(AffinityDrift.run(&snap).is_empty());
}

#[test]
fn overlap_needs_two_domains_and_single_cpu_pins() {
    let mut snap = Snapshot::default();
    snap.libvirt.vms = vec![
        hand_vm("u1", "4", "4", "0-1"),
        hand_vm("u2", "5", "5", "0-1"),
    ];
    assert!(DedicatedOverlap.run(&snap).is_empty());
    snap.libvirt.vms = vec![
        hand_vm("u1", "4", "4", "0-1"),
        hand_vm("u2", "4-5", "4-5", "0-1"),
    ];
    assert!(
        DedicatedOverlap.run(&snap).is_empty(),
        "a floating vCPU is not dedicated"
    );
    snap.libvirt.vms = vec![
        hand_vm("u1", "4", "4", "0-1"),
        hand_vm("u2", "5", "4", "0-1"),
    ];
    let f = DedicatedOverlap.run(&snap);
    assert_eq!(f.len(), 1, "u2's vCPU actually runs on 4");
    assert_eq!(f[0].subject["cpu"], "4");
}

#[test]
fn outside_dedicated_set_from_nova_conf_or_config() {
    let mut snap = Snapshot::default();
    snap.libvirt.vms = vec![hand_vm("u1", "4", "4", "0-1")];
    let cfg = OutsideDedicatedSet {
        dedicated: Some(set("2-3")),
        shared: Some(set("6-7")),
    };
    let f = cfg.run(&snap);
    assert_eq!(f.len(), 2, "{f:#?}");
    assert_eq!(f[0].subject["vcpu"], "0");
    assert_eq!(f[1].subject["thread"], "emulator");
    // nova.conf wins over the config.
    snap.libvirt.nova = Some(hvscope_parse::libvirt::novaconf::NovaCpuSets {
        dedicated: Some(set("4-5")),
        shared: Some(set("0-1")),
    });
    assert!(cfg.run(&snap).is_empty());
    // No sets known anywhere: nothing to check.
    snap.libvirt.nova = None;
    assert!(
        OutsideDedicatedSet {
            dedicated: None,
            shared: None
        }
        .run(&snap)
        .is_empty()
    );
}

#[test]
fn numa_mismatch() {
    let mut snap = Snapshot::default();
    let mut vm = hand_vm("u1", "4", "4", "0-1");
    Arc::make_mut(&mut vm.domain).numatune = Some(hvscope_parse::libvirt::model::NumaTune {
        mode: "strict".into(),
        nodeset: set("0"),
    });
    snap.libvirt.vms = vec![vm];
    assert!(
        NumaMismatch.run(&snap).is_empty(),
        "no topology known: nothing checked"
    );
    let node = |node, cpus: std::ops::Range<u32>| crate::sources::sys::node::Node {
        node,
        cpus: cpus.collect(),
        ..Default::default()
    };
    snap.host.numa = Some(vec![node(0, 0..4), node(1, 4..8)]);
    let f = NumaMismatch.run(&snap);
    assert_eq!(f.len(), 1);
    assert!(f[0].message.contains("NUMA nodes 1"), "{}", f[0].message);
    Arc::make_mut(&mut snap.libvirt.vms[0].domain)
        .numatune
        .as_mut()
        .unwrap()
        .nodeset = set("1");
    assert!(NumaMismatch.run(&snap).is_empty());
}
