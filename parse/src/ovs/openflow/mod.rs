//! OpenFlow as `ovs-vswitchd` speaks it on `<bridge>.mgmt`, pure half: the messages the agent
//! sends and reads ([`wire`]: hello and version negotiation, echo, flow-stats multipart requests
//! and replies for OpenFlow 1.3 and Nicira's `NXST_FLOW` for OpenFlow 1.0), and each flow-stats
//! entry decoded and rendered as the text `ovs-ofctl dump-flows` prints ([`flow`]): the match
//! from its OXM/NXM fields ([`oxm`], [`matching`], with OVS' field table in [`fields`]) and
//! the instructions and actions ([`actions`], Nicira's in [`nx`] and [`learn`]), values printed
//! as OVS prints them ([`text`]).
//!
//! The decoder never panics and never allocates per field: it renders into a caller's
//! [`String`]. Malformed input (a length that runs past its container, a bad TLV) is an
//! [`OfError`]; an action, instruction or field it does not know is rendered as
//! `unknown…(…)` and counted, never an error, so one odd flow cannot hide the others.
//!
//! The renderer follows OVS 3.1's `match_format`, `ofpacts_format` and `learn_format`
//! (`lib/match.c`, `lib/ofp-actions.c`, `lib/learn.c`) for what OVS itself puts on the wire; the
//! live differential test (`tests/tests/ovs_openflow.rs`) holds it to `ovs-ofctl` line by line.

pub mod actions;
pub mod fields;
pub mod flow;
pub mod learn;
pub mod matching;
pub mod nx;
pub mod oxm;
pub mod text;
pub mod wire;

/// OpenFlow 1.0 and 1.3 version numbers (`ofp_header.version`).
pub const OFP10: u8 = 0x01;
pub const OFP13: u8 = 0x04;

/// Nicira's vendor (experimenter) id.
pub const NX_VENDOR: u32 = 0x0000_2320;

/// Bytes that are not the OpenFlow they should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfError {
    #[error("{what}: {need} bytes needed, {have} left")]
    Short {
        what: &'static str,
        need: usize,
        have: usize,
    },
    #[error("{what}: bad length {len}")]
    BadLength { what: &'static str, len: usize },
    #[error("unexpected message type {kind} (version {version})")]
    Unexpected { version: u8, kind: u8 },
    #[error("no common OpenFlow version (we offer {ours:#x}, the switch {theirs:#x})")]
    NoCommonVersion { ours: u32, theirs: u32 },
    #[error("switch error type {kind} code {code}")]
    Switch { kind: u16, code: u16 },
    #[error("actions nested deeper than {0}")]
    TooDeep(u8),
}

/// A cursor over big-endian bytes; every read is checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bytes<'a> {
    pub(crate) b: &'a [u8],
    what: &'static str,
}

impl<'a> Bytes<'a> {
    pub(crate) fn new(b: &'a [u8], what: &'static str) -> Self {
        Self { b, what }
    }

    pub(crate) fn len(&self) -> usize {
        self.b.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.b.is_empty()
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], OfError> {
        if self.b.len() < n {
            return Err(OfError::Short {
                what: self.what,
                need: n,
                have: self.b.len(),
            });
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Ok(head)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), OfError> {
        self.take(n).map(|_| ())
    }

    pub(crate) fn u8(&mut self) -> Result<u8, OfError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, OfError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, OfError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, OfError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
}

/// Big-endian integer of up to 16 bytes.
pub(crate) fn be_uint(b: &[u8]) -> u128 {
    b.iter().fold(0u128, |acc, &x| (acc << 8) | x as u128)
}

#[cfg(test)]
mod tests;
