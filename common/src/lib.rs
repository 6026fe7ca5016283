//! hvscope-common: the small pieces both binaries (agent and aggregator) use, so that neither
//! depends on the other.
//!
//! - [`tls`]: the PEM files of one side of an mTLS connection (CA, certificate, key), their
//!   change stamp (re-read on rotation), client and server rustls configurations, and the name
//!   and expiry of a certificate.
//! - [`config`]: reading a TOML file into a `serde` type, with the file named in every error.
//! - [`notify`]: systemd's `sd_notify(3)` protocol (ready, watchdog, stopping), a no-op without
//!   `NOTIFY_SOCKET`.
//! - [`clock`]: wall-clock milliseconds since the Unix epoch.
//! - [`labels`]: a series' label set packed into one shared string (the agent's and the
//!   aggregator's series).
//!
//! **Fails** with one `thiserror` enum per module ([`tls::TlsError`], [`config::ConfigError`]),
//! each naming the file it could not use; nothing here panics on bad input, and sd_notify
//! failures are ignored (the service manager may be gone at shutdown). No global state beyond
//! rustls's process-wide crypto provider, installed on first use.
#![forbid(unsafe_code)]

pub mod clock;
pub mod config;
pub mod labels;
pub mod notify;
pub mod tls;
