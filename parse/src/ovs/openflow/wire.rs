//! OpenFlow messages: the 8-byte header and framing, `HELLO` with a version bitmap and the
//! negotiation OpenFlow 1.3.1 §6.3.1 describes, `ECHO`, `ERROR`, and the flow-statistics
//! request and reply: `OFPMP_FLOW` for OpenFlow 1.3 (what `ovs-ofctl -O OpenFlow13 dump-flows`
//! sends) and Nicira's `NXST_FLOW` for OpenFlow 1.0 (what plain `ovs-ofctl dump-flows` sends).

use super::{Bytes, NX_VENDOR, OFP10, OFP13, OfError};

pub const OFPT_HELLO: u8 = 0;
pub const OFPT_ERROR: u8 = 1;
pub const OFPT_ECHO_REQUEST: u8 = 2;
pub const OFPT_ECHO_REPLY: u8 = 3;
/// OpenFlow 1.0 `OFPT_STATS_REQUEST` / `_REPLY`.
pub const OFPT10_STATS_REQUEST: u8 = 16;
pub const OFPT10_STATS_REPLY: u8 = 17;
/// OpenFlow 1.3 `OFPT_MULTIPART_REQUEST` / `_REPLY`.
pub const OFPT13_MULTIPART_REQUEST: u8 = 18;
pub const OFPT13_MULTIPART_REPLY: u8 = 19;

/// Largest message OpenFlow can frame (the length is 16 bits).
pub const MAX_MSG: usize = 0xffff;

/// An OpenFlow header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub kind: u8,
    pub length: u16,
    pub xid: u32,
}

impl Header {
    /// Decodes the first 8 bytes; `None` when fewer are there. A length below 8 is an error.
    pub fn peek(b: &[u8]) -> Result<Option<Header>, OfError> {
        if b.len() < 8 {
            return Ok(None);
        }
        let h = Header {
            version: b[0],
            kind: b[1],
            length: u16::from_be_bytes([b[2], b[3]]),
            xid: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        };
        if h.length < 8 {
            return Err(OfError::BadLength {
                what: "openflow header",
                len: h.length as usize,
            });
        }
        Ok(Some(h))
    }
}

fn header(out: &mut Vec<u8>, version: u8, kind: u8, xid: u32) -> usize {
    let at = out.len();
    out.extend_from_slice(&[version, kind, 0, 0]);
    out.extend_from_slice(&xid.to_be_bytes());
    at
}

