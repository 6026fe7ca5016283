//! The reader against the real guest captures and synthetic trees, including bad input.

use super::sysfs::{ConnState, SessionState};
use super::testtree::{TestLun, TestTree};
use super::*;
use crate::host_root::HostRoot;
use crate::sources::SourceError;

const T1: &str = "iqn.2010-10.org.openstack:volume-5d0c3f6e-7a21-4b9e-8f3d-2c6a1e9b0d47";
const T2: &str = "iqn.2010-10.org.openstack:volume-9b8e1d2c-4f3a-4c6b-a7e5-0f1d2c3b4a59";

pub fn fixture(name: &str) -> HostRoot {
    HostRoot::new(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
}

fn read(root: &HostRoot) -> (IscsiState, Vec<SourceError>) {
    let mut errors = Vec::new();
    let st = collect(root, &mut errors);
    (st, errors)
}

#[test]
fn healthy_guest_capture() {
    let (st, errors) = read(&fixture("iscsi-guest"));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(st.sessions.len(), 2);
    let (s1, s2) = (&st.sessions[0], &st.sessions[1]);
    assert_eq!((s1.name.as_str(), s1.host.as_str()), ("session1", "host0"));
    assert_eq!((s1.target.as_str(), s2.target.as_str()), (T1, T2));
    assert_eq!(s1.state, Some(SessionState::LoggedIn));
    assert_eq!(s1.target_state.as_deref(), Some("SCANNED"));
    assert_eq!(
        (s1.recovery_tmo_secs, s2.recovery_tmo_secs),
        (Some(120), Some(30))
    );
    assert_eq!(s1.tpgt, Some(1));
    assert_eq!(
        s1.initiator.as_deref(),
        Some("iqn.1993-08.org.debian:01:5f3c9a1b2d7e")
    );
    assert_eq!(s1.iface.as_deref(), Some("default"));
    assert_eq!(s1.portal(), Some("10.0.2.100:3260"));
    assert_eq!(s2.portal(), Some("10.0.2.101:3260"));
    assert_eq!(
        s2.connections[0].current.as_deref(),
        Some("10.0.2.101:3260")
    );
    assert_eq!(s2.connections[0].state, Some(ConnState::Up));
    assert!(s1.is_up() && s2.is_up());
    // LUN 0 is the tgt controller (type 12) without a block device; LUN 1 is the disk.
    assert_eq!(s1.luns.len(), 2);
    assert_eq!(
        (s1.luns[0].scsi_type, s1.luns[0].block.as_deref()),
        (Some(12), None)
    );
    assert_eq!(s1.luns[1].block.as_deref(), Some("sda"));
    assert_eq!(s2.disks().collect::<Vec<_>>(), ["sdb"]);
    assert!(
        s2.luns
            .iter()
            .all(|l| l.state.as_deref() == Some("running"))
    );
    assert_eq!(st.session_of_disk("sdb").unwrap().name, "session2");
    // Each by-path link names the portal, target and LUN of the session owning its disk.
    assert_eq!(st.by_path.len(), 2);
    for (name, dev) in &st.by_path {
        let b = sysfs::parse_by_path(name).unwrap();
        let s = st.session_of_disk(dev).unwrap();
        assert_eq!(
            (b.target.as_str(), Some(b.portal.as_str())),
            (s.target.as_str(), s.portal())
        );
        assert_eq!(st.lun_of_disk(dev).unwrap().lun, b.lun);
    }
    assert_eq!(st.by_id["wwn-0x60000000000000000e00000000010001"], "sda");
    assert!(st.multipath.is_empty());
    assert_eq!(st.diskstats.len(), 2);
}

#[test]
fn failed_capture_tolerates_missing_connection_files() {
    let (st, errors) = read(&fixture("iscsi-guest-failed"));
    assert!(errors.is_empty(), "{errors:?}");
    let s2 = &st.sessions[1];
    assert_eq!(s2.state, Some(SessionState::Failed));
    assert_eq!(s2.connections[0].state, Some(ConnState::Failed));
    // address/port are absent (ENOTCONN at capture): the persistent portal still names it.
    assert_eq!(s2.portal(), Some("10.0.2.101:3260"));
    assert_eq!(s2.connections[0].current, None);
    assert!(
        s2.luns
            .iter()
            .all(|l| l.state.as_deref() == Some("blocked"))
    );
    assert!(!s2.is_up());
    assert!(st.sessions[0].is_up());
}

#[test]
fn timed_out_capture_is_free_and_offline() {
    let (st, errors) = read(&fixture("iscsi-guest-failed-timedout"));
    assert!(errors.is_empty(), "{errors:?}");
    let s2 = &st.sessions[1];
    assert_eq!(s2.state, Some(SessionState::Free));
    assert_eq!(s2.luns[1].state.as_deref(), Some("transport-offline"));
    assert!(!s2.is_up() && st.sessions[0].is_up());
}

#[test]
fn no_transport_is_no_sessions_not_an_error() {
    let t = TestTree::new("empty");
    let (st, errors) = read(&HostRoot::new(t.root()));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(st, IscsiState::default());
}

#[test]
fn multipath_maps_and_active_paths() {
    let mut t = TestTree::new("mp");
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
        "10.0.0.2",
        "FAILED",
        "failed",
        &[TestLun::disk(1, "sdb")],
    );
    t.multipath(0, "mpatha", &["sda", "sdb"]);
    let (st, errors) = read(&HostRoot::new(t.root()));
    assert!(errors.is_empty(), "{errors:?}");
    let m = &st.multipath[0];
    assert_eq!(
        (m.device.as_str(), m.name.as_deref()),
        ("dm-0", Some("mpatha"))
    );
    assert!(m.is_multipath());
    assert_eq!(m.slaves, ["sda", "sdb"]);
    assert_eq!(st.active_paths(m), 1);
    assert_eq!(
        st.diskstats
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>(),
        ["sda", "sdb", "dm-0"]
    );
}

