//! Synthetic host-root trees for check tests: the real fixture's host `/proc` files plus
//! hand-written ones, in a temporary directory removed on drop.

use std::path::{Path, PathBuf};

use crate::host_root::HostRoot;

/// A temporary host root.
pub struct TestTree(pub PathBuf);

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/libvirt-kvm-2vm"
);

impl TestTree {
    /// A tree holding the real capture's `proc/{stat,meminfo,loadavg,vmstat,mounts,diskstats}`,
    /// `proc/pressure/*` and `sys/devices/system/{cpu,node}`, plus `files` (path, content).
    pub fn new(tag: &str, files: &[(&str, &str)]) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("hvscope-tree-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for rel in [
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
        ] {
            let to = dir.join(rel);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(Path::new(FIXTURE).join(rel), to).unwrap();
        }
        let t = Self(dir);
        for (rel, content) in files {
            t.write(rel, content);
        }
        t
    }

    /// Writes (or replaces) one file.
    pub fn write(&self, rel: &str, content: &str) {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
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
        HostRoot::new(&self.0)
    }
}

impl Drop for TestTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
