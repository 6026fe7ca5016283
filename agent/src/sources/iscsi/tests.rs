//! The reader against the real guest captures and synthetic trees, including bad input.

use super::sysfs::{ConnState, SessionState};
use super::testtree::{TestLun, TestTree};
use super::*;
use crate::io::HostRoot;
use crate::sources::SourceError;
use crate::sources::proc::files::DiskstatsFile;
use hvscope_parse::proc::diskstats;
use std::sync::Arc;

/// The refresh period, in cycles.
const RESCAN_EVERY: u64 = crate::io::REFRESH.collections() as u64;

const T1: &str = "iqn.2010-10.org.openstack:volume-5d0c3f6e-7a21-4b9e-8f3d-2c6a1e9b0d47";
const T2: &str = "iqn.2010-10.org.openstack:volume-9b8e1d2c-4f3a-4c6b-a7e5-0f1d2c3b4a59";

pub fn fixture(name: &str) -> HostRoot {
    HostRoot::new(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
}

/// An [`IscsiSource`] keeping at most `n` attribute files open, collecting as the collector
/// does.
struct Kept {
    src: IscsiSource,
    fds: crate::io::FdBudget,
    disks: DiskstatsFile,
}

impl Kept {
    fn new(n: usize) -> Self {
        Self {
            src: IscsiSource::new(),
            fds: crate::io::FdBudget::with_caps([(crate::io::Holder::Iscsi, n)]),
            disks: DiskstatsFile::default(),
        }
    }

    fn collect(&mut self, root: &HostRoot, errors: &mut Vec<SourceError>) -> IscsiState {
        let disks = self.disks.read(root, &self.fds);
        self.src.read(root, &self.fds, disks, errors)
    }
}

impl std::ops::Deref for Kept {
    type Target = IscsiSource;
    fn deref(&self) -> &IscsiSource {
        &self.src
    }
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
    let index = super::DiskIndex::new(&st);
    assert_eq!(index.session("sdb").unwrap().name, "session2");
    assert!(index.session("sdz").is_none() && index.lun("sdz").is_none());
    // Each by-path link names the portal, target and LUN of the session owning its disk.
    assert_eq!(st.by_path.len(), 2);
    for (name, dev) in st.by_path.iter() {
        let b = sysfs::parse_by_path(name).unwrap();
        let s = index.session(dev).unwrap();
        assert_eq!(
            (b.target.as_str(), Some(b.portal.as_str())),
            (s.target.as_str(), s.portal())
        );
        assert_eq!(index.lun(dev).unwrap().lun, b.lun);
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
    let index = super::DiskIndex::new(&st);
    assert_eq!(index.active_paths(m), 1);
    // sda: LUN running under a LOGGED_IN session; sdb: its session FAILED; sdz, dm-0: no LUN.
    let active: Vec<bool> = ["sda", "sdb", "sdz", "dm-0"]
        .iter()
        .map(|d| index.path_active(d))
        .collect();
    assert_eq!(active, [true, false, false, false]);
    assert_eq!(
        index.session("sdb").map(|s| s.name.as_str()),
        Some("session2")
    );
    assert_eq!(
        st.diskstats.iter().map(|d| &*d.name).collect::<Vec<_>>(),
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
            .all(|s| s.labels.name() != "hvscope_disk_io_latency_seconds")
    );
    assert_eq!(rates.samples.len(), 2);
}

/// A kept source must read exactly what a fresh one-shot collection reads, cycle after cycle,
/// whatever changed in between.
#[test]
fn steady_cycles_equal_fresh_collections() {
    fn same(src: &mut Kept, root: &HostRoot) -> IscsiState {
        let mut e1 = Vec::new();
        let mut kept = src.collect(root, &mut e1);
        let (fresh, e2) = read(root);
        kept.rates.clear();
        assert_eq!(kept, fresh);
        assert_eq!(e1, e2);
        // The series from the label sets kept since earlier cycles are those of a fresh read.
        assert_eq!(series_of(&kept), series_of(&fresh));
        kept
    }
    let mut t = three_sessions("steady");
    t.multipath(0, "mpatha", &["sd2", "sd4"]);
    let root = HostRoot::new(t.root());
    let mut src = Kept::new(64);
    let st = same(&mut src, &root);
    assert_eq!(st.sessions.len(), 3);
    assert!(src.open_files() > 0, "volatile attributes are kept open");
    same(&mut src, &root);

    // Session 2 fails: session, connection and LUN states are re-read on kept files.
    let s2 = "sys/devices/platform/host1/session2";
    t.write(&format!("{s2}/iscsi_session/session2/state"), "FAILED\n");
    t.write(
        &format!("{s2}/connection2:0/iscsi_connection/connection2:0/state"),
        "failed\n",
    );
    std::fs::remove_file(t.root().join(format!(
        "{s2}/connection2:0/iscsi_connection/connection2:0/address"
    )))
    .unwrap();
    t.write(&format!("{s2}/target1:0:0/1:0:0:1/state"), "blocked\n");
    t.write(&format!("{s2}/iscsi_session/session2/recovery_tmo"), "5\n");
    let st = same(&mut src, &root);
    assert!(!st.sessions[1].is_up());
    assert_eq!(st.sessions[1].recovery_tmo_secs, Some(5));
    assert_eq!(st.sessions[1].connections[0].current, None);
    assert_eq!(super::DiskIndex::new(&st).active_paths(&st.multipath[0]), 1);

    // An unknown state string: that session's error, the next cycle as in the first.
    t.write(&format!("{s2}/iscsi_session/session2/state"), "WEIRD\n");
    let st = same(&mut src, &root);
    assert!(st.sessions[1].error.is_some());
    t.write(&format!("{s2}/iscsi_session/session2/state"), "LOGGED_IN\n");
    same(&mut src, &root);

    // A new session with a new disk, a new multipath map over it, a removed session.
    t.session(
        4,
        "iqn.t:4",
        "10.0.0.4",
        "LOGGED_IN",
        "up",
        &[TestLun::disk(1, "sd9")],
    );
    t.multipath(1, "mpathb", &["sd9", "sd3"]);
    let st = same(&mut src, &root);
    assert_eq!(st.sessions.len(), 4);
    assert_eq!(st.multipath.len(), 2);
    std::fs::remove_file(t.root().join("sys/class/iscsi_session/session1")).unwrap();
    let st = same(&mut src, &root);
    assert_eq!(st.sessions[0].name, "session2");

    // A LUN of session 3 goes away (its device and directory), then a new one appears.
    let s3 = "sys/devices/platform/host2/session3/target2:0:0";
    std::fs::remove_dir_all(t.root().join(format!("{s3}/2:0:0:2"))).unwrap();
    std::fs::remove_file(t.root().join("sys/block/sd7")).unwrap();
    let st = same(&mut src, &root);
    assert_eq!(st.sessions[1].luns.len(), 2);
    t.write(&format!("{s3}/2:0:0:3/state"), "running\n");
    t.write(&format!("{s3}/2:0:0:3/block/sd8/dev"), "8:0\n");
    t.link(
        "sys/block/sd8",
        "../devices/platform/host2/session3/target2:0:0/2:0:0:3/block/sd8",
    );
    let st = same(&mut src, &root);
    assert_eq!(st.sessions[1].disks().collect::<Vec<_>>(), ["sd6", "sd8"]);
    // One device goes and another comes in the same cycle: as many `sys/block` entries as before.
    std::fs::remove_dir_all(t.root().join(format!("{s3}/2:0:0:3"))).unwrap();
    std::fs::remove_file(t.root().join("sys/block/sd8")).unwrap();
    t.write(&format!("{s3}/2:0:0:4/state"), "running\n");
    t.write(&format!("{s3}/2:0:0:4/block/sd10/dev"), "8:0\n");
    t.link(
        "sys/block/sd10",
        "../devices/platform/host2/session3/target2:0:0/2:0:0:4/block/sd10",
    );
    let st = same(&mut src, &root);
    assert_eq!(st.sessions[1].disks().collect::<Vec<_>>(), ["sd6", "sd10"]);
    // Past the safety-net rescan, still the same.
    for _ in 0..RESCAN_EVERY + 1 {
        same(&mut src, &root);
    }
}

fn series_of(st: &IscsiState) -> Vec<crate::series::Sample> {
    let mut out = crate::series::SeriesBuf::default();
    series::series(st, &mut out);
    out.samples
}

fn three_sessions(tag: &str) -> TestTree {
    let mut t = TestTree::new(tag);
    for sid in 1..=3 {
        let (a, b) = (format!("sd{}", 2 * sid), format!("sd{}", 2 * sid + 1));
        t.session(
            sid,
            &format!("iqn.t:{sid}"),
            &format!("10.0.0.{sid}"),
            "LOGGED_IN",
            "up",
            &[
                TestLun::controller(0),
                TestLun::disk(1, &a),
                TestLun::disk(2, &b),
            ],
        );
    }
    t
}

/// What a steady cycle reads again: each state a failure changes, seen in the very next cycle,
/// one at a time.
#[test]
fn every_state_change_is_seen_in_the_next_cycle() {
    let t = three_sessions("states");
    let root = HostRoot::new(t.root());
    let mut src = Kept::new(64);
    let mut errors = Vec::new();
    let st = src.collect(&root, &mut errors);
    assert!(st.sessions.iter().all(|s| s.is_up()));
    let s2 = "sys/devices/platform/host1/session2";
    let session = format!("{s2}/iscsi_session/session2/state");
    let conn = format!("{s2}/connection2:0/iscsi_connection/connection2:0/state");
    let disk = format!("{s2}/target1:0:0/1:0:0:2/state");
    for (file, down, up) in [
        (&session, "FAILED", "LOGGED_IN"),
        (&conn, "failed", "up"),
        (&disk, "offline", "running"),
    ] {
        t.write(file, &format!("{down}\n"));
        let st = src.collect(&root, &mut errors);
        let (fresh, _) = read(&root);
        assert_eq!(st.sessions, fresh.sessions, "{file} -> {down}");
        let sda = DiskIndex::new(&st);
        if file == &disk {
            assert!(st.sessions[1].is_up());
            assert!(!sda.path_active("sd5"), "offline disk seen at once");
        } else {
            assert!(!st.sessions[1].is_up(), "{file} -> {down} seen at once");
        }
        assert!(st.sessions[0].is_up() && st.sessions[2].is_up());
        t.write(file, &format!("{up}\n"));
        let st = src.collect(&root, &mut errors);
        assert!(st.sessions[1].is_up() && DiskIndex::new(&st).path_active("sd5"));
    }
    assert!(errors.is_empty(), "{errors:?}");
}

/// The attributes not read every cycle: as fresh as the session's last state change, at most
/// `RESCAN_EVERY` cycles old.
#[test]
fn other_attributes_follow_state_changes_and_rescans() {
    let t = three_sessions("config");
    let root = HostRoot::new(t.root());
    let mut src = Kept::new(64);
    let mut errors = Vec::new();
    let first = src.collect(&root, &mut errors);
    let cls = "sys/devices/platform/host0/session1/iscsi_session/session1";
    t.write(&format!("{cls}/recovery_tmo"), "5\n");
    t.write(&format!("{cls}/target_state"), "UNBINDING\n");
    t.write(
        "sys/devices/platform/host0/session1/target0:0:0/0:0:0:0/state",
        "offline\n",
    );
    let st = src.collect(&root, &mut errors);
    assert!(
        Arc::ptr_eq(&st.sessions[0], &first.sessions[0]),
        "no state changed: the session is the one read before"
    );
    assert_eq!(st.sessions[0].recovery_tmo_secs, Some(120));
    // A state change reads the whole session again.
    t.write(&format!("{cls}/state"), "FAILED\n");
    let st = src.collect(&root, &mut errors);
    let s1 = &st.sessions[0];
    assert_eq!(s1.recovery_tmo_secs, Some(5));
    assert_eq!(s1.target_state.as_deref(), Some("UNBINDING"));
    assert_eq!(s1.luns[0].state.as_deref(), Some("offline"));
    // Without one, the next full rescan does.
    let cls3 = "sys/devices/platform/host2/session3/iscsi_session/session3";
    t.write(&format!("{cls3}/recovery_tmo"), "7\n");
    let mut seen = None;
    for i in 1..=RESCAN_EVERY {
        let st = src.collect(&root, &mut errors);
        if st.sessions[2].recovery_tmo_secs == Some(7) {
            seen = Some(i);
            break;
        }
    }
    assert!(seen.is_some(), "seen within RESCAN_EVERY cycles");
    let (fresh, _) = read(&root);
    let mut st = src.collect(&root, &mut errors);
    st.rates.clear();
    assert_eq!(st, fresh);
    assert!(errors.is_empty(), "{errors:?}");
}

/// Label sets kept between cycles are dropped with their session, and a changed session gets new
/// ones.
#[test]
fn kept_series_follow_removed_and_changed_sessions() {
    let t = three_sessions("series");
    let root = HostRoot::new(t.root());
    let mut src = Kept::new(64);
    let mut errors = Vec::new();
    let count = |st: &IscsiState, name: &str, session: &str| {
        series_of(st)
            .iter()
            .filter(|s| s.labels.name() == name && s.labels.get("session") == Some(session))
            .map(|s| s.value)
            .collect::<Vec<_>>()
    };
    let st = src.collect(&root, &mut errors);
    assert_eq!(count(&st, "hvscope_iscsi_session_up", "session2"), [1.0]);
    let st = src.collect(&root, &mut errors);
    assert_eq!(count(&st, "hvscope_iscsi_session_up", "session2"), [1.0]);
    t.write(
        "sys/devices/platform/host1/session2/iscsi_session/session2/state",
        "FAILED\n",
    );
    let st = src.collect(&root, &mut errors);
    assert_eq!(count(&st, "hvscope_iscsi_session_up", "session2"), [0.0]);
    std::fs::remove_file(t.root().join("sys/class/iscsi_session/session2")).unwrap();
    let st = src.collect(&root, &mut errors);
    assert!(count(&st, "hvscope_iscsi_session_up", "session2").is_empty());
    assert_eq!(count(&st, "hvscope_iscsi_session_up", "session3"), [1.0]);
}

#[test]
fn rates_from_the_second_cycle() {
    let mut t = TestTree::new("rates");
    t.session(
        1,
        "iqn.t:a",
        "10.0.0.1",
        "LOGGED_IN",
        "up",
        &[TestLun::disk(1, "sda")],
    );
    let root = HostRoot::new(t.root());
    let mut src = Kept::new(0);
    let mut errors = Vec::new();
    assert!(src.collect(&root, &mut errors).rates.is_empty());
    std::thread::sleep(std::time::Duration::from_millis(20));
    // 100 more reads taking 5000 ms more: 50 ms each.
    std::fs::write(
        t.root().join("proc/diskstats"),
        "   8       0 sda 200 0 1600 6000 0 0 0 0 0 1010 6000 0 0 0 0 0 0\n",
    )
    .unwrap();
    let st = src.collect(&root, &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(st.rates.len(), 1);
    let r = &st.rates[0];
    assert_eq!((&*r.name, r.completed), ("sda", 100));
    assert_eq!(r.avg_latency_secs, Some(0.05));
    let mut out = crate::series::SeriesBuf::default();
    series::series(&st, &mut out);
    let get = |name: &str| {
        out.samples
            .iter()
            .find(|s| s.labels.name() == name && s.labels.get("device") == Some("sda"))
            .map(|s| s.value)
    };
    assert_eq!(get("hvscope_disk_io_latency_seconds"), Some(0.05));
    assert!(get("hvscope_disk_ios_per_second").unwrap() > 0.0);
    let u = get("hvscope_disk_utilization_ratio").unwrap();
    assert!((0.0..=1.0).contains(&u), "{u}");
}

/// The periodic complete re-reads are spread over the cycles: no cycle re-reads more than its
/// share of the sessions, each session is read completely again within `RESCAN_EVERY` cycles of
/// its last complete read (so a change of an attribute read only then, in every session, is seen
/// within as many), and the re-reads take over the kept state files.
#[test]
fn complete_rereads_are_spread_and_bounded() {
    const N: u32 = 60;
    let mut t = TestTree::new("spread");
    let class = |sid: u32| {
        format!(
            "sys/devices/platform/host{}/session{sid}/iscsi_session/session{sid}",
            sid - 1
        )
    };
    for sid in 1..=N {
        t.session(
            sid,
            &format!("iqn.t:{sid}"),
            &format!("10.0.1.{sid}"),
            "LOGGED_IN",
            "up",
            &[
                TestLun::controller(0),
                TestLun::disk(1, &format!("sd{sid}")),
            ],
        );
        // recovery_tmo holds the cycle it was written in: a session shows the cycle of its
        // last complete read.
        t.write(&format!("{}/recovery_tmo", class(sid)), "1\n");
    }
    let root = HostRoot::new(t.root());
    let mut src = Kept::new(1024);
    let mut errors = Vec::new();
    src.collect(&root, &mut errors);
    assert_eq!(
        src.complete_reads(),
        N as usize,
        "the first cycle reads all"
    );
    let share = usize::try_from(u64::from(N).div_ceil(RESCAN_EVERY)).unwrap();
    let mut renamed_seen = vec![None; N as usize];
    for cycle in 2..=2 * RESCAN_EVERY + 1 {
        for sid in 1..=N {
            t.write(
                &format!("{}/recovery_tmo", class(sid)),
                &format!("{cycle}\n"),
            );
            if cycle == 2 {
                t.write(&format!("{}/targetname", class(sid)), "iqn.t:renamed\n");
            }
        }
        let st = src.collect(&root, &mut errors);
        assert!(
            src.complete_reads() <= share,
            "cycle {cycle}: {} sessions read completely",
            src.complete_reads()
        );
        assert_eq!(src.open_files(), 3 * N as usize, "kept files taken over");
        for (i, s) in st.sessions.iter().enumerate() {
            let last = u64::from(s.recovery_tmo_secs.unwrap());
            assert!(
                cycle - last < RESCAN_EVERY,
                "{} at cycle {cycle}: last read completely in cycle {last}",
                s.name
            );
            if s.target == "iqn.t:renamed" {
                renamed_seen[i].get_or_insert(cycle);
            }
        }
    }
    for (i, seen) in renamed_seen.iter().enumerate() {
        let seen = seen.unwrap_or_else(|| panic!("session{} never renamed", i + 1));
        assert!(seen < 2 + RESCAN_EVERY, "session{} at {seen}", i + 1);
    }
    let (fresh, _) = read(&root);
    let mut st = src.collect(&root, &mut errors);
    st.rates.clear();
    // The one-shot read sees this cycle's values; the source the ones of the last re-reads.
    assert_eq!(st.sessions.len(), fresh.sessions.len());
    assert!(errors.is_empty(), "{errors:?}");
}

/// What no listing shows is found by the safety net within `RESCAN_EVERY` cycles: a path removed
/// from a multipath map, and a block device re-created under the same name for another LUN.
#[test]
fn safety_net_finds_moved_paths_and_devices() {
    let mut t = three_sessions("moved");
    t.multipath(0, "mpatha", &["sd2", "sd4"]);
    let root = HostRoot::new(t.root());
    let mut src = Kept::new(64);
    let mut errors = Vec::new();
    let first = src.collect(&root, &mut errors);
    assert_eq!(first.multipath[0].slaves, ["sd2", "sd4"]);
    std::fs::remove_file(t.root().join("sys/block/dm-0/slaves/sd4")).unwrap();
    // sd3 and sd7 swap LUNs (session 1's LUN 2 and session 3's) under the same names: the
    // `sys/block` listing does not change.
    t.link(
        "sys/block/sd3",
        "../devices/platform/host2/session3/target2:0:0/2:0:0:2/block/sd3",
    );
    t.link(
        "sys/block/sd7",
        "../devices/platform/host0/session1/target0:0:0/0:0:0:2/block/sd7",
    );
    let mut cycles = 0;
    let st = loop {
        cycles += 1;
        assert!(cycles <= RESCAN_EVERY, "not seen in time");
        let mut st = src.collect(&root, &mut errors);
        let moved = {
            let index = DiskIndex::new(&st);
            let session_of = |dev| index.session(dev).map(|s| s.name.clone());
            session_of("sd3").as_deref() == Some("session3")
                && session_of("sd7").as_deref() == Some("session1")
        };
        if st.multipath[0].slaves == ["sd2"] && moved {
            st.rates.clear();
            break st;
        }
    };
    let (fresh, _) = read(&root);
    assert_eq!(st, fresh);
    assert!(errors.is_empty(), "{errors:?}");
}
