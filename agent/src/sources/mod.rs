//! Sources: one module per thing the agent reads. Each is a thin reader that goes through the
//! [`HostRoot`](crate::host_root::HostRoot) and hands what it read to a pure parser of the
//! `hvscope_parse` crate. A source that cannot
//! be read yields a [`SourceError`] (the "unknown" outcome), never a made-up value.

pub mod cgroup;
pub mod host;
pub mod iscsi;
pub mod libvirt;
pub mod netlink;
pub mod ovs;
pub mod proc;
pub mod rootfs;
pub mod sys;

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
