//! `collect` end to end without OVS: a stand-in ovsdb-server (a unix socket answering with the
//! captured tables) and a stand-in `ovs-ofctl` (a script printing the captured dump), in a
//! temporary host root. The live test (`tests/tests/ovs_live.rs`) does the same with real OVS.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use hvscope_parse::ovs::testdata::{FLOWS_OF10, full_reply, initial_updates};

use super::*;

pub(crate) struct FakeRoot(pub(crate) PathBuf);

impl Drop for FakeRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A root with `run/openvswitch/db.sock` served by a stand-in ovsdb-server accepting `conns`
/// connections, each answered until it closes: a `transact` with the captured tables, a
/// `monitor` with them as initial rows, an `echo` with its parameters.
pub(crate) fn fake_root(tag: &str, conns: usize) -> FakeRoot {
    let d = std::env::temp_dir().join(format!("hvscope-ovs-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("run/openvswitch")).unwrap();
    let l = UnixListener::bind(d.join("run/openvswitch/db.sock")).unwrap();
    std::thread::spawn(move || {
        for _ in 0..conns {
            let (mut c, _) = l.accept().unwrap();
            std::thread::spawn(move || {
                let mut framer = hvscope_parse::ovs::framer::Framer::new(1 << 20);
                let mut buf = vec![0u8; 8192];
                while let Ok(n @ 1..) = c.read(&mut buf) {
                    for req in framer.feed(&buf[..n]).unwrap() {
                        let result = match req["method"].as_str() {
                            Some("transact") => full_reply()["result"].clone(),
                            Some("monitor") => initial_updates(),
                            _ => req["params"].clone(),
                        };
                        let reply =
                            serde_json::json!({"id": req["id"], "result": result, "error": null});
                        c.write_all(reply.to_string().as_bytes()).unwrap();
                    }
                }
            });
        }
    });
    FakeRoot(d)
}

/// A stand-in ovs-ofctl: the captured dump for br-int's mgmt socket, `br_tun` for br-tun.
fn fake_ofctl(root: &FakeRoot, br_tun: &str) -> PathBuf {
    let dump = root.0.join("dump.txt");
    std::fs::write(&dump, FLOWS_OF10).unwrap();
    let p = root.0.join("ovs-ofctl");
    let script = format!(
        "#!/bin/sh\ncase \"$5\" in\n *br-int.mgmt) cat {};;\n *br-tun.mgmt) {br_tun};;\n *) exit 2;;\nesac\n",
        dump.display()
    );
    std::fs::write(&p, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn cfg(ofctl: PathBuf, extra: &str) -> OvsConfig {
    let mut c: OvsConfig = toml::from_str(&format!(
        "owned_cookies = ['0x9f3c6a1d2e4b7c85']\nflows_via = 'ofctl'\nofctl_timeout_ms = 500\n{extra}"
    ))
    .unwrap();
    c.ofctl_path = ofctl;
    c
}

#[test]
fn reads_topology_and_audits_every_bridge() {
    let root = fake_root("all", 1);
    let ofctl = fake_ofctl(
        &root,
        "echo ' cookie=0x9f3c6a1d2e4b7c85, table=0, priority=1,in_port=1 actions=drop'",
    );
    let mut errors = vec![];
    let ovs = collect(&HostRoot::new(&root.0), &cfg(ofctl, ""), &mut errors).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert!(ovs.ovsdb_up);
    let int = &ovs.bridges[0];
    assert_eq!((int.name.as_str(), int.interfaces.len()), ("br-int", 10));
    let a = int.flows.as_ref().unwrap();
    assert_eq!(
        (
            a.flows,
            a.missing_port.count,
            a.stale_cookie.count,
            a.unknown_mac.count
        ),
        (37, 3, 2, 2)
    );
    let tun = ovs.bridges[1].flows.as_ref().unwrap();
    assert_eq!(
        (tun.flows, tun.missing_port.count, tun.unknown_mac.count),
        (1, 0, 0)
    );
    let mut out = crate::series::SeriesBuf::default();
    series(&ovs, &errors, &mut out);
    let up = out
        .samples
        .iter()
        .find(|s| s.labels.name() == "hvscope_ovs_up")
        .unwrap();
    assert_eq!(up.value, 1.0);
}

#[test]
fn the_openflow_client_finds_what_ofctl_finds() {
    use super::openflow::tests::{Switch, switch};
    let root = fake_root("native", 1);
    let _int = switch(root.0.join("run/openvswitch/br-int.mgmt"), Switch::Replay);
    let mut c = cfg(PathBuf::from("/nonexistent/ovs-ofctl"), "");
    c.flows_via = config::FlowsVia::OpenFlow;
    let mut errors = vec![];
    let ovs = collect(&HostRoot::new(&root.0), &c, &mut errors).unwrap();
    // br-tun has no mgmt socket here: unknown, br-int unaffected
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].source, "ovs.flows.br-tun");
    assert!(errors[0].reason.contains("connect"), "{}", errors[0].reason);
    let a = ovs.bridges[0].flows.as_ref().unwrap();
    assert_eq!(
        (
            a.flows,
            a.missing_port.count,
            a.stale_cookie.count,
            a.unknown_mac.count,
            a.bad_lines
        ),
        (37, 3, 2, 2, 0)
    );
    // the same examples, word for word, as from the ovs-ofctl path
    let root2 = fake_root("native-ofctl", 1);
    let ofctl = fake_ofctl(&root2, "exit 1");
    std::fs::write(
        root2.0.join("dump.txt"),
        hvscope_parse::ovs::testdata::FLOWS_OF13,
    )
    .unwrap();
    let mut errors = vec![];
    let via_ofctl = collect(&HostRoot::new(&root2.0), &cfg(ofctl, ""), &mut errors).unwrap();
    let b = via_ofctl.bridges[0].flows.as_ref().unwrap();
    assert_eq!(a.missing_port.examples, b.missing_port.examples);
    assert_eq!(a.stale_cookie.examples, b.stale_cookie.examples);
    assert_eq!(a.unknown_mac.examples, b.unknown_mac.examples);
    assert_eq!(a.per_table, b.per_table);
}

#[test]
fn a_hung_bridge_is_unknown_alone() {
    let root = fake_root("hung", 1);
    let ofctl = fake_ofctl(&root, "exec sleep 20");
    let mut errors = vec![];
    let t = std::time::Instant::now();
    let ovs = collect(&HostRoot::new(&root.0), &cfg(ofctl, ""), &mut errors).unwrap();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].source, "ovs.flows.br-tun");
    assert!(
        errors[0].reason.contains("within 500 ms"),
        "{}",
        errors[0].reason
    );
    assert!(ovs.bridges[0].flows.is_some() && ovs.bridges[1].flows.is_none());
    let mut out = crate::series::SeriesBuf::default();
    series(&ovs, &errors, &mut out);
    let up = out
        .samples
        .iter()
        .find(|s| s.labels.name() == "hvscope_ovs_up")
        .unwrap();
    assert_eq!(up.value, 0.0);
}

