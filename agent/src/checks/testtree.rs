//! Synthetic host-root trees for check tests: the real fixture's host `/proc` files plus
//! hand-written ones, written with the one fixture-tree builder ([`hvscope_testkit::TestTree`];
//! removed on drop).

use std::ops::Deref;
use std::path::Path;

use crate::io::HostRoot;

/// A temporary host root: the generic tree (`write`, `join`, … through `Deref`) plus processes
/// and interfaces.
pub struct TestTree(pub hvscope_testkit::TestTree);

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/libvirt-kvm-2vm"
);

/// What every tree copies from [`FIXTURE`].
const HOST_FILES: [&str; 14] = [
    "proc/stat",
    "proc/meminfo",
    "proc/loadavg",
    "proc/vmstat",
    "proc/mounts",
    "proc/diskstats",
    "proc/pressure/cpu",
    "proc/pressure/memory",
    "proc/pressure/io",
    "sys/devices/system/cpu/online",
    "sys/devices/system/cpu/present",
    "sys/devices/system/cpu/isolated",
    "sys/devices/system/node/node0/cpulist",
    "sys/devices/system/node/node0/meminfo",
];

impl Deref for TestTree {
    type Target = hvscope_testkit::TestTree;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl TestTree {
    /// A tree holding the real capture's `proc/{stat,meminfo,loadavg,vmstat,mounts,diskstats}`,
    /// `proc/pressure/*` and `sys/devices/system/{cpu,node}`, plus `files` (path, content).
    pub fn new(tag: &str, files: &[(&str, &str)]) -> Self {
        let t = hvscope_testkit::TestTree::new(tag);
        t.copy_from(Path::new(FIXTURE), &HOST_FILES);
        for (rel, content) in files {
            t.write(rel, content);
        }
        Self(t)
    }

    /// A process `pid` with `comm` in state `state`.
    pub fn process(&self, pid: u32, comm: &str, state: char) {
        self.write(
            &format!("proc/{pid}/stat"),
            &format!(
                "{pid} ({comm}) {state} 1 {pid} {pid} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 100\n"
            ),
        );
        self.write(
            &format!("proc/{pid}/cmdline"),
            &format!("/usr/sbin/{comm}\0"),
        );
    }

    /// An interface in `sys/class/net`.
    pub fn interface(&self, name: &str, operstate: &str, carrier: Option<bool>) {
        let d = format!("sys/class/net/{name}");
        self.write(&format!("{d}/operstate"), &format!("{operstate}\n"));
        if let Some(c) = carrier {
            self.write(&format!("{d}/carrier"), if c { "1\n" } else { "0\n" });
        }
        self.write(&format!("{d}/mtu"), "1500\n");
        self.write(&format!("{d}/speed"), "10000\n");
        for s in crate::sources::sys::net::STATS {
            self.write(&format!("{d}/statistics/{s}"), "7\n");
        }
    }

    /// The host root.
    pub fn root(&self) -> HostRoot {
        HostRoot::new(self.0.root())
    }
}
