//! iSCSI checks over the real guest captures and synthetic trees, with hand-built domains.

use hvscope_parse::libvirt::model::{Disk, DiskSource};

use super::*;
use crate::io::HostRoot;
use crate::sources::iscsi::testtree::{TestLun, TestTree};

const T2: &str = "iqn.2010-10.org.openstack:volume-9b8e1d2c-4f3a-4c6b-a7e5-0f1d2c3b4a59";
const P1: &str = "/dev/disk/by-path/ip-10.0.2.100:3260-iscsi-iqn.2010-10.org.openstack:volume-5d0c3f6e-7a21-4b9e-8f3d-2c6a1e9b0d47-lun-1";
const P2: &str = "/dev/disk/by-path/ip-10.0.2.101:3260-iscsi-iqn.2010-10.org.openstack:volume-9b8e1d2c-4f3a-4c6b-a7e5-0f1d2c3b4a59-lun-1";

fn state(fixture: &str) -> IscsiState {
    let root = HostRoot::new(format!(
        "{}/tests/fixtures/{fixture}",
        env!("CARGO_MANIFEST_DIR")
    ));
    let mut errors = Vec::new();
    let st = crate::sources::iscsi::collect(&root, &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    st
}

fn block(dev: &str) -> DiskSource {
    DiskSource::Block {
        dev: dev.to_owned(),
    }
}

fn dom(name: &str, sources: Vec<DiskSource>) -> Domain {
    Domain {
        name: name.to_owned(),
        uuid: format!("uuid-{name}"),
        state: "running".to_owned(),
        disks: sources
            .into_iter()
            .enumerate()
            .map(|(i, source)| Disk {
                target: format!("vd{}", (b'a' + i as u8) as char),
                bus: "virtio".to_owned(),
                device: "disk".to_owned(),
                source,
                serial: None,
            })
            .collect(),
        ..Default::default()
    }
}

fn ids(f: &[Finding]) -> Vec<&str> {
    f.iter().map(|f| f.check.as_str()).collect()
}

#[test]
fn healthy_capture_is_clean_with_or_without_domains() {
    let st = state("iscsi-guest");
    let cfg = IscsiConfig::default();
    assert_eq!(findings(&st, None, &cfg), vec![]);
    let doms = [dom("vm1", vec![block(P1)]), dom("vm2", vec![block(P2)])];
    assert_eq!(findings(&st, Some(&doms), &cfg), vec![]);
}

#[test]
fn orphan_when_no_domain_uses_a_logged_in_session() {
    let st = state("iscsi-guest");
    let mut cfg = IscsiConfig::default();
    let doms = [dom("vm1", vec![block(P1)])];
    let f = findings(&st, Some(&doms), &cfg);
    assert_eq!(ids(&f), [ORPHAN_SESSION]);
    assert_eq!(f[0].severity, Severity::Warning);
    assert_eq!(f[0].subject["session"], "session2");
    assert_eq!(f[0].subject["target"], T2);
    assert!(f[0].message.contains("disks: sdb"), "{}", f[0].message);
    // A shut-off domain uses nothing.
    let mut off = dom("vm2", vec![block(P2)]);
    off.state = "shutoff".to_owned();
    assert_eq!(
        ids(&findings(&st, Some(&[doms[0].clone(), off]), &cfg)),
        [ORPHAN_SESSION]
    );
    cfg.ignore_targets.push(T2.to_owned());
    assert_eq!(findings(&st, Some(&doms), &cfg), vec![]);
    cfg.ignore_targets.clear();
    cfg.report_orphans = false;
    assert_eq!(findings(&st, Some(&doms), &cfg), vec![]);
}

#[test]
fn failed_capture_has_exactly_one_session_down() {
    let st = state("iscsi-guest-failed");
    let cfg = IscsiConfig::default();
    let f = findings(&st, None, &cfg);
    assert_eq!(ids(&f), [SESSION_DOWN]);
    let f = &f[0];
    assert_eq!(
        f.severity,
        Severity::Critical,
        "domains unknown: not downgraded"
    );
    assert_eq!(f.subject["session"], "session2");
    assert_eq!(f.subject["target"], T2);
    assert_eq!(f.subject["portal"], "10.0.2.101:3260");
    assert_eq!(f.subject["disks"], "sdb");
    assert!(f.message.contains("is FAILED") && f.message.contains("connection2:0 failed"));
    assert!(f.message.contains("sdb blocked"), "{}", f.message);

    // Used by a VM: critical and naming it; unused while domains are known: a warning.
    let used = findings(
        &st,
        Some(&[dom("vm2", vec![block(P2)]), dom("vm1", vec![block(P1)])]),
        &cfg,
    );
    assert_eq!(ids(&used), [SESSION_DOWN]);
    assert_eq!(used[0].severity, Severity::Critical);
    assert_eq!(used[0].subject["domain_name"], "vm2");
    assert!(
        used[0].message.contains("used by vm2 vda"),
        "{}",
        used[0].message
    );
    let unused = findings(&st, Some(&[dom("vm1", vec![block(P1)])]), &cfg);
    assert_eq!(ids(&unused), [SESSION_DOWN]);
    assert_eq!(unused[0].severity, Severity::Warning);
}

#[test]
fn timed_out_capture_is_caught_not_only_the_string_failed() {
    let st = state("iscsi-guest-failed-timedout");
    let f = findings(&st, None, &IscsiConfig::default());
    assert_eq!(ids(&f), [SESSION_DOWN]);
    assert!(f[0].message.contains("is FREE"), "{}", f[0].message);
    assert!(
        f[0].message.contains("sdb transport-offline"),
        "{}",
        f[0].message
    );
    assert!(
        f[0].message.contains("recovery timed out"),
        "{}",
        f[0].message
    );
}

#[test]
fn disk_without_session_and_network_disks() {
    let mut t = TestTree::new("chk-missing");
    t.session(
        1,
        "iqn.t:a",
        "10.0.0.1",
        "LOGGED_IN",
        "up",
        &[TestLun::disk(1, "sda")],
    );
    // A stale by-path link whose device no session holds.
    t.link(
        "dev/disk/by-path/ip-10.0.0.3:3260-iscsi-iqn.t:stale-lun-1",
        "../../sdq",
    );
    let root = HostRoot::new(t.root());
    let st = crate::sources::iscsi::collect(&root, &mut Vec::new());
    let ok = block("/dev/disk/by-path/ip-10.0.0.1:3260-iscsi-iqn.t:a-lun-1");
    let gone = block("/dev/disk/by-path/ip-10.0.0.2:3260-iscsi-iqn.t:b-lun-1");
    let stale = block("/dev/disk/by-path/ip-10.0.0.3:3260-iscsi-iqn.t:stale-lun-1");
    let libiscsi = DiskSource::Network {
        protocol: "iscsi".to_owned(),
        name: "iqn.t:c/1".to_owned(),
        hosts: vec![("10.0.0.4".to_owned(), 3260)],
    };
    let file = DiskSource::File {
        path: "/var/lib/nova/instances/x/disk.config".to_owned(),
    };
    let doms = [dom(
        "vm1",
        vec![ok.clone(), libiscsi.clone(), file, DiskSource::None],
    )];
    let cfg = IscsiConfig::default();
    assert_eq!(findings(&st, Some(&doms), &cfg), vec![]);

    let doms = [dom("vm1", vec![ok, gone, stale])];
    let f = findings(&st, Some(&doms), &cfg);
    assert_eq!(ids(&f), [DISK_WITHOUT_SESSION, DISK_WITHOUT_SESSION]);
    assert!(f.iter().all(|f| f.severity == Severity::Critical));
    assert_eq!(f[0].subject["disk"], "vdb");
    assert_eq!(f[0].subject["target"], "iqn.t:b");
    assert_eq!(f[0].subject["portal"], "10.0.0.2:3260");
    assert!(
        f[0].message.contains("does not exist on the host"),
        "{}",
        f[0].message
    );
    assert!(
        f[1].message
            .contains("(sdq) is not a LUN of any iSCSI session"),
        "{}",
        f[1].message
    );
    // Without domains nothing can be said about disks.
    assert_eq!(findings(&st, None, &cfg), vec![]);

    assert_eq!(
        join::backing(&st, &libiscsi),
        Backing::Libiscsi {
            target: "iqn.t:c".to_owned(),
            portals: vec!["10.0.0.4:3260".to_owned()]
        }
    );
}

fn multipath_tree(second: (&str, &str)) -> TestTree {
    let mut t = TestTree::new("chk-mp");
    t.session(
        1,
        "iqn.t:a",
        "10.0.0.1",
        "LOGGED_IN",
        "up",
        &[TestLun::disk(1, "sda")],
    );
    t.session(
        2,
        "iqn.t:a",
        "10.0.1.1",
        second.0,
        second.1,
        &[TestLun::disk(1, "sdb")],
    );
    t.multipath(0, "mpatha", &["sda", "sdb"]);
    t
}

#[test]
fn multipath_degraded_and_clear() {
    let cfg = IscsiConfig::default();
    let vm = [dom("vm1", vec![block("/dev/mapper/mpatha")])];
    let healthy = multipath_tree(("LOGGED_IN", "up"));
    let st = crate::sources::iscsi::collect(&HostRoot::new(healthy.root()), &mut Vec::new());
    assert_eq!(findings(&st, Some(&vm), &cfg), vec![]);
    let m = join::join(&st, &vm);
    let Backing::Kernel {
        device,
        multipath,
        sessions,
        paths,
        ..
    } = &m[0].backing
    else {
        panic!("{m:?}")
    };
    assert_eq!(
        (device.as_str(), multipath.as_deref()),
        ("dm-0", Some("dm-0"))
    );
    assert_eq!(sessions, &["session1", "session2"]);
    assert_eq!(paths.len(), 2);
    // Three paths expected (globally, or for this map by name or WWID): degraded.
    let three = IscsiConfig {
        expected_paths: Some(3),
        ..Default::default()
    };
    assert_eq!(ids(&findings(&st, Some(&vm), &three)), [PATH_DEGRADED]);
    let mut by_name = IscsiConfig::default();
    by_name.expected_paths_by_device.insert("mpatha".into(), 3);
    assert_eq!(ids(&findings(&st, Some(&vm), &by_name)), [PATH_DEGRADED]);
    by_name.expected_paths = Some(4);
    by_name.expected_paths_by_device.insert("mpatha".into(), 2);
    assert_eq!(findings(&st, Some(&vm), &by_name), vec![]);

    let failed = multipath_tree(("FAILED", "failed"));
    let st = crate::sources::iscsi::collect(&HostRoot::new(failed.root()), &mut Vec::new());
    let f = findings(&st, Some(&vm), &cfg);
    assert_eq!(ids(&f), [SESSION_DOWN, PATH_DEGRADED]);
    assert_eq!(f[0].severity, Severity::Critical);
    assert_eq!(f[0].subject["domain_name"], "vm1");
    assert_eq!(f[1].severity, Severity::Warning);
    assert_eq!(f[1].subject["device"], "dm-0");
    assert!(
        f[1].message
            .contains("1 of 2 paths active (not active: sdb)"),
        "{}",
        f[1].message
    );
}

#[test]
fn configured_checks_run_on_a_collected_snapshot() {
    let root = HostRoot::new(format!(
        "{}/tests/fixtures/iscsi-guest-failed",
        env!("CARGO_MANIFEST_DIR")
    ));
    let snap = Snapshot::collect(&root);
    let all = super::super::configured(&crate::config::Config::default());
    let ids_ = all
        .iter()
        .map(|c| c.id())
        .filter(|id| id.starts_with("iscsi."))
        .collect::<Vec<_>>();
    assert_eq!(
        ids_,
        [
            SESSION_DOWN,
            DISK_WITHOUT_SESSION,
            ORPHAN_SESSION,
            PATH_DEGRADED
        ]
    );
    let f: Vec<Finding> = super::super::run_all(&all, &snap)
        .into_iter()
        .filter(|f| f.check.starts_with("iscsi."))
        .collect();
    assert_eq!(ids(&f), [SESSION_DOWN]);
    assert_eq!(f[0].subject["target"], T2);
}

#[test]
fn join_resolves_by_id_direct_names_and_mapper() {
    let st = state("iscsi-guest");
    let kernel_device = |src: &str| match join::backing(&st, &block(src)) {
        Backing::Kernel {
            device, sessions, ..
        } => Some((device, sessions)),
        _ => None,
    };
    let sdb = Some(("sdb".to_owned(), vec!["session2".to_owned()]));
    assert_eq!(
        kernel_device("/dev/disk/by-id/wwn-0x60000000000000000e00000000020001"),
        sdb
    );
    assert_eq!(kernel_device("/dev/sdb"), sdb);
    assert_eq!(kernel_device(P2), sdb);
    // A local disk and a non-iSCSI by-path name are not iSCSI; a missing map or id is missing.
    assert_eq!(join::backing(&st, &block("/dev/vdb")), Backing::NotIscsi);
    assert_eq!(
        join::backing(&st, &block("/dev/disk/by-path/pci-0000:00:04.0")),
        Backing::NotIscsi
    );
    for gone in ["/dev/mapper/mpathz", "/dev/disk/by-id/wwn-0xdead"] {
        assert!(
            matches!(
                join::backing(&st, &block(gone)),
                Backing::Missing { target: None, .. }
            ),
            "{gone}"
        );
    }
    let rbd = DiskSource::Network {
        protocol: "rbd".to_owned(),
        name: "vms/x".to_owned(),
        hosts: vec![],
    };
    assert_eq!(join::backing(&st, &rbd), Backing::NotIscsi);
}