fn finish(out: &mut [u8], at: usize) {
    let len = (out.len() - at) as u16;
    out[at + 2..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// A version bitmap (bit N = version N) of the versions in `versions`.
pub fn bitmap(versions: &[u8]) -> u32 {
    versions
        .iter()
        .filter(|&&v| v < 32)
        .fold(0, |m, &v| m | 1 << v)
}

/// `HELLO` offering `versions` (highest in the header, all in a version-bitmap element).
pub fn hello(versions: &[u8], xid: u32, out: &mut Vec<u8>) {
    let max = versions.iter().copied().max().unwrap_or(OFP13);
    let at = header(out, max, OFPT_HELLO, xid);
    if max > OFP10 {
        out.extend_from_slice(&1u16.to_be_bytes()); // OFPHET_VERSIONBITMAP
        out.extend_from_slice(&8u16.to_be_bytes());
        out.extend_from_slice(&bitmap(versions).to_be_bytes());
    }
    finish(out, at);
}

/// The version both sides speak, from the peer's `HELLO` (the whole message): the highest
/// common bit of both bitmaps, or without a bitmap the lower of both header versions, when we
/// offer it.
pub fn negotiate(ours: &[u8], theirs: &[u8]) -> Result<u8, OfError> {
    let h = Header::peek(theirs)?.ok_or(OfError::Short {
        what: "hello",
        need: 8,
        have: theirs.len(),
    })?;
    if h.kind != OFPT_HELLO {
        return Err(OfError::Unexpected {
            version: h.version,
            kind: h.kind,
        });
    }
    let mine = bitmap(ours);
    let end = (h.length as usize).min(theirs.len());
    let mut b = Bytes::new(&theirs[8..end], "hello element");
    let mut peer = None;
    while b.len() >= 4 {
        let kind = b.u16()?;
        let len = b.u16()? as usize;
        if len < 4 {
            return Err(OfError::BadLength {
                what: "hello element",
                len,
            });
        }
        let body = b.take((len - 4).min(b.len()))?;
        let pad = (len.div_ceil(8) * 8 - len).min(b.len());
        b.skip(pad)?;
        if kind == 1 && body.len() >= 4 {
            peer = Some(u32::from_be_bytes([body[0], body[1], body[2], body[3]]));
        }
    }
    let common = match peer {
        Some(p) => mine & p,
        None => {
            let v = h.version.min(ours.iter().copied().max().unwrap_or(0));
            mine & (1u32.checked_shl(v as u32).unwrap_or(0))
        }
    };
    if common == 0 {
        return Err(OfError::NoCommonVersion {
            ours: mine,
            theirs: peer.unwrap_or(1u32.checked_shl(h.version as u32).unwrap_or(0)),
        });
    }
    Ok(31 - common.leading_zeros() as u8)
}

/// The `ECHO_REPLY` to an `ECHO_REQUEST` (same version, xid and payload).
pub fn echo_reply(request: &[u8], out: &mut Vec<u8>) {
    let at = out.len();
    out.extend_from_slice(request);
    if out.len() >= at + 8 {
        out[at + 1] = OFPT_ECHO_REPLY;
    }
}

/// An `ECHO_REQUEST` with no payload.
pub fn echo_request(version: u8, xid: u32, out: &mut Vec<u8>) {
    let at = header(out, version, OFPT_ECHO_REQUEST, xid);
    finish(out, at);
}

/// The request for every flow of every table: OpenFlow 1.3 `OFPMP_FLOW` or, for 1.0,
/// `NXST_FLOW` (NXM matches, like `ovs-ofctl` sends for OpenFlow 1.0).
pub fn flow_stats_request(version: u8, xid: u32, out: &mut Vec<u8>) {
    if version == OFP10 {
        let at = header(out, OFP10, OFPT10_STATS_REQUEST, xid);
        out.extend_from_slice(&0xffffu16.to_be_bytes()); // OFPST_VENDOR
        out.extend_from_slice(&0u16.to_be_bytes()); // flags
        out.extend_from_slice(&NX_VENDOR.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes()); // NXST_FLOW
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&0xffffu16.to_be_bytes()); // out_port OFPP_NONE
        out.extend_from_slice(&0u16.to_be_bytes()); // match_len
        out.extend_from_slice(&[0xff, 0, 0, 0]); // all tables
        finish(out, at);
        return;
    }
    let at = header(out, version, OFPT13_MULTIPART_REQUEST, xid);
    out.extend_from_slice(&1u16.to_be_bytes()); // OFPMP_FLOW
    out.extend_from_slice(&[0; 6]); // flags, pad
    out.extend_from_slice(&[0xff, 0, 0, 0]); // all tables
    out.extend_from_slice(&0xffff_ffffu32.to_be_bytes()); // out_port ANY
    out.extend_from_slice(&0xffff_ffffu32.to_be_bytes()); // out_group ANY
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&[0; 16]); // cookie, cookie_mask
    out.extend_from_slice(&[0, 1, 0, 4, 0, 0, 0, 0]); // empty OXM match
    finish(out, at);
}

