//! A flow's program: OpenFlow 1.3 instructions (apply/write/clear actions, write_metadata,
//! goto_table, meter) or OpenFlow 1.0 actions, rendered as `ofpacts_format` prints them:
//! `output:7`, `NORMAL`, `resubmit(,71)`, `load:0x7->NXM_NX_REG5[]`,
//! `move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]`, `set_field:4097->vlan_vid`,
//! `ct(commit,zone=NXM_NX_REG6[0..15],exec(…))`, `learn(…)`, `note:…`, `conjunction(…)`,
//! `goto_table:N`, and `drop` for none. An action it does not know prints as
//! `unknown_action(type=…)` or `unknown_nx_action(subtype=…)` and is counted.

use std::fmt::Write;

use super::fields::Field;
use super::oxm::{port_from_ofp11, read_header};
use super::text::{field_value, hash_x, ip_mask, port};
use super::{Bytes, NX_VENDOR, OFP10, OfError};

/// Nesting allowed (`clone(ct(exec(…)))`, `write_actions(…)`).
pub const MAX_DEPTH: u8 = 8;
/// How a program was rendered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Actions and instructions printed as unknown.
    pub unknown: u32,
}
/// Reads a field header inside an action (4 bytes, 8 for an experimenter class).
pub(crate) fn field_at(b: &mut Bytes<'_>) -> Result<Option<&'static Field>, OfError> {
    Ok(read_header(b)?.1.map(|(_, f)| f))
}
pub(crate) fn ofs_nbits(v: u16) -> (u16, u16) {
    (v >> 6, (v & 63) + 1)
}
/// Appends the program of a flow-stats entry of `version`: OpenFlow 1.3 instructions, or
/// OpenFlow 1.0 actions.
pub fn format_program(version: u8, program: &[u8], s: &mut String) -> Result<Rendered, OfError> {
    let mut r = Rendered::default();
    if version == OFP10 {
        format_actions(version, program, s, 0, &mut r)?;
        return Ok(r);
    }
    // instructions by type, printed in OVS' order: meter, apply, clear, write, metadata, goto
    let mut slots: [Option<&[u8]>; 7] = [None; 7];
    let mut others: u32 = 0;
    let mut b = Bytes::new(program, "instruction");
    while !b.is_empty() {
        let kind = b.u16()?;
        let len = b.u16()? as usize;
        if len < 4 || !len.is_multiple_of(8) {
            return Err(OfError::BadLength {
                what: "instruction",
                len,
            });
        }
        let body = b.take(len - 4)?;
        match kind {
            1..=6 => slots[kind as usize] = Some(body),
            _ => others += 1,
        }
    }
    let start = s.len();
    let sep = |s: &mut String| {
        if s.len() > start {
            s.push(',');
        }
    };
    if let Some(body) = slots[6] {
        let mut b = Bytes::new(body, "meter instruction");
        let _ = write!(s, "meter:{}", b.u32()?);
    }
    if let Some(body) = slots[4] {
        let acts = body.get(4..).unwrap_or(&[]);
        if !acts.is_empty() {
            sep(s);
            format_list(version, acts, s, 0, &mut r)?;
        }
    }
    if slots[5].is_some() {
        sep(s);
        s.push_str("clear_actions");
    }
    if let Some(body) = slots[3] {
        sep(s);
        s.push_str("write_actions(");
        format_actions(version, body.get(4..).unwrap_or(&[]), s, 1, &mut r)?;
        s.push(')');
    }
    if let Some(body) = slots[2] {
        let mut b = Bytes::new(body, "write_metadata instruction");
        b.skip(4)?;
        let (v, m) = (b.u64()?, b.u64()?);
        sep(s);
        s.push_str("write_metadata:");
        hash_x(s, v as u128);
        if m != u64::MAX {
            s.push('/');
            hash_x(s, m as u128);
        }
    }
    if let Some(body) = slots[1] {
        sep(s);
        let _ = write!(s, "goto_table:{}", body.first().copied().unwrap_or(0));
    }
    for _ in 0..others {
        sep(s);
        s.push_str("unknown_instruction");
        r.unknown += 1;
    }
    if s.len() == start {
        s.push_str("drop");
    }
    Ok(r)
}
/// `ofpacts_format`: the actions joined by `,`, or `drop` when there are none.
pub fn format_actions(
    version: u8,
    acts: &[u8],
    s: &mut String,
    depth: u8,
    r: &mut Rendered,
) -> Result<(), OfError> {
    if acts.is_empty() {
        s.push_str("drop");
        return Ok(());
    }
    format_list(version, acts, s, depth, r)
}
fn format_list(
    version: u8,
    acts: &[u8],
    s: &mut String,
    depth: u8,
    r: &mut Rendered,
) -> Result<(), OfError> {
    if depth > MAX_DEPTH {
        return Err(OfError::TooDeep(MAX_DEPTH));
    }
    let mut b = Bytes::new(acts, "action");
    let mut first = true;
    while !b.is_empty() {
        let all = b.b;
        let kind = b.u16()?;
        let len = b.u16()? as usize;
        if len < 8 || !len.is_multiple_of(8) || len > all.len() {
            return Err(OfError::BadLength {
                what: "action",
                len,
            });
        }
        let a = &all[..len];
        b.skip(len - 4)?;
        if !first {
            s.push(',');
        }
        first = false;
        let mut body = Bytes::new(&a[4..], "action body");
        if kind == 0xffff {
            let vendor = body.u32()?;
            if vendor != NX_VENDOR {
                let _ = write!(s, "unknown_action(experimenter={vendor:#x})");
                r.unknown += 1;
                continue;
            }
            super::nx::nx_action(version, a, body, s, depth, r)?;
        } else if version == OFP10 {
            of10_action(kind, body, s, r)?;
        } else {
            of13_action(kind, body, s, r)?;
        }
    }
    Ok(())
}
pub(crate) fn output(s: &mut String, port10: u32, max_len: u16) {
    if port10 < 0xff00 {
        s.push_str("output:");
    }
    port(s, port10);
    if port10 == 0xfffd {
        let _ = write!(s, ":{max_len}");
    }
}
fn of13_action(
    kind: u16,
    mut b: Bytes<'_>,
    s: &mut String,
    r: &mut Rendered,
) -> Result<(), OfError> {
    match kind {
        0 => {
            let p = b.u32()?;
            let max_len = b.u16()?;
            output(s, port_from_ofp11(p), max_len);
        }
        11 => s.push_str("copy_ttl_out"),
        12 => s.push_str("copy_ttl_in"),
        15 => {
            let _ = write!(s, "set_mpls_ttl({})", b.u8()?);
        }
        16 => s.push_str("dec_mpls_ttl"),
        17 => {
            let _ = write!(s, "push_vlan:{:#x}", b.u16()?);
        }
        18 => s.push_str("pop_vlan"),
        19 => {
            let _ = write!(s, "push_mpls:{:#x}", b.u16()?);
        }
        20 => {
            let _ = write!(s, "pop_mpls:{:#x}", b.u16()?);
        }
        21 => {
            let _ = write!(s, "set_queue:{}", b.u32()?);
        }
        22 => {
            let _ = write!(s, "group:{}", b.u32()?);
        }
        23 => {
            let _ = write!(s, "mod_nw_ttl:{}", b.u8()?);
        }
        24 => s.push_str("dec_ttl"),
        25 => {
            let (header, f, len) = read_header(&mut b)?;
            let body = b.take(len)?;
            match f {
                Some((_, f)) if f.n_bytes as usize == body.len() && header & 0x100 == 0 => {
                    s.push_str("set_field:");
                    field_value(s, f, body, None);
                    s.push_str("->");
                    s.push_str(f.name);
                }
                _ => {
                    let _ = write!(s, "unknown_action(set_field=0x{header:08x})");
                    r.unknown += 1;
                }
            }
        }
        _ => {
            let _ = write!(s, "unknown_action(type={kind})");
            r.unknown += 1;
        }
    }
    Ok(())
}
fn of10_action(
    kind: u16,
    mut b: Bytes<'_>,
    s: &mut String,
    r: &mut Rendered,
) -> Result<(), OfError> {
    match kind {
        0 => {
            let p = b.u16()?;
            let max_len = b.u16()?;
            output(s, p as u32, max_len);
        }
        1 => {
            let _ = write!(s, "mod_vlan_vid:{}", b.u16()?);
        }
        2 => {
            let _ = write!(s, "mod_vlan_pcp:{}", b.u8()?);
        }
        3 => s.push_str("strip_vlan"),
        4 | 5 => {
            let mut m = [0u8; 6];
            m.copy_from_slice(b.take(6)?);
            s.push_str(if kind == 4 {
                "mod_dl_src:"
            } else {
                "mod_dl_dst:"
            });
            super::text::eth(s, &m);
        }
        6 | 7 => {
            s.push_str(if kind == 6 {
                "mod_nw_src:"
            } else {
                "mod_nw_dst:"
            });
            ip_mask(s, b.u32()?, u32::MAX);
        }
        8 => {
            let _ = write!(s, "mod_nw_tos:{}", b.u8()?);
        }
        9 | 10 => {
            let w = if kind == 9 {
                "mod_tp_src"
            } else {
                "mod_tp_dst"
            };
            let _ = write!(s, "{w}:{}", b.u16()?);
        }
        11 => {
            let p = b.u16()?;
            b.skip(6)?;
            s.push_str("enqueue:");
            port(s, p as u32);
            let _ = write!(s, ":{}", b.u32()?);
        }
        _ => {
            let _ = write!(s, "unknown_action(type={kind})");
            r.unknown += 1;
        }
    }
    Ok(())
}
