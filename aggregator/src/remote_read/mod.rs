//! Prometheus remote-read: the protocol messages ([`proto`]), the pure codec ([`codec`]) and
//! the HTTP handler for `POST /api/v1/read` ([`handler`]).
pub mod codec;
pub mod handler;
pub mod proto;
