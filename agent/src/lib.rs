//! hvscope-agent: the node-local half of hvscope.
//!
//! **Reads** the hypervisor through one host root (`/` live, a fixture tree in tests): `/proc`,
//! `/sys`, cgroups, libvirt's runtime status files, OVSDB and each bridge's flow table, the
//! kernel iSCSI initiator's sysfs, and rtnetlink (live host only). Every format is parsed by the
//! pure `hvscope-parse` crate; what is read when, and what stays open, is the [`io`] layer's.
//! Layers point one way: `io` ← [`sources`] ← {[`checks`], [`sli`]} ← [`snapshot`] ← [`run`].
//! **Emits** Prometheus-style series (`hvscope_` prefix, base units) and findings, streamed to
//! every configured aggregator over one gRPC bidirectional stream each, with mTLS.
//! **Fails** per source: a part that cannot be read is reported as unknown and the rest is still
//! collected; a lost aggregator is retried with backoff while batches wait in a bounded
//! in-memory spool. Nothing is written to disk.
#![forbid(unsafe_code)]

pub mod checks;
pub mod config;
pub mod io;
pub mod run;
pub mod selfstat;
pub mod series;
pub mod sli;
pub mod snapshot;
pub mod sources;
pub mod transport;

/// Version of this agent build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
