//! `/sys/devices/system/cpu`: which CPUs are online and isolated (`isolcpus=`), and each CPU's
//! place in the topology (package, core), which pinning checks and per-core series need.

use std::path::{Path, PathBuf};

use super::{SysError, cpulist, index_of, list_dir, parse_u64, read_optional, read_parsed};
use crate::host_root::HostRoot;
use crate::sources::proc::ParseError;

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

/// Reads the CPU part of `/sys` below `root`.
pub fn read(root: &HostRoot) -> Result<Cpus, SysError> {
    let base = Path::new(BASE);
    let online = read_parsed(root, &base.join("online"), |t| {
        let v = cpulist::parse(t)?;
        if v.is_empty() {
            return Err(ParseError::new("no CPU online"));
        }
        Ok(v)
    })?;
    let present = read_optional(root, &base.join("present"), cpulist::parse)?.unwrap_or_default();
    let isolated = read_optional(root, &base.join("isolated"), cpulist::parse)?.unwrap_or_default();
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
        let c = read(&root).unwrap();
        assert_eq!(c.online, vec![0, 1]);
        assert_eq!(c.present, vec![0, 1]);
        assert!(c.isolated.is_empty());
        assert!(c.topology.is_empty());
    }

    #[test]
    fn missing_online_is_an_error() {
        assert!(read(&HostRoot::new("/nonexistent-hvscope")).is_err());
    }
}
