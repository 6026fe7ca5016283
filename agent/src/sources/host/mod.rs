//! The hypervisor itself: `/proc` (CPU, memory, load, VM counters, PSI, disks, mounts,
//! processes) and `/sys` (CPU topology, NUMA, hugepages, network interfaces), the root
//! filesystem, and the liveness of the daemons a compute node needs.
//!
//! Each part is read on its own: a part that fails is recorded in the snapshot's errors under
//! its name in [`PARTS`] and the others are still read. A part the host does not have at all
//! (no `/proc/pressure` without PSI, no `/sys/class/net` in a fixture without network
//! captures) is `None` without an error.

mod disks;
mod processes;
pub mod series;
mod series_net;

use crate::io::{FdBudget, HostRoot};
use crate::sources::netlink::LinkDumper;
use crate::sources::proc::ProcError;
use crate::sources::proc::files::{DiskstatsFile, ProcFiles};
use crate::sources::rootfs::{self, RootFs};
use crate::sources::sys::files::SysFiles;
use crate::sources::sys::{self, cpu::Cpus, hugepages::Pool, net::Interface, node::Node};
use crate::sources::{Context, Source, SourceError};
use hvscope_parse::proc::diskstats::DiskStat;
use hvscope_parse::proc::{
    loadavg::LoadAvg, meminfo::MemInfo, mounts::Mount, pressure::Pressure, stat::Stat,
    vmstat::VmStat,
};

pub use processes::{DaemonStatus, ProcessScan, Processes, daemon_status};

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
    /// Every device of `proc/diskstats`, serialized with the host part's names and units.
    #[serde(serialize_with = "disks::serialize")]
    pub diskstats: Option<Vec<DiskStat>>,
    pub mounts: Option<std::sync::Arc<[Mount]>>,
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

/// The host part with what it keeps between collections: its `/proc` and sysfs files, the
/// process scan, the netlink socket.
#[derive(Debug)]
pub struct HostSource {
    /// The required daemons to look for (each entry may list alternatives separated by `|`).
    daemons: Vec<String>,
    proc: ProcFiles,
    sys: SysFiles,
    processes: Processes,
    netlink: LinkDumper,
}

impl HostSource {
    /// A host part looking for `daemons` (`[host] daemons`).
    pub fn new(daemons: Vec<String>) -> Self {
        Self {
            daemons,
            proc: ProcFiles::default(),
            sys: SysFiles::default(),
            processes: Processes::default(),
            netlink: LinkDumper::default(),
        }
    }

    /// Looks for other daemons from the next collection on (which then reads every process).
    pub fn set_daemons(&mut self, daemons: &[String]) {
        daemons.clone_into(&mut self.daemons);
    }

    /// Files held open.
    pub fn open_files(&self) -> usize {
        self.proc.open_files() + self.sys.open_files()
    }

    fn read_pressure(
        &mut self,
        root: &HostRoot,
        fds: &FdBudget,
    ) -> Result<Option<HostPressure>, ProcError> {
        if !root.path("proc/pressure").is_dir() {
            return Ok(None);
        }
        let mut read = |rel| {
            self.proc
                .read_parsed(root, fds, rel, hvscope_parse::proc::pressure::parse)
        };
        Ok(Some(HostPressure {
            cpu: read("proc/pressure/cpu")?,
            memory: read("proc/pressure/memory")?,
            io: read("proc/pressure/io")?,
        }))
    }

    /// Interfaces: netlink + sysfs on the live host, sysfs alone below a fixture tree or when
    /// the netlink dump fails (logged; the facts are then all read from sysfs, so nothing is
    /// unknown).
    fn read_net(
        &mut self,
        root: &HostRoot,
    ) -> (Result<Option<Vec<Interface>>, sys::SysError>, String) {
        if !root.is_live() {
            return (
                sys::net::read(root),
                "sysfs (host root is not live: netlink not used)".into(),
            );
        }
        match self.netlink.dump() {
            Ok(links) => (
                sys::net::from_netlink(root, links, &mut self.sys.speeds).map(Some),
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
}

impl Source for HostSource {
    type Output = Host;
    const PARTS: &'static [&'static str] = &PARTS;

    /// Reads the host below the root. Each failure is recorded and the rest is read.
    fn collect(&mut self, cx: &Context<'_>, errors: &mut Vec<SourceError>) -> Host {
        let (root, fds) = (cx.root, cx.fds);
        self.sys.next_collection();
        let mounts = keep(PARTS[6], self.proc.read_mounts(root, fds), errors);
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
            self.proc
                .read_parsed(root, fds, "proc/stat", hvscope_parse::proc::stat::parse),
            errors,
        );
        let forks = stat.as_ref().map(|s| s.forks);
        let processes = keep(
            PARTS[7],
            self.processes.read(root, fds, &self.daemons, forks),
            errors,
        );
        let daemons = processes
            .as_ref()
            .map(|p| p.daemons.clone())
            .unwrap_or_default();
        let (net, net_via) = self.read_net(root);
        let meminfo = self.proc.read_parsed(
            root,
            fds,
            "proc/meminfo",
            hvscope_parse::proc::meminfo::parse,
        );
        let meminfo = keep(PARTS[1], meminfo, errors);
        let loadavg = self.proc.read_parsed(
            root,
            fds,
            "proc/loadavg",
            hvscope_parse::proc::loadavg::parse,
        );
        let loadavg = keep(PARTS[2], loadavg, errors);
        let vmstat =
            self.proc
                .read_parsed(root, fds, "proc/vmstat", hvscope_parse::proc::vmstat::parse);
        let vmstat = keep(PARTS[3], vmstat, errors);
        let pressure = keep(PARTS[4], self.read_pressure(root, fds), errors).flatten();
        let diskstats = keep(PARTS[5], cx.diskstats.for_host(), errors);
        let cpus = keep(PARTS[8], sys::cpu::read(root, fds, &mut self.sys), errors);
        let numa = keep(PARTS[9], sys::node::read(root, fds, &mut self.sys), errors).flatten();
        let hugepages = keep(
            PARTS[10],
            sys::hugepages::read(root, fds, &mut self.sys),
            errors,
        )
        .flatten();
        Host {
            stat,
            meminfo,
            loadavg,
            vmstat,
            pressure,
            diskstats,
            mounts,
            processes,
            cpus,
            numa,
            hugepages,
            net: keep(PARTS[11], net, errors).flatten(),
            net_via,
            rootfs,
            daemons,
        }
    }
}

/// Reads the host below `root` once, keeping nothing; `daemons` are the required daemons to
/// look for (each entry may list alternatives separated by `|`). Each failure is recorded and
/// the rest is read.
pub fn collect(root: &HostRoot, daemons: &[String], errors: &mut Vec<SourceError>) -> Host {
    let fds = FdBudget::none();
    let mut disks = DiskstatsFile::default();
    let cx = Context::new(root, &fds, disks.read(root, &fds));
    HostSource::new(daemons.to_vec()).collect(&cx, errors)
}

#[cfg(test)]
mod tests;
