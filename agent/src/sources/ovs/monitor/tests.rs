//! The monitor and the source's use of it against a stand-in switch that answers flow-monitor
//! subscriptions (empty first reply, then an update when the test says so) and replays the
//! real capture for dumps: an unchanged table is not dumped again; an update, a hang-up or a
//! port change makes the next collection dump it.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::io::{FdBudget, Holder, HostRoot};
use crate::sources::ovs::OvsSource;
use crate::sources::ovs::config::OvsConfig;

const CAP13: &[u8] =
    include_bytes!("../../../../tests/fixtures/ovs/openflow13_flow-stats_br-int.bin");

/// What the stand-in switch saw: dumps served, and the open monitor connections.
#[derive(Default)]
pub(crate) struct Seen {
    pub dumps: usize,
    pub monitors: Vec<UnixStream>,
}

fn read_exact_msg(c: &mut UnixStream) -> Option<Vec<u8>> {
    let mut h = [0u8; 8];
    c.read_exact(&mut h).ok()?;
    let len = u16::from_be_bytes([h[2], h[3]]) as usize;
    let mut m = h.to_vec();
    m.resize(len.max(8), 0);
    c.read_exact(&mut m[8..]).ok()?;
    Some(m)
}

/// A switch at `path` serving every connection: monitor subscriptions and dumps.
pub(crate) fn monitoring_switch(path: PathBuf) -> Arc<Mutex<Seen>> {
    let _ = std::fs::remove_file(&path);
    let l = UnixListener::bind(&path).unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            let s = s.clone();
            std::thread::spawn(move || {
                let _ = c.write_all(&[6, 0, 0, 16, 0, 0, 0, 1, 0, 1, 0, 8, 0, 0, 0, 0x12]);
                let Some(_hello) = read_exact_msg(&mut c) else {
                    return;
                };
                let Some(req) = read_exact_msg(&mut c) else {
                    return;
                };
                if req[0] == 1 && req[1] == 16 && req.len() >= 20 && req[19] == 2 {
                    let mut reply = req[..24].to_vec();
                    reply[1] = 17;
                    reply[3] = 24;
                    // under the lock, so the test sees the connection once open() returns
                    let mut seen = s.lock().unwrap();
                    let _ = c.write_all(&reply);
                    seen.monitors.push(c);
                } else {
                    let _ = c.write_all(CAP13);
                    s.lock().unwrap().dumps += 1;
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
        }
    });
    seen
}

#[test]
fn updates_echoes_and_hangups() {
    let path = std::env::temp_dir().join(format!("hvscope-mon-{}.mgmt", std::process::id()));
    let seen = monitoring_switch(path.clone());
    let fds = FdBudget::with_caps([(Holder::Ovs, 1)]);
    let mut m = FlowMonitor::open(
        &path,
        Duration::from_secs(2),
        fds.grant(Holder::Ovs).unwrap(),
    )
    .unwrap();
    assert_eq!(fds.held(Holder::Ovs), 1);
    assert!(fds.grant(Holder::Ovs).is_none(), "the share is used");
    assert!(!m.changed());
    // an echo request is answered and is no change
    let mut sw = seen.lock().unwrap().monitors.pop().unwrap();
    sw.write_all(&[1, 2, 0, 8, 0, 0, 0, 9]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(!m.changed());
    assert_eq!(m.echoes, 1);
    let mut reply = [0u8; 8];
    sw.read_exact(&mut reply).unwrap();
    assert_eq!(reply, [1, 3, 0, 8, 0, 0, 0, 9]);
    // an update (split across writes) is a change, and stays one
    sw.write_all(&[1, 17, 0, 32, 0, 0]).unwrap();
    std::thread::sleep(Duration::from_millis(30));
    assert!(!m.changed(), "half a header is nothing yet");
    sw.write_all(&[0, 0, 0xff, 0xff, 0, 0, 0, 0, 0x23, 0x20])
        .unwrap();
    std::thread::sleep(Duration::from_millis(30));
    assert!(m.changed() && m.changed());
    drop(m);
    assert_eq!(fds.held(Holder::Ovs), 0);
    // a hang-up is a change
    let mut m = FlowMonitor::open(
        &path,
        Duration::from_secs(2),
        fds.grant(Holder::Ovs).unwrap(),
    )
    .unwrap();
    drop(seen.lock().unwrap().monitors.pop());
    std::thread::sleep(Duration::from_millis(50));
    assert!(m.changed());
    let _ = std::fs::remove_file(&path);
}

#[test]
fn an_unchanged_table_is_not_dumped_again() {
    use crate::sources::proc::files::DiskstatsFile;
    use crate::sources::{Context, Source};
    let fake = super::super::tests::fake_root("mon", 10);
    let d = fake.0.clone();
    let seen = monitoring_switch(d.join("run/openvswitch/br-int.mgmt"));
    let cfg: OvsConfig = toml::from_str(
        "bridges = ['br-int']\nowned_cookies = ['0x9f3c6a1d2e4b7c85']\nflows_timeout_ms = 2000",
    )
    .unwrap();
    let mut src = OvsSource::new(cfg);
    let root = HostRoot::new(&d);
    let fds = FdBudget::with_caps([(Holder::Ovs, 4)]);
    let mut disks = DiskstatsFile::default();
    let mut run = || {
        let cx = Context::new(&root, &fds, disks.read(&root, &fds));
        let mut errors = vec![];
        let ovs = src.collect(&cx, &mut errors).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        let a = ovs.bridges[0].flows.clone().unwrap();
        assert_eq!(
            (a.flows, a.stale_cookie.count, a.missing_port.count),
            (37, 2, 3)
        );
        std::thread::sleep(Duration::from_millis(50));
        seen.lock().unwrap().dumps
    };
    assert_eq!(run(), 1);
    assert_eq!(run(), 1, "unchanged: the last audit stands");
    assert_eq!(run(), 1);
    assert_eq!(fds.held(Holder::Ovs), 1);
    // a flow changes: the next collection dumps again, over a new subscription
    let mut sw = seen.lock().unwrap().monitors.pop().unwrap();
    sw.write_all(&[
        1, 17, 0, 24, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0x23, 0x20, 0, 0, 0, 2, 0, 0, 0, 0,
    ])
    .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(run(), 2);
    assert_eq!(run(), 2);
    assert_eq!(fds.held(Holder::Ovs), 1);
}
