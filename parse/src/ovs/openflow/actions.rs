//! A flow's program: OpenFlow 1.3 instructions (apply/write/clear actions, write_metadata,
//! goto_table, meter) or OpenFlow 1.0 actions, rendered as `ofpacts_format` prints them:
//! `output:7`, `NORMAL`, `resubmit(,71)`, `load:0x7->NXM_NX_REG5[]`,
//! `move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]`, `set_field:4097->vlan_vid`,
//! `ct(commit,zone=NXM_NX_REG6[0..15],exec(…))`, `learn(…)`, `note:…`, `conjunction(…)`,
//! `goto_table:N`, and `drop` for none. An action it does not know prints as
//! `unknown_action(type=…)` or `unknown_nx_action(subtype=…)` and is counted.

use std::fmt::Write;

use super::fields::{FIELDS, Field};
use super::matching::{field_value, ip_mask, port, port_from_ofp11, read_header};
use super::{Bytes, NX_VENDOR, OFP10, OfError, be_uint};

/// Nesting allowed (`clone(ct(exec(…)))`, `write_actions(…)`).
pub const MAX_DEPTH: u8 = 8;

/// How a program was rendered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Actions and instructions printed as unknown.
    pub unknown: u32,
}

/// `%#x` as C prints it: `0` for zero, `0x…` otherwise.
pub fn hash_x(s: &mut String, v: u128) {
    if v == 0 {
        s.push('0');
    } else {
        let _ = write!(s, "{v:#x}");
    }
}

/// `mf_format_subfield`: `NAME[]`, `NAME[ofs]` or `NAME[ofs..end]`.
pub fn subfield(s: &mut String, f: Option<&Field>, ofs: u16, n_bits: u16) {
    match f {
        Some(f) => s.push_str(f.nxm_name),
        None => s.push_str("<unknown>"),
    }
    if f.is_some_and(|f| ofs == 0 && n_bits == f.n_bits) {
        s.push_str("[]");
    } else if n_bits == 1 {
        let _ = write!(s, "[{ofs}]");
    } else {
        let _ = write!(
            s,
            "[{ofs}..{}]",
            (ofs as u32 + n_bits as u32).saturating_sub(1)
        );
    }
}

/// Reads a field header inside an action (4 bytes, 8 for an experimenter class).
fn field_at(b: &mut Bytes<'_>) -> Result<Option<&'static Field>, OfError> {
    Ok(read_header(b)?.1.map(|(_, f)| f))
}

fn ofs_nbits(v: u16) -> (u16, u16) {
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
            nx_action(version, a, body, s, depth, r)?;
        } else if version == OFP10 {
            of10_action(kind, body, s, r)?;
        } else {
            of13_action(kind, body, s, r)?;
        }
    }
    Ok(())
}

