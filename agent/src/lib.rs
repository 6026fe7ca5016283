//! hvscope-agent: the node-local half of hvscope.
//!
//! **Reads** the hypervisor through one host root (`/` live, a fixture tree in tests): `/proc`
//! (and, as issues land, `/sys`, libvirt's runtime files, OVS and iSCSI state).
//! **Emits** Prometheus-style series (`hvscope_` prefix, base units) and findings, streamed to
//! every configured aggregator over one gRPC bidirectional stream each, with mTLS.
//! **Fails** per source: a part that cannot be read is reported as unknown and the rest is still
//! collected; a lost aggregator is retried with backoff while batches wait in a bounded
//! in-memory spool. Nothing is written to disk.
#![forbid(unsafe_code)]

pub mod checks;
pub mod config;
pub mod host_root;
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
