//! The hypervisor itself: `/proc` (CPU, memory, load, VM counters, PSI, disks, mounts,
//! processes) and `/sys` (CPU topology, NUMA, hugepages, network interfaces), the root
//! filesystem, and the liveness of the daemons a compute node needs.
//!
//! Each part is read on its own: a part that fails is recorded in the snapshot's errors under
//! its name in [`PARTS`] and the others are still read. A part the host does not have at all
//! (no `/proc/pressure` without PSI, no `/sys/class/net` in a fixture without network
//! captures) is `None` without an error.

mod processes;
pub mod series;
mod series_net;

use hvscope_parse::proc::{
    loadavg::LoadAvg, meminfo::MemInfo, mounts::Mount, pressure::Pressure, stat::Stat,
    vmstat::VmStat,
};

use crate::host_root::HostRoot;
use crate::sources::SourceError;
use crate::sources::proc::{self, ProcError, diskstats::DiskStat};
use crate::sources::rootfs::{self, RootFs};
use crate::sources::sys::{self, cpu::Cpus, hugepages::Pool, net::Interface, node::Node};

pub use processes::{DaemonStatus, ProcessScan, daemon_status};

/// PSI of the three resources.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct HostPressure {
    pub cpu: Pressure,
    pub memory: Pressure,
    pub io: Pressure,
}

/// What was read of the host; a part that could not be read is `None` with its error in the
/// snapshot's `errors`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Host {
    pub stat: Option<Stat>,
    pub meminfo: Option<MemInfo>,
    pub loadavg: Option<LoadAvg>,
    pub vmstat: Option<VmStat>,
    pub pressure: Option<HostPressure>,
    pub diskstats: Option<Vec<DiskStat>>,
    pub mounts: Option<Vec<Mount>>,
    pub processes: Option<ProcessScan>,
    pub cpus: Option<Cpus>,
    pub numa: Option<Vec<Node>>,
    pub hugepages: Option<Vec<Pool>>,
    pub net: Option<Vec<Interface>>,
    pub rootfs: Option<RootFs>,
    /// Where the interface facts came from: `netlink+sysfs` on the live host, `sysfs` below
    /// a fixture tree (netlink would describe this process's namespace, not the tree's), or
    /// `sysfs` with the reason netlink failed.
    pub net_via: String,
    /// Liveness of the configured daemons (empty when the process list could not be read).
    pub daemons: Vec<DaemonStatus>,
}

/// The parts of this source, as named in [`SourceError::source`].
pub const PARTS: [&str; 13] = [
    "proc.stat",
    "proc.meminfo",
    "proc.loadavg",
    "proc.vmstat",
    "proc.pressure",
    "proc.diskstats",
    "proc.mounts",
    "proc.processes",
    "sys.cpu",
    "sys.node",
    "sys.hugepages",
    "sys.net",
    "rootfs",
];

fn keep<T, E: std::fmt::Display>(
    name: &str,
    r: Result<T, E>,
    errors: &mut Vec<SourceError>,
) -> Option<T> {
    r.map_err(|e| {
        tracing::debug!(part = name, error = %e, "host part unreadable");
        errors.push(SourceError::new(name, e));
    })
    .ok()
}

fn read_pressure(root: &HostRoot) -> Result<Option<HostPressure>, ProcError> {
    if !root.path("proc/pressure").is_dir() {
        return Ok(None);
    }
    Ok(Some(HostPressure {
        cpu: proc::read_parsed(
            root,
            "proc/pressure/cpu",
            hvscope_parse::proc::pressure::parse,
        )?,
        memory: proc::read_parsed(
            root,
            "proc/pressure/memory",
            hvscope_parse::proc::pressure::parse,
        )?,
        io: proc::read_parsed(
            root,
            "proc/pressure/io",
            hvscope_parse::proc::pressure::parse,
        )?,
    }))
}

/// Interfaces: netlink + sysfs on the live host, sysfs alone below a fixture tree or when the
/// netlink dump fails (logged; the facts are then all read from sysfs, so nothing is unknown).
fn read_net(root: &HostRoot) -> (Result<Option<Vec<Interface>>, sys::SysError>, String) {
    if !root.is_live() {
        return (
            sys::net::read(root),
            "sysfs (host root is not live: netlink not used)".into(),
        );
    }
    match crate::sources::netlink::dump_links() {
        Ok(links) => (
            sys::net::from_netlink(root, &links).map(Some),
            "netlink+sysfs".into(),
        ),
        Err(error) => {
            tracing::warn!(%error, "netlink link dump failed; reading interfaces from sysfs");
            (
                sys::net::read(root),
                format!("sysfs (netlink failed: {error})"),
            )
        }
    }
}

/// Reads the host below `root`; `daemons` are the required daemons to look for (each entry
/// may list alternatives separated by `|`). Each failure is recorded and the rest is read.
pub fn collect(root: &HostRoot, daemons: &[String], errors: &mut Vec<SourceError>) -> Host {
    let mounts = keep(PARTS[6], proc::read_mounts(root), errors);
    let rootfs = mounts
        .as_deref()
        .and_then(|m| keep(PARTS[12], rootfs::collect(root, m), errors));
    if mounts.is_none() {
        errors.push(SourceError::new(
            PARTS[12],
            "needs proc.mounts, which could not be read",
        ));
    }
    let stat = keep(
        PARTS[0],
        proc::read_parsed(root, "proc/stat", hvscope_parse::proc::stat::parse),
        errors,
    );
    let forks = stat.as_ref().map(|s| s.forks);
    let processes = keep(PARTS[7], processes::read(root, daemons, forks), errors);
    let daemons = processes
        .as_ref()
        .map(|p| p.daemons.clone())
        .unwrap_or_default();
    let (net, net_via) = read_net(root);
    Host {
        stat,
        meminfo: keep(
            PARTS[1],
            proc::read_parsed(root, "proc/meminfo", hvscope_parse::proc::meminfo::parse),
            errors,
        ),
        loadavg: keep(
            PARTS[2],
            proc::read_parsed(root, "proc/loadavg", hvscope_parse::proc::loadavg::parse),
            errors,
        ),
        vmstat: keep(
            PARTS[3],
            proc::read_parsed(root, "proc/vmstat", hvscope_parse::proc::vmstat::parse),
            errors,
        ),
        pressure: keep(PARTS[4], read_pressure(root), errors).flatten(),
        diskstats: keep(
            PARTS[5],
            proc::read_parsed(root, "proc/diskstats", proc::diskstats::parse),
            errors,
        ),
        mounts,
        processes,
        cpus: keep(PARTS[8], sys::cpu::read(root), errors),
        numa: keep(PARTS[9], sys::node::read(root), errors).flatten(),
        hugepages: keep(PARTS[10], sys::hugepages::read(root), errors).flatten(),
        net: keep(PARTS[11], net, errors).flatten(),
        net_via,
        rootfs,
        daemons,
    }
}

#[cfg(test)]
mod tests;