fn output(s: &mut String, port10: u32, max_len: u16) {
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
            super::matching::eth(s, &m);
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

/// A Nicira action; `a` is the whole action, `b` positioned after the vendor id.
fn nx_action(
    version: u8,
    a: &[u8],
    mut b: Bytes<'_>,
    s: &mut String,
    depth: u8,
    r: &mut Rendered,
) -> Result<(), OfError> {
    let subtype = b.u16()?;
    match subtype {
        1 | 14 | 44 => {
            let in_port = b.u16()? as u32;
            let table = if subtype == 1 { 255 } else { b.u8()? };
            if in_port != 0xfff8 && table == 255 {
                s.push_str("resubmit:");
                port(s, in_port);
            } else {
                s.push_str("resubmit(");
                if in_port != 0xfff8 {
                    port(s, in_port);
                }
                s.push(',');
                if table != 255 {
                    let _ = write!(s, "{table}");
                }
                if subtype == 44 {
                    s.push_str(",ct");
                }
                s.push(')');
            }
        }
        2 => {
            b.skip(2)?;
            s.push_str("set_tunnel:");
            hash_x(s, b.u32()? as u128);
        }
        9 => {
            b.skip(6)?;
            s.push_str("set_tunnel64:");
            hash_x(s, b.u64()? as u128);
        }
        4 => {
            b.skip(2)?;
            let _ = write!(s, "set_queue:{}", b.u32()?);
        }
        5 => s.push_str("pop_queue"),
        6 => {
            let n_bits = b.u16()?;
            let src_ofs = b.u16()?;
            let dst_ofs = b.u16()?;
            let src = field_at(&mut b)?;
            let dst = field_at(&mut b)?;
            s.push_str("move:");
            subfield(s, src, src_ofs, n_bits);
            s.push_str("->");
            subfield(s, dst, dst_ofs, n_bits);
        }
        7 => {
            let (ofs, n_bits) = ofs_nbits(b.u16()?);
            let dst = field_at(&mut b)?;
            let value = b.u64()?;
            s.push_str("load:");
            hash_x(s, value as u128);
            s.push_str("->");
            subfield(s, dst, ofs, n_bits);
        }
        33 => {
            b.skip(6)?;
            let (header, f, len) = read_header(&mut b)?;
            let body = b.take(len)?;
            let masked = header & 0x100 != 0;
            match f {
                Some((_, f)) => {
                    let n = f.n_bytes as usize;
                    let (v, m) = if masked && body.len() == 2 * n {
                        (&body[..n], Some(&body[n..]))
                    } else if !masked && body.len() == n {
                        (body, None)
                    } else {
                        return Err(OfError::BadLength {
                            what: "reg_load2",
                            len: body.len(),
                        });
                    };
                    s.push_str("set_field:");
                    field_value(s, f, v, m);
                    s.push_str("->");
                    s.push_str(f.name);
                }
                None => {
                    let _ = write!(s, "unknown_action(set_field=0x{header:08x})");
                    r.unknown += 1;
                }
            }
        }
        8 => {
            s.push_str("note:");
            dotted_hex(s, a.get(10..).unwrap_or(&[]));
        }
        15 => {
            let (ofs, n_bits) = ofs_nbits(b.u16()?);
            let src = field_at(&mut b)?;
            s.push_str("output:");
            subfield(s, src, ofs, n_bits);
        }
        32 => {
            let (ofs, n_bits) = ofs_nbits(b.u16()?);
            b.skip(2)?;
            let src = field_at(&mut b)?;
            s.push_str("output:");
            subfield(s, src, ofs, n_bits);
        }
        16 | 45 => super::learn::format(subtype == 45, a, s)?,
        27 | 28 => {
            let ofs = b.u16()?;
            let f = field_at(&mut b)?;
            let n_bits = b.u16()?;
            s.push_str(if subtype == 27 { "push:" } else { "pop:" });
            subfield(s, f, ofs, n_bits);
        }
        17 => s.push_str("exit"),
        18 => s.push_str("dec_ttl"),
        21 => {
            let n = b.u16()? as usize;
            b.skip(4)?;
            s.push_str("dec_ttl(");
            for i in 0..n {
                if i > 0 {
                    s.push(',');
                }
                let _ = write!(s, "{}", b.u16()?);
            }
            s.push(')');
        }
        19 => {
            let idle = b.u16()?;
            let hard = b.u16()?;
            s.push_str("fin_timeout(");
            if idle != 0 {
                let _ = write!(s, "idle_timeout={idle},");
            }
            if hard != 0 {
                let _ = write!(s, "hard_timeout={hard},");
            }
            if s.ends_with(',') {
                s.pop();
            }
            s.push(')');
        }
        20 => {
            let max_len = b.u16()?;
            let id = b.u16()?;
            let reason = b.u8()?;
            controller(s, max_len, id, reason, &[], false, u32::MAX);
        }
        37 => controller2(a.get(16..).unwrap_or(&[]), s)?,
        22 => {
            b.skip(6)?;
            let (v, m) = (b.u64()?, b.u64()?);
            s.push_str("write_metadata:");
            hash_x(s, v as u128);
            if m != u64::MAX {
                s.push('/');
                hash_x(s, m as u128);
            }
        }
        34 => {
            let clause = b.u8()?;
            let n = b.u8()?;
            let id = b.u32()?;
            let _ = write!(s, "conjunction({id},{}/{n})", clause as u16 + 1);
        }
        35 => ct(version, a, b, s, depth, r)?,
        36 => nat(b, s)?,
        39 => {
            let p = b.u16()?;
            let max_len = b.u32()?;
            s.push_str("output(port=");
            port(s, p as u32);
            let _ = write!(s, ",max_len={max_len})");
        }
        42 => {
            s.push_str("clone(");
            format_actions(version, a.get(16..).unwrap_or(&[]), s, depth + 1, r)?;
            s.push(')');
        }
        43 => s.push_str("ct_clear"),
        _ => {
            let _ = write!(s, "unknown_nx_action(subtype={subtype})");
            r.unknown += 1;
        }
    }
    Ok(())
}

/// `format_hex_arg`: bytes as `aa.bb.cc`.
pub fn dotted_hex(s: &mut String, b: &[u8]) {
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        let _ = write!(s, "{x:02x}");
    }
}

