//! A change signal per bridge, so an unchanged flow table is not dumped again every collection:
//! one OpenFlow 1.0 connection to `<bridge>.mgmt` subscribed to `NXST_FLOW_MONITOR` (flows
//! added, deleted or modified; no actions, no initial flows). Nothing of the flows is kept:
//! any update, a pause (`NXT_FLOW_MONITOR_PAUSED`), an error or a hang-up marks the bridge
//! changed, and the source then dumps it again over a fresh subscription. Echo requests are
//! answered. Reading is non-blocking and bounded (64 KiB per collection; past that the bridge is
//! changed anyway). A bridge that refuses OpenFlow 1.0 or the request has no monitor and is
//! dumped every collection, as without one.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use hvscope_parse::ovs::openflow::wire::{self, Header};
use hvscope_parse::ovs::openflow::{OFP10, OfError};

use super::openflow::OpenFlowError;
use crate::io::Lease;

const XID_HELLO: u32 = 1;
const XID_MONITOR: u32 = 3;
/// Longest message accepted while subscribing (hello, errors, the empty first reply).
const MAX_SETUP_MSG: usize = 4096;
/// Most bytes read per [`FlowMonitor::changed`] call.
const MAX_READ: usize = 64 << 10;

/// One subscription.
#[derive(Debug)]
pub struct FlowMonitor {
    conn: UnixStream,
    _lease: Lease,
    /// Header bytes of the message being read, and how many.
    hdr: [u8; 8],
    have: usize,
    /// Body bytes of the current message still to skip.
    skip: usize,
    changed: bool,
    /// Echo requests answered.
    pub echoes: u64,
}

impl FlowMonitor {
    /// Connects and subscribes within `timeout`.
    pub fn open(sock: &Path, timeout: Duration, lease: Lease) -> Result<Self, OpenFlowError> {
        let path = || sock.to_owned();
        let io = |source| OpenFlowError::Io {
            path: path(),
            source,
        };
        let proto = |source| OpenFlowError::Protocol {
            path: path(),
            source,
        };
        let deadline = Instant::now() + timeout;
        let mut conn = crate::io::connect_unix(sock).map_err(|source| OpenFlowError::Connect {
            path: path(),
            source,
        })?;
        let mut out = Vec::with_capacity(64);
        wire::hello(&[OFP10], XID_HELLO, &mut out);
        conn.set_write_timeout(Some(timeout)).map_err(io)?;
        conn.write_all(&out).map_err(io)?;
        let mut msg = Vec::with_capacity(256);
        let ms = timeout.as_millis() as u64;
        read_msg(&mut conn, &mut msg, deadline, sock, ms)?;
        wire::negotiate(&[OFP10], &msg).map_err(proto)?;
        out.clear();
        wire::flow_monitor_request(1, XID_MONITOR, &mut out);
        conn.write_all(&out).map_err(io)?;
        loop {
            read_msg(&mut conn, &mut msg, deadline, sock, ms)?;
            if wire::is_flow_monitor_reply(&msg, XID_MONITOR) {
                break;
            }
            match Header::peek(&msg).map_err(proto)? {
                Some(h) if h.kind == wire::OFPT_ECHO_REQUEST => {
                    out.clear();
                    wire::echo_reply(&msg, &mut out);
                    conn.write_all(&out).map_err(io)?;
                }
                Some(h) if h.kind == wire::OFPT_ERROR => {
                    let code = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]);
                    let (kind, code) = if msg.len() >= 12 {
                        (code(8), code(10))
                    } else {
                        (0, 0)
                    };
                    return Err(proto(OfError::Switch { kind, code }));
                }
                _ => {}
            }
        }
        conn.set_nonblocking(true).map_err(io)?;
        Ok(Self {
            conn,
            _lease: lease,
            hdr: [0; 8],
            have: 0,
            skip: 0,
            changed: false,
            echoes: 0,
        })
    }

    /// Whether any flow changed since the subscription (reads what arrived; sticky).
    pub fn changed(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        let mut read = 0;
        while !self.changed {
            match self.conn.read(&mut buf) {
                Ok(0) => self.changed = true,
                Ok(n) => {
                    read += n;
                    self.feed(&buf[..n]);
                    if read >= MAX_READ {
                        self.changed = true;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => self.changed = true,
            }
        }
        self.changed
    }

    /// Walks message boundaries: echo requests are answered, anything else is a change.
    fn feed(&mut self, mut b: &[u8]) {
        while !b.is_empty() && !self.changed {
            if self.skip > 0 {
                let k = self.skip.min(b.len());
                self.skip -= k;
                b = &b[k..];
                continue;
            }
            let k = (8 - self.have).min(b.len());
            self.hdr[self.have..self.have + k].copy_from_slice(&b[..k]);
            self.have += k;
            b = &b[k..];
            if self.have < 8 {
                break;
            }
            self.have = 0;
            let len = u16::from_be_bytes([self.hdr[2], self.hdr[3]]) as usize;
            if self.hdr[1] == wire::OFPT_ECHO_REQUEST && len == 8 {
                let mut reply = self.hdr;
                reply[1] = wire::OFPT_ECHO_REPLY;
                // a reply that does not fit the socket now is skipped: a missed probe only
                // costs a reconnect
                let _ = self.conn.write(&reply);
                self.echoes += 1;
            } else {
                self.changed = true;
            }
            self.skip = len.saturating_sub(8);
        }
    }
}

/// Reads one whole message (at most [`MAX_SETUP_MSG`] bytes) into `msg` before `deadline`.
fn read_msg(
    conn: &mut UnixStream,
    msg: &mut Vec<u8>,
    deadline: Instant,
    sock: &Path,
    ms: u64,
) -> Result<(), OpenFlowError> {
    msg.clear();
    let mut need = 8;
    while msg.len() < need {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(OpenFlowError::Timeout {
                path: sock.to_owned(),
                ms,
            });
        }
        conn.set_read_timeout(Some(left))
            .map_err(|source| OpenFlowError::Io {
                path: sock.to_owned(),
                source,
            })?;
        let at = msg.len();
        msg.resize(need, 0);
        match conn.read(&mut msg[at..]) {
            Ok(0) => {
                return Err(OpenFlowError::Closed {
                    path: sock.to_owned(),
                });
            }
            Ok(n) => msg.truncate(at + n),
            Err(e) if e.kind() == ErrorKind::Interrupted => msg.truncate(at),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(OpenFlowError::Timeout {
                    path: sock.to_owned(),
                    ms,
                });
            }
            Err(source) => {
                return Err(OpenFlowError::Io {
                    path: sock.to_owned(),
                    source,
                });
            }
        }
        if msg.len() >= 8 && need == 8 {
            need = u16::from_be_bytes([msg[2], msg[3]]) as usize;
            if !(8..=MAX_SETUP_MSG).contains(&need) {
                return Err(OpenFlowError::Protocol {
                    path: sock.to_owned(),
                    source: OfError::BadLength {
                        what: "message",
                        len: need,
                    },
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
