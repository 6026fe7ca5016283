//! The agent's own OpenFlow client: one connection to a bridge's management socket
//! (`<root>/run/openvswitch/<bridge>.mgmt`) per dump. It says hello offering OpenFlow 1.3 and
//! 1.0, asks for every flow (`OFPMP_FLOW` in 1.3, Nicira `NXST_FLOW` in 1.0, as `ovs-ofctl`
//! does), answers echo requests, and hands each flow to the caller as its reply part arrives,
//! rendered as `ovs-ofctl` would print it (`hvscope_parse::ovs::openflow`). Memory is bounded by
//! one reply part (≤ 64 KiB) and one flow's text, whatever the table size. One deadline covers
//! connect, negotiation and the whole dump; past it the bridge's flows are unknown.

use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hvscope_parse::ovs::flow::Flow;
use hvscope_parse::ovs::openflow::flow::FlowText;
use hvscope_parse::ovs::openflow::wire::{self, Entries, Framer, Message};
use hvscope_parse::ovs::openflow::{OFP10, OFP13, OfError};
use tracing::debug;

use crate::io::send_before;

/// How the flows are read over OpenFlow.
#[derive(Debug, Clone)]
pub struct OpenFlow {
    /// Versions offered, in any order; the highest both sides speak is used.
    pub versions: Vec<u8>,
    pub timeout: Duration,
}

impl Default for OpenFlow {
    fn default() -> Self {
        Self {
            versions: vec![OFP10, OFP13],
            timeout: Duration::from_secs(5),
        }
    }
}

/// The flows of a bridge could not be read over OpenFlow.
#[derive(Debug, thiserror::Error)]
pub enum OpenFlowError {
    #[error("{path}: connect: {source}")]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no complete flow dump within {ms} ms")]
    Timeout { path: PathBuf, ms: u64 },
    #[error("{path}: connection closed by ovs-vswitchd during the dump")]
    Closed { path: PathBuf },
    #[error("{path}: {source}")]
    Protocol {
        path: PathBuf,
        #[source]
        source: OfError,
    },
}

/// What one dump read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DumpStats {
    /// Negotiated OpenFlow version.
    pub version: u8,
    pub flows: u64,
    /// Reply parts (multipart messages).
    pub replies: u64,
    pub bytes: u64,
    pub echoes: u64,
    /// Unknown fields, actions and instructions rendered as `unknown…`.
    pub unknown: u64,
}

const XID_HELLO: u32 = 1;
const XID_DUMP: u32 = 2;
const READ_CHUNK: usize = 64 << 10;

impl OpenFlow {
    /// Dumps the flows of the bridge behind `sock`, calling `visit` with each flow (or the
    /// error of an entry that could not be decoded) as it arrives. Flows seen before a failure
    /// were visited; the caller discards them on `Err`.
    pub fn dump_flows(
        &self,
        sock: &Path,
        visit: &mut dyn FnMut(Result<Flow<'_>, OfError>),
    ) -> Result<DumpStats, OpenFlowError> {
        let deadline = Instant::now() + self.timeout;
        let io = |source| OpenFlowError::Io {
            path: sock.to_owned(),
            source,
        };
        let proto = |source| OpenFlowError::Protocol {
            path: sock.to_owned(),
            source,
        };
        let timeout = || OpenFlowError::Timeout {
            path: sock.to_owned(),
            ms: self.timeout.as_millis() as u64,
        };
        let mut conn = crate::io::connect_unix(sock).map_err(|source| OpenFlowError::Connect {
            path: sock.to_owned(),
            source,
        })?;
        let mut out = Vec::with_capacity(128);
        wire::hello(&self.versions, XID_HELLO, &mut out);
        send_before(&mut conn, &out, deadline).map_err(|e| timeout_or(e, timeout, io))?;

        let mut framer = Framer::new();
        let mut text = FlowText::new();
        let mut stats = DumpStats::default();
        let mut version = None;
        loop {
            // every whole message buffered
            while let Some(msg) = framer.next_message().map_err(proto)? {
                let Some(v) = version else {
                    let v = wire::negotiate(&self.versions, msg).map_err(proto)?;
                    version = Some(v);
                    stats.version = v;
                    out.clear();
                    wire::flow_stats_request(v, XID_DUMP, &mut out);
                    send_before(&mut conn, &out, deadline)
                        .map_err(|e| timeout_or(e, timeout, io))?;
                    continue;
                };
                match wire::classify(v, msg).map_err(proto)? {
                    Message::EchoRequest => {
                        stats.echoes += 1;
                        out.clear();
                        wire::echo_reply(msg, &mut out);
                        send_before(&mut conn, &out, deadline)
                            .map_err(|e| timeout_or(e, timeout, io))?;
                    }
                    Message::Error { xid, kind, code } if xid == XID_DUMP || xid == XID_HELLO => {
                        return Err(proto(OfError::Switch { kind, code }));
                    }
                    Message::FlowStats { xid, more, entries } if xid == XID_DUMP => {
                        stats.replies += 1;
                        for e in Entries::new(v, entries) {
                            match e {
                                Ok(raw) => {
                                    stats.flows += 1;
                                    let r = text.render(&raw);
                                    visit(r);
                                    stats.unknown += text.unknown as u64;
                                }
                                Err(e) => visit(Err(e)),
                            }
                        }
                        if !more {
                            debug!(path = %sock.display(), flows = stats.flows,
                                replies = stats.replies, version = v, "openflow dump done");
                            return Ok(stats);
                        }
                    }
                    _ => {}
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timeout());
            }
            conn.set_read_timeout(Some(left)).map_err(io)?;
            let buf = framer.spare(READ_CHUNK);
            match conn.read(buf) {
                Ok(0) => {
                    framer.filled(READ_CHUNK, 0);
                    return Err(OpenFlowError::Closed {
                        path: sock.to_owned(),
                    });
                }
                Ok(n) => {
                    framer.filled(READ_CHUNK, n);
                    stats.bytes += n as u64;
                }
                Err(e) => {
                    framer.filled(READ_CHUNK, 0);
                    match e.kind() {
                        ErrorKind::Interrupted => {}
                        ErrorKind::WouldBlock | ErrorKind::TimedOut => return Err(timeout()),
                        ErrorKind::ConnectionReset => {
                            return Err(OpenFlowError::Closed {
                                path: sock.to_owned(),
                            });
                        }
                        _ => return Err(io(e)),
                    }
                }
            }
        }
    }
}

/// A failed write: past the deadline, or the switch went away (its reply may be half read).
fn timeout_or(
    e: std::io::Error,
    timeout: impl Fn() -> OpenFlowError,
    io: impl Fn(std::io::Error) -> OpenFlowError,
) -> OpenFlowError {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => timeout(),
        ErrorKind::BrokenPipe | ErrorKind::ConnectionReset => match io(e) {
            OpenFlowError::Io { path, .. } => OpenFlowError::Closed { path },
            other => other,
        },
        _ => io(e),
    }
}

#[cfg(test)]
pub(crate) mod tests;
