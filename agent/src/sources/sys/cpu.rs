//! `/sys/devices/system/cpu`: which CPUs are online and isolated (`isolcpus=`), and each CPU's
//! place in the topology (package, core), which pinning checks and per-core series need.

use std::path::{Path, PathBuf};

use super::files::SysFiles;
use hvscope_parse::sys::{cpulist, index_of, parse_u64};

use super::{SysError, list_dir, read_optional};
use crate::io::{FdBudget, HostRoot};
use hvscope_parse::ParseError;

/// Package and core of one CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CpuTopology {
    pub cpu: u32,
    pub package: u64,
    pub core: u64,
}

/// The CPU part of `/sys`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Cpus {
    pub online: Vec<u32>,
    pub present: Vec<u32>,
    /// CPUs isolated from the scheduler by `isolcpus=` (empty when none or not offered).
    pub isolated: Vec<u32>,
    /// Per-CPU topology, for CPUs whose `cpuN/topology` exists (offline CPUs have none).
    pub topology: Vec<CpuTopology>,
}

const BASE: &str = "sys/devices/system/cpu";

/// Reads the CPU part of `/sys` below `root`. The topology is read again only when the online
/// CPUs changed: it changes only with CPU hotplug, which changes `online`, and re-reading it costs
/// two files per CPU per collection.
pub fn read(root: &HostRoot, fds: &FdBudget, files: &mut SysFiles) -> Result<Cpus, SysError> {
    let base = Path::new(BASE);
    let online = files.read_parsed(root, fds, &base.join("online"), |t| {
        let v = cpulist::parse(t)?;
        if v.is_empty() {
            return Err(ParseError::new("no CPU online"));
        }
        Ok(v)
    })?;
    let present = files
        .read_optional(root, fds, &base.join("present"), cpulist::parse)?
        .unwrap_or_default();
    let isolated = files
        .read_optional(root, fds, &base.join("isolated"), cpulist::parse)?
        .unwrap_or_default();
    if let Some((for_online, t)) = &files.topology
        && *for_online == online
    {
        return Ok(Cpus {
            online,
            present,
            isolated,
            topology: t.clone(),
        });
    }
    let mut topology = Vec::new();
    for name in list_dir(root, base)?.unwrap_or_default() {
        let Some(cpu) = index_of(&name, "cpu") else {
            continue;
        };
        let dir: PathBuf = base.join(&name).join("topology");
        let package = read_optional(root, &dir.join("physical_package_id"), parse_u64)?;
        let core = read_optional(root, &dir.join("core_id"), parse_u64)?;
        if let (Some(package), Some(core)) = (package, core) {
            topology.push(CpuTopology { cpu, package, core });
        }
    }
    topology.sort_by_key(|t| t.cpu);
    files.topology = Some((online.clone(), topology.clone()));
    Ok(Cpus {
        online,
        present,
        isolated,
        topology,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_without_per_cpu_dirs() {
        let root = HostRoot::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/libvirt-kvm-2vm"
        ));
        let c = read(&root, &FdBudget::none(), &mut SysFiles::default()).unwrap();
        assert_eq!(c.online, vec![0, 1]);
        assert_eq!(c.present, vec![0, 1]);
        assert!(c.isolated.is_empty());
        assert!(c.topology.is_empty());
    }

    #[test]
    fn topology_is_read_and_cached_until_online_changes() {
        let dir = std::env::temp_dir().join(format!("hvscope-topo-{}", std::process::id()));
        let w = |rel: &str, v: &str| {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, v).unwrap();
        };
        w("sys/devices/system/cpu/online", "0-1\n");
        for c in 0..3 {
            w(
                &format!("sys/devices/system/cpu/cpu{c}/topology/physical_package_id"),
                "0\n",
            );
            w(
                &format!("sys/devices/system/cpu/cpu{c}/topology/core_id"),
                &format!("{c}\n"),
            );
        }
        let root = HostRoot::new(&dir);
        let fds = FdBudget::for_process();
        let mut files = SysFiles::default();
        let mut again = || read(&root, &fds, &mut files);
        let t = again().unwrap().topology;
        assert_eq!(t.len(), 3);
        assert_eq!(
            t[2],
            CpuTopology {
                cpu: 2,
                package: 0,
                core: 2
            }
        );
        std::fs::remove_dir_all(dir.join("sys/devices/system/cpu/cpu2")).unwrap();
        assert_eq!(again().unwrap().topology.len(), 3, "cached");
        w("sys/devices/system/cpu/online", "0-2\n");
        assert_eq!(again().unwrap().topology.len(), 2, "re-read after hotplug");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_online_is_an_error() {
        let mut files = SysFiles::default();
        assert!(
            read(
                &HostRoot::new("/nonexistent-hvscope"),
                &FdBudget::none(),
                &mut files
            )
            .is_err()
        );
    }
}