#[test]
fn selection_absence_and_dead_ovsdb() {
    let root = fake_root("sel", 1);
    let ofctl = fake_ofctl(&root, "exit 1");
    let mut errors = vec![];
    let c = cfg(ofctl.clone(), "bridges = ['br-int', 'br-ex']");
    let ovs = collect(&HostRoot::new(&root.0), &c, &mut errors).unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].source, "ovs.flows.br-ex");
    assert!(
        ovs.bridges[1].flows.is_none(),
        "br-tun not selected, not dumped"
    );

    // no run/openvswitch: no OVS here, unless required
    let mut errors = vec![];
    let none = HostRoot::new("/nonexistent-hvscope");
    assert!(collect(&none, &c, &mut errors).is_none() && errors.is_empty());
    let req = cfg(ofctl.clone(), "required = true");
    let ovs = collect(&none, &req, &mut errors).unwrap();
    assert!(!ovs.ovsdb_up);
    assert_eq!(errors[0].source, SOURCE_OVSDB);
    // the directory without a live db.sock (ovsdb-server died): unknown, not absent
    std::fs::remove_file(root.0.join("run/openvswitch/db.sock")).unwrap();
    let mut errors = vec![];
    assert!(collect(&HostRoot::new(&root.0), &c, &mut errors).is_some());
    assert_eq!(errors[0].source, SOURCE_OVSDB);
    let off = cfg(ofctl, "enabled = false");
    assert!(collect(&HostRoot::new(&root.0), &off, &mut vec![]).is_none());
}
