//! Nicira's actions (`OFPAT_VENDOR` / experimenter `0x00002320`), as `ofpacts_format` prints
//! them: resubmit, load/move/set_field, output to a register, note, learn (in
//! [`super::learn`]), conjunction, ct with its zone, table, nested exec and nat, controller,
//! write_metadata, clone, push/pop, exit, dec_ttl, set_tunnel, ct_clear; any other subtype is
//! `unknown_nx_action(subtype=N)`.

use std::fmt::Write;

use super::actions::{Rendered, field_at, format_actions, ofs_nbits};
use super::oxm::read_header;
use super::text::{dotted_hex, field_value, hash_x, ip_mask, port, subfield};
use super::{Bytes, NX_VENDOR, OfError, be_uint};

/// A Nicira action; `a` is the whole action, `b` positioned after the vendor id.
pub(crate) fn nx_action(
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
