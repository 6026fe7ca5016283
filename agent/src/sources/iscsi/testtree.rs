//! Synthetic initiator trees for tests and the collection benchmark: the same layout as the real
//! captures in `tests/fixtures/iscsi-guest*` (class links into `sys/devices/platform/hostN/
//! sessionN`, `targetH:C:T/H:C:T:L/block/sdX`, `dev/disk/by-path` links, `sys/block/dm-N/slaves`),
//! written with the one fixture-tree builder ([`hvscope_testkit::TestTree`]; removed on drop).
//!
//! Test-only and free of this crate's items, so that `benches/iscsi_collect.rs` includes the same
//! file (`#[path]`) instead of the library exporting test helpers.

use std::ops::Deref;

/// One LUN of a synthetic session.
#[derive(Debug, Clone)]
pub struct TestLun {
    pub lun: u64,
    pub block: Option<String>,
    pub state: &'static str,
}

impl TestLun {
    /// A running LUN with block device `dev`.
    pub fn disk(lun: u64, dev: &str) -> Self {
        Self {
            lun,
            block: Some(dev.to_owned()),
            state: "running",
        }
    }

    /// A running LUN without a block device (an array's controller LUN).
    pub fn controller(lun: u64) -> Self {
        Self {
            lun,
            block: None,
            state: "running",
        }
    }
}

/// An initiator tree under construction: the generic tree (`write`, `link`, `root`, … through
/// `Deref`) plus sessions, multipath maps and diskstats lines.
#[derive(Debug)]
pub struct TestTree(hvscope_testkit::TestTree);

impl Deref for TestTree {
    type Target = hvscope_testkit::TestTree;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl TestTree {
    /// An empty tree in a fresh temporary directory.
    pub fn new(tag: &str) -> Self {
        Self(hvscope_testkit::TestTree::new(&format!("iscsi-{tag}")))
    }

    /// A session `sid` on SCSI host `sid - 1` logged in (or in `state`) to `target` at
    /// `addr:3260`, one connection in `conn_state`, with `luns`, plus by-path links for the LUNs
    /// with a block device and their diskstats lines.
    pub fn session(
        &mut self,
        sid: u32,
        target: &str,
        addr: &str,
        state: &str,
        conn_state: &str,
        luns: &[TestLun],
    ) {
        let h = sid - 1;
        let sdir = format!("sys/devices/platform/host{h}/session{sid}");
        let cls = format!("{sdir}/iscsi_session/session{sid}");
        for (a, v) in [
            ("targetname", target),
            ("state", state),
            ("target_state", "SCANNED"),
            ("recovery_tmo", "120"),
            ("tpgt", "1"),
            ("initiatorname", "iqn.1993-08.org.debian:01:test"),
            ("ifacename", "default"),
        ] {
            self.write(&format!("{cls}/{a}"), &format!("{v}\n"));
        }
        self.link(
            &format!("sys/class/iscsi_session/session{sid}"),
            &format!("../../devices/platform/host{h}/session{sid}/iscsi_session/session{sid}"),
        );
        self.write(
            &format!("sys/devices/platform/host{h}/iscsi_host/host{h}/ipaddress"),
            "10.0.2.15\n",
        );
        self.link(
            &format!("sys/class/iscsi_host/host{h}"),
            &format!("../../devices/platform/host{h}/iscsi_host/host{h}"),
        );
        let conn = format!("{sdir}/connection{sid}:0/iscsi_connection/connection{sid}:0");
        for (a, v) in [
            ("state", conn_state),
            ("persistent_address", addr),
            ("persistent_port", "3260"),
            ("address", addr),
            ("port", "3260"),
        ] {
            self.write(&format!("{conn}/{a}"), &format!("{v}\n"));
        }
        for l in luns {
            let hctl = format!("{h}:0:0:{}", l.lun);
            let d = format!("{sdir}/target{h}:0:0/{hctl}");
            self.write(&format!("{d}/state"), &format!("{}\n", l.state));
            self.write(&format!("{d}/type"), "0\n");
            if let Some(dev) = &l.block {
                self.write(&format!("{d}/block/{dev}/dev"), "8:0\n");
                self.link(
                    &format!("sys/block/{dev}"),
                    &format!(
                        "../devices/platform/host{h}/session{sid}/target{h}:0:0/{hctl}/block/{dev}"
                    ),
                );
                self.link(
                    &format!(
                        "dev/disk/by-path/ip-{addr}:3260-iscsi-{target}-lun-{}",
                        l.lun
                    ),
                    &format!("../../{dev}"),
                );
                self.disk_stat(dev, 100, 1000);
            }
        }
    }

    /// A multipath map `dm-N` named `name` over `slaves`.
    pub fn multipath(&mut self, n: u32, name: &str, slaves: &[&str]) {
        let d = format!("sys/block/dm-{n}");
        self.write(&format!("{d}/dm/name"), &format!("{name}\n"));
        self.write(&format!("{d}/dm/uuid"), &format!("mpath-36000{n:07}\n"));
        for s in slaves {
            self.link(&format!("{d}/slaves/{s}"), &format!("../../{s}"));
        }
        self.link(&format!("dev/mapper/{name}"), &format!("../dm-{n}"));
        self.disk_stat(&format!("dm-{n}"), 200, 2000);
    }

    /// Adds a diskstats line for `dev` with `ios` reads taking `ms` in total.
    pub fn disk_stat(&mut self, dev: &str, ios: u64, ms: u64) {
        let line = format!(
            "   8       0 {dev} {ios} 0 {} {ms} 0 0 0 0 0 {ms} {ms} 0 0 0 0 0 0\n",
            ios * 8
        );
        self.append("proc/diskstats", &line);
    }
}