/// `NXST_FLOW_MONITOR` (OpenFlow 1.0 + Nicira) for every flow of every table, reporting
/// additions, deletions and modifications without their actions and without the initial
/// flows: a change signal, not a copy of the table.
pub fn flow_monitor_request(id: u32, xid: u32, out: &mut Vec<u8>) {
    let at = header(out, OFP10, OFPT10_STATS_REQUEST, xid);
    out.extend_from_slice(&0xffffu16.to_be_bytes()); // OFPST_VENDOR
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&NX_VENDOR.to_be_bytes());
    out.extend_from_slice(&NXST_FLOW_MONITOR.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&0x000eu16.to_be_bytes()); // NXFMF_ADD | DELETE | MODIFY
    out.extend_from_slice(&0xffffu16.to_be_bytes()); // out_port OFPP_NONE
    out.extend_from_slice(&0u16.to_be_bytes()); // match_len
    out.extend_from_slice(&[0xff, 0, 0, 0, 0, 0]); // all tables, zeros
    finish(out, at);
}

/// Nicira stats subtype of flow monitoring.
pub const NXST_FLOW_MONITOR: u32 = 2;

/// True when `msg` (a whole message) is the `NXST_FLOW_MONITOR` reply to `xid`.
pub fn is_flow_monitor_reply(msg: &[u8], xid: u32) -> bool {
    msg.len() >= 24
        && msg[0] == OFP10
        && msg[1] == OFPT10_STATS_REPLY
        && msg[4..8] == xid.to_be_bytes()
        && msg[8..10] == [0xff, 0xff]
        && msg[12..16] == NX_VENDOR.to_be_bytes()
        && msg[16..20] == NXST_FLOW_MONITOR.to_be_bytes()
}

/// A message as far as the agent cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// Part of the flow-stats reply to `xid`: the bytes of its entries; `more` when further
    /// parts follow.
    FlowStats {
        xid: u32,
        more: bool,
        entries: &'a [u8],
    },
    EchoRequest,
    Error {
        xid: u32,
        kind: u16,
        code: u16,
    },
    /// Anything else (port status, a late echo reply…), to be ignored.
    Other {
        kind: u8,
    },
}

/// Classifies one whole message (header included) of version `version`.
pub fn classify(version: u8, msg: &[u8]) -> Result<Message<'_>, OfError> {
    let h = Header::peek(msg)?.ok_or(OfError::Short {
        what: "message",
        need: 8,
        have: msg.len(),
    })?;
    if h.length as usize != msg.len() {
        return Err(OfError::BadLength {
            what: "message",
            len: msg.len(),
        });
    }
    let mut b = Bytes::new(&msg[8..], "message body");
    Ok(match h.kind {
        OFPT_ECHO_REQUEST => Message::EchoRequest,
        OFPT_ERROR => Message::Error {
            xid: h.xid,
            kind: b.u16()?,
            code: b.u16()?,
        },
        OFPT13_MULTIPART_REPLY if version != OFP10 => {
            let kind = b.u16()?;
            let flags = b.u16()?;
            b.skip(4)?;
            if kind != 1 {
                return Ok(Message::Other { kind: h.kind });
            }
            Message::FlowStats {
                xid: h.xid,
                more: flags & 1 != 0,
                entries: b.b,
            }
        }
        OFPT10_STATS_REPLY if version == OFP10 => {
            let kind = b.u16()?;
            let flags = b.u16()?;
            if kind != 0xffff || b.u32()? != NX_VENDOR || b.u32()? != 0 {
                return Ok(Message::Other { kind: h.kind });
            }
            b.skip(4)?;
            Message::FlowStats {
                xid: h.xid,
                more: flags & 1 != 0,
                entries: b.b,
            }
        }
        kind => Message::Other { kind },
    })
}

/// One flow-stats entry, not yet decoded further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFlow<'a> {
    pub version: u8,
    pub table: u8,
    pub duration_sec: u32,
    pub duration_nsec: u32,
    pub priority: u16,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    /// OpenFlow 1.3 `OFPFF_*` flags (0 for 1.0).
    pub flags: u16,
    /// Nicira idle/hard age plus one (0 unknown; OpenFlow 1.0 only).
    pub idle_age: u16,
    pub hard_age: u16,
    pub cookie: u64,
    pub packets: u64,
    pub bytes: u64,
    /// OXM (1.3) or NXM (1.0) fields, without the `ofp_match` header and padding.
    pub fields: &'a [u8],
    /// OpenFlow 1.3 instructions, or OpenFlow 1.0 actions.
    pub program: &'a [u8],
}