fn reason_name(r: u8) -> Option<&'static str> {
    Some(match r {
        0 => "no_match",
        1 => "action",
        2 => "invalid_ttl",
        3 => "action_set",
        4 => "group",
        5 => "packet_out",
        _ => return None,
    })
}

fn controller(
    s: &mut String,
    max_len: u16,
    id: u16,
    reason: u8,
    userdata: &[u8],
    pause: bool,
    meter: u32,
) {
    if reason == 1 && id == 0 && userdata.is_empty() && !pause && meter == u32::MAX {
        let _ = write!(s, "CONTROLLER:{max_len}");
        return;
    }
    s.push_str("controller(");
    if reason != 1 {
        match reason_name(reason) {
            Some(n) => {
                let _ = write!(s, "reason={n},");
            }
            None => {
                let _ = write!(s, "reason={reason},");
            }
        }
    }
    if max_len != u16::MAX {
        let _ = write!(s, "max_len={max_len},");
    }
    if id != 0 {
        let _ = write!(s, "id={id},");
    }
    if !userdata.is_empty() {
        s.push_str("userdata=");
        dotted_hex(s, userdata);
        s.push(',');
    }
    if pause {
        s.push_str("pause,");
    }
    if meter != u32::MAX {
        let _ = write!(s, "meter_id={meter},");
    }
    if s.ends_with(',') {
        s.pop();
    }
    s.push(')');
}

/// `NXAST_CONTROLLER2`: properties after the 16-byte header.
fn controller2(props: &[u8], s: &mut String) -> Result<(), OfError> {
    let (mut max_len, mut id, mut reason, mut pause, mut meter) = (u16::MAX, 0, 1, false, u32::MAX);
    let mut userdata: &[u8] = &[];
    let mut b = Bytes::new(props, "controller2 property");
    while b.len() >= 4 {
        let kind = b.u16()?;
        let len = b.u16()? as usize;
        if len < 4 {
            return Err(OfError::BadLength {
                what: "controller2 property",
                len,
            });
        }
        let body = b.take(len - 4)?;
        b.skip((len.div_ceil(8) * 8 - len).min(b.len()))?;
        let mut v = Bytes::new(body, "controller2 property");
        match kind {
            0 => max_len = v.u16()?,
            1 => id = v.u16()?,
            2 => reason = v.u8()?,
            3 => userdata = body,
            4 => pause = true,
            5 => meter = v.u32()?,
            _ => {}
        }
    }
    controller(s, max_len, id, reason, userdata, pause, meter);
    Ok(())
}