#[test]
fn bad_sessions_are_errors_of_that_session_only() {
    let mut t = TestTree::new("bad");
    t.session(
        1,
        "iqn.t:good",
        "10.0.0.1",
        "LOGGED_IN",
        "up",
        &[TestLun::disk(1, "sda")],
    );
    // Unknown session state string.
    t.session(2, "iqn.t:odd", "10.0.0.2", "RECOVERING", "up", &[]);
    // Missing targetname.
    t.session(3, "iqn.t:x", "10.0.0.3", "LOGGED_IN", "up", &[]);
    std::fs::remove_file(
        t.root()
            .join("sys/devices/platform/host2/session3/iscsi_session/session3/targetname"),
    )
    .unwrap();
    // Dangling class link.
    t.link(
        "sys/class/iscsi_session/session4",
        "../../devices/platform/host3/session4/iscsi_session/session4",
    );
    // A link to itself, and a two-link loop inside a session's attributes.
    t.link("sys/class/iscsi_session/session5", "session5");
    t.session(6, "iqn.t:loop", "10.0.0.6", "LOGGED_IN", "up", &[]);
    let cls = "sys/devices/platform/host5/session6/iscsi_session/session6";
    std::fs::remove_file(t.root().join(cls).join("state")).unwrap();
    t.link(&format!("{cls}/state"), "state2");
    t.link(&format!("{cls}/state2"), "state");
    // Unknown connection state.
    t.session(7, "iqn.t:conn", "10.0.0.7", "LOGGED_IN", "sideways", &[]);
    // A missing SCSI device state.
    t.session(
        8,
        "iqn.t:lun",
        "10.0.0.8",
        "LOGGED_IN",
        "up",
        &[TestLun::disk(1, "sdh")],
    );
    std::fs::remove_file(
        t.root()
            .join("sys/devices/platform/host7/session8/target7:0:0/7:0:0:1/state"),
    )
    .unwrap();
    // Not a session at all: ignored.
    t.write("sys/class/iscsi_session/README", "x");

    let (st, errors) = read(&HostRoot::new(t.root()));
    let names: Vec<_> = st.sessions.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "session1", "session2", "session3", "session4", "session5", "session6", "session7",
            "session8"
        ]
    );
    assert!(st.sessions[0].error.is_none() && st.sessions[0].is_up());
    for s in &st.sessions[1..] {
        assert!(s.error.is_some(), "{} should be unreadable", s.name);
        assert!(!s.is_up());
    }
    let e = |i: usize| st.sessions[i].error.clone().unwrap();
    assert!(
        e(1).contains("unknown session state \"RECOVERING\""),
        "{}",
        e(1)
    );
    assert!(e(2).contains("targetname: not found"), "{}", e(2));
    assert!(e(3).contains("targetname: not found"), "{}", e(3));
    assert!(e(4).contains("not a session device directory"), "{}", e(4));
    assert!(e(6).contains("unknown connection state"), "{}", e(6));
    assert!(e(7).contains("7:0:0:1/state"), "{}", e(7));
    assert_eq!(errors.len(), 7);
    assert_eq!(errors[0].source, "iscsi.session.session2");
}