/// The entries of a flow-stats reply body, one at a time.
pub struct Entries<'a> {
    version: u8,
    rest: &'a [u8],
}

impl<'a> Entries<'a> {
    pub fn new(version: u8, body: &'a [u8]) -> Self {
        Self {
            version,
            rest: body,
        }
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<RawFlow<'a>, OfError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = entry(self.version, self.rest);
        match r {
            Ok((f, used)) => {
                self.rest = &self.rest[used..];
                Some(Ok(f))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

fn entry(version: u8, all: &[u8]) -> Result<(RawFlow<'_>, usize), OfError> {
    let mut b = Bytes::new(all, "flow stats entry");
    let length = b.u16()? as usize;
    if length < 48 || length > all.len() {
        return Err(OfError::BadLength {
            what: "flow stats entry",
            len: length,
        });
    }
    let mut b = Bytes::new(&all[2..length], "flow stats entry");
    let table = b.u8()?;
    b.skip(1)?;
    let duration_sec = b.u32()?;
    let duration_nsec = b.u32()?;
    let priority = b.u16()?;
    let idle_timeout = b.u16()?;
    let hard_timeout = b.u16()?;
    let (flags, idle_age, hard_age, match_len);
    if version == OFP10 {
        flags = 0;
        match_len = b.u16()? as usize;
        idle_age = b.u16()?;
        hard_age = b.u16()?;
    } else {
        flags = b.u16()?;
        b.skip(4)?;
        (idle_age, hard_age, match_len) = (0, 0, 0);
    }
    let cookie = b.u64()?;
    let packets = b.u64()?;
    let bytes = b.u64()?;
    let fields = if version == OFP10 {
        let f = b.take(match_len)?;
        b.skip((match_len.div_ceil(8) * 8 - match_len).min(b.len()))?;
        f
    } else {
        let kind = b.u16()?;
        let mlen = b.u16()? as usize;
        if kind != 1 || mlen < 4 {
            return Err(OfError::BadLength {
                what: "ofp_match",
                len: mlen,
            });
        }
        let f = b.take(mlen - 4)?;
        b.skip(mlen.div_ceil(8) * 8 - mlen)?;
        f
    };
    let f = RawFlow {
        version,
        table,
        duration_sec,
        duration_nsec,
        priority,
        idle_timeout,
        hard_timeout,
        flags,
        idle_age,
        hard_age,
        cookie,
        packets,
        bytes,
        fields,
        program: b.b,
    };
    Ok((f, length))
}

/// Splits a byte stream into whole messages: feed it what the socket gave; it hands out one
/// message at a time and keeps at most one partial message (≤ 64 KiB).
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    start: usize,
}

impl Framer {
    pub fn new() -> Self {
        Self {
            buf: Vec::with_capacity(2 * MAX_MSG),
            start: 0,
        }
    }

    /// Space to read into: call [`Framer::filled`] with how much was read.
    pub fn spare(&mut self, want: usize) -> &mut [u8] {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > MAX_MSG {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + want, 0);
        &mut self.buf[len..]
    }

    /// Records that `n` bytes of the last [`Framer::spare`] were filled (the rest is dropped).
    pub fn filled(&mut self, want: usize, n: usize) {
        let len = self.buf.len();
        self.buf.truncate(len - want + n.min(want));
    }

    /// The next whole message, if one is buffered.
    pub fn next_message(&mut self) -> Result<Option<&[u8]>, OfError> {
        let avail = &self.buf[self.start..];
        let Some(h) = Header::peek(avail)? else {
            return Ok(None);
        };
        let len = h.length as usize;
        if avail.len() < len {
            return Ok(None);
        }
        let at = self.start;
        self.start += len;
        Ok(Some(&self.buf[at..at + len]))
    }

    /// Bytes held (for the bounded-memory tests).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}