fn ct(
    version: u8,
    a: &[u8],
    mut b: Bytes<'_>,
    s: &mut String,
    depth: u8,
    r: &mut Rendered,
) -> Result<(), OfError> {
    let flags = b.u16()?;
    let zone_src = b.u32()?;
    let zone = b.u16()?;
    let table = b.u8()?;
    b.skip(3)?;
    let alg = b.u16()?;
    s.push_str("ct(");
    if flags & 1 != 0 {
        s.push_str("commit,");
    }
    if flags & 2 != 0 {
        s.push_str("force,");
    }
    if table != 255 {
        let _ = write!(s, "table={table},");
    }
    if zone_src != 0 {
        let mut h = Bytes::new(&a[12..], "ct zone");
        let f = field_at(&mut h)?;
        let (ofs, n_bits) = ofs_nbits(zone);
        s.push_str("zone=");
        subfield(s, f, ofs, n_bits);
        s.push(',');
    } else if zone != 0 {
        let _ = write!(s, "zone={zone},");
    }
    let mut nested = &a[24..];
    // a first nat action is printed outside exec(…)
    if nested.len() >= 16 {
        let kind = u16::from_be_bytes([nested[0], nested[1]]);
        let len = u16::from_be_bytes([nested[2], nested[3]]) as usize;
        let vendor = u32::from_be_bytes([nested[4], nested[5], nested[6], nested[7]]);
        let sub = u16::from_be_bytes([nested[8], nested[9]]);
        if kind == 0xffff && vendor == NX_VENDOR && sub == 36 && len >= 16 && len <= nested.len() {
            nat(Bytes::new(&nested[10..len], "nat"), s)?;
            s.push(',');
            nested = &nested[len..];
        }
    }
    if !nested.is_empty() {
        s.push_str("exec(");
        format_actions(version, nested, s, depth + 1, r)?;
        s.push_str("),");
    }
    match alg {
        0 => {}
        21 => s.push_str("alg=ftp,"),
        69 => s.push_str("alg=tftp,"),
        n => {
            let _ = write!(s, "alg={n},");
        }
    }
    if s.ends_with(',') {
        s.pop();
    }
    s.push(')');
    Ok(())
}

/// `NXAST_NAT`, `b` after the subtype.
fn nat(mut b: Bytes<'_>, s: &mut String) -> Result<(), OfError> {
    b.skip(2)?;
    let flags = b.u16()?;
    let present = b.u16()?;
    s.push_str("nat");
    if flags & 3 == 0 {
        return Ok(());
    }
    s.push('(');
    s.push_str(if flags & 1 != 0 { "src" } else { "dst" });
    let opt = |b: &mut Bytes<'_>, bit: u16, n: usize| -> Result<Option<u128>, OfError> {
        if present & bit != 0 {
            Ok(Some(be_uint(b.take(n)?)))
        } else {
            Ok(None)
        }
    };
    let v4min = opt(&mut b, 1, 4)?;
    let v4max = opt(&mut b, 2, 4)?;
    let v6min = opt(&mut b, 4, 16)?;
    let v6max = opt(&mut b, 8, 16)?;
    let pmin = opt(&mut b, 16, 2)?.unwrap_or(0) as u16;
    let pmax = opt(&mut b, 32, 2)?.unwrap_or(0) as u16;
    let af = if v4min.is_some() {
        4
    } else if v6min.is_some() {
        6
    } else {
        0
    };
    if af != 0 {
        s.push('=');
        if af == 4 {
            let (lo, hi) = (v4min.unwrap_or(0) as u32, v4max.unwrap_or(0) as u32);
            ip_mask(s, lo, u32::MAX);
            if hi != 0 && hi != lo {
                s.push('-');
                ip_mask(s, hi, u32::MAX);
            }
        } else {
            let (lo, hi) = (v6min.unwrap_or(0), v6max.unwrap_or(0));
            let br = pmin != 0;
            let v6 = |s: &mut String, v: u128| {
                if br {
                    s.push('[');
                }
                let _ = write!(s, "{}", std::net::Ipv6Addr::from(v));
                if br {
                    s.push(']');
                }
            };
            v6(s, lo);
            if hi != 0 && hi != lo {
                s.push('-');
                v6(s, hi);
            }
        }
        if pmin != 0 {
            let _ = write!(s, ":{pmin}");
            if pmax != 0 && pmax != pmin {
                let _ = write!(s, "-{pmax}");
            }
        }
        s.push(',');
        if flags & 4 != 0 {
            s.push_str("persistent,");
        }
        if flags & 8 != 0 {
            s.push_str("hash,");
        }
        if flags & 16 != 0 {
            s.push_str("random,");
        }
    }
    if s.ends_with(',') {
        s.pop();
    }
    s.push(')');
    Ok(())
}

/// The field table entry for a name (tests and the learn renderer).
pub fn field_named(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}
