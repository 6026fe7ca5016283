//! Sources: one module per thing the agent reads. Each has pure parsers over `&str` and a thin
//! reader that goes through the [I/O layer](crate::io). A source that cannot be read yields a
//! [`SourceError`] (the "unknown" outcome), never a made-up value.
//!
//! Each source is a struct implementing [`Source`] (node_exporter's `Collector.Update` is the
//! model): it owns what it keeps between collections (parsed files, kept files, listings,
//! previous readings), and the collector (`snapshot::Collector`) holds one of each. No
//! source keeps state anywhere else (no `static`, no `thread_local`).

use crate::io::{FdBudget, HostRoot};
use crate::sources::proc::files::Diskstats;
use hvscope_parse::proc::mounts::Mount;

pub mod cgroup;
pub mod host;
pub mod iscsi;
pub mod libvirt;
pub mod netlink;
pub mod ovs;
pub mod proc;
pub mod rootfs;
pub mod sys;

/// One thing the agent reads, with the state it keeps between collections.
pub trait Source {
    /// What one collection of it yields (its part of the snapshot).
    type Output;
    /// The fixed parts this source reports `hvscope_agent_source_up{source=…}` for, in series
    /// order (their errors carry these names). Parts named at run time (`libvirt.domain/<name>`,
    /// `iscsi.session.<name>`, `ovs.flows.<bridge>`) are reported through their errors and
    /// findings only.
    const PARTS: &'static [&'static str];
    /// Reads the source once. A part that cannot be read is pushed to `errors` (named as in
    /// [`PARTS`](Self::PARTS) where it is one of them) and the rest is still read.
    fn collect(&mut self, cx: &Context<'_>, errors: &mut Vec<SourceError>) -> Self::Output;
}

/// What every source gets for one collection: the host root, the one fd budget, and what the
/// collection has read once for several sources.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub root: &'a HostRoot,
    pub fds: &'a FdBudget,
    /// This collection's one reading of `proc/diskstats` (the host and iSCSI parts' devices).
    pub diskstats: Diskstats<'a>,
    /// The mount table as the host part read it this collection (`None` before the host part,
    /// and when it could not be read).
    pub mounts: Option<&'a [Mount]>,
    /// The host's PSI `some` totals (seconds: cpu, memory, io) as the host part read them this
    /// collection (`None` before the host part, and without PSI). While one stands still
    /// between two collections no cgroup's can have moved (a task stalled in a cgroup is a
    /// stalled task of the host), so a source may report a cgroup's last reading again.
    pub host_psi: Option<[f64; 3]>,
}

impl<'a> Context<'a> {
    /// A context with this collection's `diskstats` reading and no mount table yet.
    pub fn new(root: &'a HostRoot, fds: &'a FdBudget, diskstats: Diskstats<'a>) -> Self {
        Self {
            root,
            fds,
            diskstats,
            mounts: None,
            host_psi: None,
        }
    }
}

/// A source, or one part of it, could not be read or parsed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SourceError {
    /// Which source: `proc.stat`, `proc.meminfo`, …
    pub source: String,
    /// Why, in one line.
    pub reason: String,
}

impl SourceError {
    /// An error of `source` with the `Display` of `err` as the reason.
    pub fn new(source: impl Into<String>, err: impl std::fmt::Display) -> Self {
        Self {
            source: source.into(),
            reason: err.to_string(),
        }
    }
}
