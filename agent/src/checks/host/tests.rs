use super::*;
use crate::checks::{exit_code, run_all, testtree::TestTree};
use crate::config::Config;
use crate::sources::rootfs::FsUsage;

fn config(text: &str) -> Config {
    Config::parse(text, std::path::Path::new("t.toml")).unwrap()
}

#[test]
fn daemons_triggered_and_clear() {
    let t = TestTree::new("daemons", &[]);
    t.process(100, "virtqemud", 'S');
    t.process(101, "ovs-vswitchd", 'S');
    t.process(102, "ovsdb-server", 'Z'); // dead, not yet reaped
    t.process(103, "iscsid", 'S');
    let c = Config::default();
    let snap = Snapshot::collect_with(&t.root(), &c);
    let f = DaemonDown.run(&snap);
    let missing: Vec<_> = f.iter().map(|f| f.subject["daemon"].as_str()).collect();
    assert_eq!(missing, vec!["ovsdb-server", "nova-compute"]);
    assert_eq!(f[0].severity, Severity::Critical);
    assert!(
        f[0].message.contains("ovsdb-server is not running"),
        "{}",
        f[0].message
    );

    // A zombie is never alive again: the restarted daemon has a new pid.
    t.process(105, "ovsdb-server", 'S');
    // nova-compute runs as a python script: comm is the interpreter's here.
    t.write(
        "proc/104/stat",
        "104 (python3) S 1 104 104 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1\n",
    );
    t.write(
        "proc/104/cmdline",
        "/usr/bin/python3\0/usr/bin/nova-compute\0--config-file\0/etc/nova/nova.conf\0",
    );
    let snap = Snapshot::collect_with(&t.root(), &c);
    assert!(DaemonDown.run(&snap).is_empty(), "{:?}", snap.host.daemons);
    let none = config("[host]\ndaemons = []");
    assert!(
        Snapshot::collect_with(&t.root(), &none)
            .host
            .daemons
            .is_empty()
    );
}

#[test]
fn rootfs_thresholds() {
    let check = RootfsFill::new(&HostConfig::default());
    let t = TestTree::new("rootfs", &[]);
    let mut snap = Snapshot::collect_with(&t.root(), &config("[host]\ndaemons = []"));
    // Below a fixture tree statvfs is not taken: unknown, never fine.
    let f = check.run(&snap);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Unknown);
    let set = |snap: &mut Snapshot, used: u64, inodes_free: u64| {
        let r = snap.host.rootfs.as_mut().unwrap();
        r.usage = Some(FsUsage {
            size_bytes: 1000,
            free_bytes: 1000 - used,
            avail_bytes: 1000 - used,
            inodes: 1000,
            inodes_free,
        });
    };
    set(&mut snap, 500, 900);
    assert!(check.run(&snap).is_empty());
    set(&mut snap, 850, 900);
    let f = check.run(&snap);
    assert_eq!((f.len(), f[0].severity), (1, Severity::Warning));
    assert_eq!(f[0].subject["resource"], "bytes");
    set(&mut snap, 500, 50);
    let f = check.run(&snap);
    assert_eq!(
        (f[0].severity, f[0].subject["resource"].as_str()),
        (Severity::Critical, "inodes")
    );
    set(&mut snap, 950, 50);
    let f = run_all(&[Box::new(check)], &snap);
    assert_eq!(f.len(), 2);
    assert_eq!(exit_code(&f), 2);
    assert!(f[0].message.contains("95.0% full"), "{}", f[0].message);
}

#[test]
fn rootfs_live_host_with_tiny_thresholds() {
    let c = config(
        "[host]\nrootfs_fill_warning_percent = 0.0001\nrootfs_fill_critical_percent = 100\ndaemons = []",
    );
    let snap = Snapshot::collect_with(&crate::io::HostRoot::default(), &c);
    let f = RootfsFill::new(&c.host).run(&snap);
    assert!(
        f.iter()
            .any(|f| f.severity == Severity::Warning && f.subject["resource"] == "bytes"),
        "{f:?}"
    );
    let relaxed = RootfsFill {
        warning_percent: 100.0,
        critical_percent: 100.0,
    };
    assert!(
        relaxed
            .run(&snap)
            .iter()
            .all(|f| f.severity != Severity::Unknown)
    );
}
