//! How values print, as OVS prints them: `%#x` (`0` for zero), `ds_put_hex`, Ethernet, IPv4
//! and IPv6 addresses with CIDR or dotted masks, reserved port names, flag words
//! (`+new-est`, `syn|ack`), `mf_format` of a field's value and `mf_format_subfield`.

use std::fmt::Write;

use super::be_uint;
use super::fields::{self, Field};
use super::oxm::port_from_ofp11;

pub(crate) fn mac(b: &[u8]) -> [u8; 6] {
    let mut m = [0u8; 6];
    if b.len() == 6 {
        m.copy_from_slice(b);
    }
    m
}
/// `ct_state_to_string`.
pub fn ct_state_name(bit: u32) -> Option<&'static str> {
    Some(match bit {
        0x01 => "new",
        0x02 => "est",
        0x04 => "rel",
        0x08 => "rpl",
        0x10 => "inv",
        0x20 => "trk",
        0x40 => "snat",
        0x80 => "dnat",
        _ => return None,
    })
}
pub(crate) fn tcp_flag_name(bit: u32) -> Option<&'static str> {
    Some(match bit {
        0x001 => "fin",
        0x002 => "syn",
        0x004 => "rst",
        0x008 => "psh",
        0x010 => "ack",
        0x020 => "urg",
        0x040 => "ece",
        0x080 => "cwr",
        0x100 => "ns",
        0x200 => "[200]",
        0x400 => "[400]",
        0x800 => "[800]",
        _ => return None,
    })
}
/// `format_flags`: names of the set bits joined by `del`, unknown bits as one hex number.
pub fn flags(s: &mut String, mut v: u32, name: fn(u32) -> Option<&'static str>, del: char) {
    if v == 0 {
        s.push('0');
        return;
    }
    let mut bad = 0;
    while v != 0 {
        let bit = v & v.wrapping_neg();
        match name(bit) {
            Some(n) => {
                s.push_str(n);
                s.push(del);
            }
            None => bad |= bit,
        }
        v &= !bit;
    }
    if bad != 0 {
        let _ = write!(s, "0x{bad:x}{del}");
    }
    s.pop();
}
/// `format_flags_masked`: `+name-name…`, or the plain flags when every bit is masked.
pub fn flags_masked_max(
    s: &mut String,
    v: u32,
    mut m: u32,
    max: u32,
    name: fn(u32) -> Option<&'static str>,
) {
    if m == max {
        flags(s, v, name, '|');
        return;
    }
    if m == 0 {
        s.push_str("0/0");
        return;
    }
    while m != 0 {
        let bit = m & m.wrapping_neg();
        s.push(if v & bit != 0 { '+' } else { '-' });
        s.push_str(name(bit).unwrap_or("[Unknown]"));
        m &= !bit;
    }
}
/// `xx:xx:xx:xx:xx:xx`.
pub fn eth(s: &mut String, a: &[u8; 6]) {
    let _ = write!(
        s,
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        a[0], a[1], a[2], a[3], a[4], a[5]
    );
}
/// `ip_format_masked`: `a.b.c.d`, `/N` for a CIDR mask, `/a.b.c.d` otherwise.
pub fn ip_mask(s: &mut String, v: u32, m: u32) {
    let _ = write!(s, "{}", std::net::Ipv4Addr::from(v));
    if m != u32::MAX {
        if m.leading_ones() + m.trailing_zeros() == 32 {
            let _ = write!(s, "/{}", m.leading_ones());
        } else {
            let _ = write!(s, "/{}", std::net::Ipv4Addr::from(m));
        }
    }
}
/// `ipv6_format_masked`.
pub fn ipv6_mask(s: &mut String, v: u128, m: Option<u128>) {
    let _ = write!(s, "{}", std::net::Ipv6Addr::from(v));
    if let Some(m) = m.filter(|&m| m != u128::MAX) {
        if m.leading_ones() + m.trailing_zeros() == 128 {
            let _ = write!(s, "/{}", m.leading_ones());
        } else {
            let _ = write!(s, "/{}", std::net::Ipv6Addr::from(m));
        }
    }
}
/// `ds_put_hex`: `0x` and the bytes without leading zero bytes, or `0`.
pub fn hex_bytes(s: &mut String, b: &[u8]) {
    let mut printed = false;
    for &x in b {
        if x != 0 || printed {
            if printed {
                let _ = write!(s, "{x:02x}");
            } else {
                let _ = write!(s, "0x{x:x}");
            }
            printed = true;
        }
    }
    if !printed {
        s.push('0');
    }
}
/// `ofputil_format_port` without a name map: the reserved names, else the number.
pub fn port(s: &mut String, p: u32) {
    let name = match p {
        0xfff7 => "UNSET",
        0xfff8 => "IN_PORT",
        0xfff9 => "TABLE",
        0xfffa => "NORMAL",
        0xfffb => "FLOOD",
        0xfffc => "ALL",
        0xfffd => "CONTROLLER",
        0xfffe => "LOCAL",
        0xffff => "ANY",
        _ => {
            let _ = write!(s, "{p}");
            return;
        }
    };
    s.push_str(name);
}
/// `mf_format` of a field's value (and mask, unless all ones; all zeros prints `ANY`).
pub fn field_value(s: &mut String, f: &Field, value: &[u8], mask: Option<&[u8]>) {
    let mask = match mask {
        Some(m) if m.iter().all(|&b| b == 0) => {
            s.push_str("ANY");
            return;
        }
        Some(m) if m.iter().all(|&b| b == 0xff) => None,
        m => m,
    };
    use fields::Fmt;
    let v = be_uint(value);
    match (f.fmt, mask) {
        (Fmt::Port32, None) => port(s, port_from_ofp11(v as u32)),
        (Fmt::Port16, None) => port(s, v as u32),
        (Fmt::Decimal | Fmt::Port16 | Fmt::Port32, m) => {
            let _ = write!(s, "{}", v as u64);
            if let Some(m) = m {
                s.push('/');
                hex_bytes(s, m);
            }
        }
        (Fmt::Hex, m) => {
            hex_bytes(s, value);
            if let Some(m) = m {
                s.push('/');
                hex_bytes(s, m);
            }
        }
        (Fmt::CtState, m) => {
            let mm = m.map_or(u32::MAX, |m| be_uint(m) as u32);
            flags_masked_max(s, v as u32, mm, 0xffff, ct_state_name);
        }
        (Fmt::Ethernet, m) => {
            eth(s, &mac(value));
            if let Some(m) = m {
                s.push('/');
                eth(s, &mac(m));
            }
        }
        (Fmt::Ipv4, m) => ip_mask(s, v as u32, m.map_or(u32::MAX, |m| be_uint(m) as u32)),
        (Fmt::Ipv6, m) => ipv6_mask(s, v, m.map(be_uint)),
        (Fmt::TcpFlags, m) => {
            let mm = m.map_or(0xffff, |m| be_uint(m) as u32);
            flags_masked_max(s, v as u32 & 0x0fff, mm & 0x0fff, 0x0fff, tcp_flag_name)
        }
        (Fmt::Frag | Fmt::TunFlags | Fmt::PacketType, m) => {
            hex_bytes(s, value);
            if let Some(m) = m {
                s.push('/');
                hex_bytes(s, m);
            }
        }
    }
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
/// `format_hex_arg`: bytes as `aa.bb.cc`.
pub fn dotted_hex(s: &mut String, b: &[u8]) {
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        let _ = write!(s, "{x:02x}");
    }
}
