//! hvscope-parse: the pure parsers of every host format hvscope reads.
//!
//! **Parses** text or bytes that a caller has already read: `/proc` files ([`proc`]), sysfs
//! attributes ([`sys`]), cgroup membership and control files ([`cgroup`]), the iSCSI
//! initiator's sysfs attributes ([`iscsi`]), libvirt's live status XML and nova.conf
//! ([`libvirt`]), and the CPU list syntax shared by the kernel, libvirt and nova ([`cpuset`]);
//! of the network: OVS flow dumps and OVSDB JSON-RPC replies ([`ovs`]), rtnetlink link dump
//! datagrams ([`netlink`]).
//! **Never does I/O**: no file, socket, process or clock is touched here (the procfs-core /
//! procfs split: this crate is the core, the agent's readers hand it a `&str` or `&[u8]`).
//! Unit tests may read fixtures and this host's live files; the library never does.
//! **Fails** with an error value on malformed input (truncated, non-numeric, out of range,
//! empty): no parser panics, which the fuzz targets in `fuzz/` check.
//!
//! The `/proc` parsers are checked against procfs-core (a dev-dependency only) on every fixture
//! and on the live host (`tests/procfs_core.rs`), on malformed input
//! (`tests/procfs_core_malformed.rs`), and for heap allocations per parse
//! (`tests/alloc_per_read.rs`): the hot path keeps these parsers because they allocate less
//! and refuse what procfs-core panics on or silently accepts.
#![forbid(unsafe_code)]

pub mod cgroup;
pub mod cpuset;
pub mod iscsi;
pub mod libvirt;
pub mod netlink;
pub mod ovs;
pub mod proc;
pub mod sys;

/// A host file's text did not have the expected format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(String);

impl ParseError {
    /// A parse error with a lower-case message.
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}