#[test]
fn by_path_links_dangle_or_loop_without_harm() {
    let mut t = TestTree::new("links");
    t.session(
        1,
        "iqn.t:a",
        "10.0.0.1",
        "LOGGED_IN",
        "up",
        &[TestLun::disk(1, "sda")],
    );
    t.link("dev/disk/by-path/loop", "loop");
    t.link(
        "dev/disk/by-path/ip-10.0.0.9:3260-iscsi-iqn.t:gone-lun-1",
        "../../sdz",
    );
    let (st, errors) = read(&HostRoot::new(t.root()));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(st.by_path["ip-10.0.0.9:3260-iscsi-iqn.t:gone-lun-1"], "sdz");
    assert_eq!(st.by_path["loop"], "loop");
    assert_eq!(st.by_path.len(), 3);
}

#[test]
fn series_of_the_failed_capture() {
    let (st, _) = read(&fixture("iscsi-guest-failed"));
    let mut out = crate::series::SeriesBuf::default();
    series::series(&st, &mut out);
    let up: Vec<(String, String, f64)> = out
        .samples
        .iter()
        .filter(|s| s.labels.name() == "hvscope_iscsi_session_up")
        .map(|s| {
            let g = |k| s.labels.get(k).unwrap().to_owned();
            (g("target"), g("portal"), s.value)
        })
        .collect();
    assert_eq!(
        up,
        [
            (T1.to_owned(), "10.0.2.100:3260".to_owned(), 1.0),
            (T2.to_owned(), "10.0.2.101:3260".to_owned(), 0.0)
        ]
    );
    let get = |name: &str, dev: &str| {
        out.samples
            .iter()
            .find(|s| s.labels.name() == name && s.labels.get("device") == Some(dev))
            .map(|s| s.value)
    };
    assert_eq!(
        get("hvscope_disk_read_bytes_total", "sda"),
        Some(10632.0 * 512.0)
    );
    assert_eq!(
        get("hvscope_disk_ios_completed_total", "sdb"),
        Some(113.0 + 2.0 + 1.0)
    );
    assert_eq!(get("hvscope_iscsi_lun_running", "sdb"), Some(0.0));
    let mut rates = crate::series::SeriesBuf::default();
    let r = diskstats::delta(&st.diskstats[0], &st.diskstats[0], 1000).unwrap();
    series::rate_series(&[r], &mut rates);
    assert!(
        rates
            .samples
            .iter()
            .all(|s| s.labels.name() != "hvscope_disk_latency_seconds")
    );
    assert_eq!(rates.samples.len(), 2);
}
