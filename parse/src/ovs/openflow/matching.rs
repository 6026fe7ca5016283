//! A flow's match: OXM (OpenFlow 1.3) or NXM (OpenFlow 1.0 + Nicira) TLVs, which share one
//! layout (`class:16 field:7 hasmask:1 length:8`, then value and mask; class `0xffff` adds a
//! 32-bit experimenter id), folded into the fields of OVS' `struct match` the way `mf_set`
//! does, then printed in `match_format`'s order with its words (`ip`, `tcp6`, `dl_vlan=`,
//! `ct_state=+new-est`, `nw_src=10.0.0.0/24`…). A field it does not know is counted and
//! printed as `unknown_field=0x<header>` at the end, never an error.

use std::fmt::Write;

use super::fields;
use super::oxm::{Tlv, port_from_ofp11, tlvs};
use super::text::{
    ct_state_name, eth, flags, flags_masked_max, hash_x, hex_bytes, ip_mask, ipv6_mask, mac, port,
    tcp_flag_name,
};
use super::{OfError, be_uint};

type V<T> = (T, T);
/// The parts of OVS' `struct match` that OVS' fields set (value already masked, mask).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Match {
    pub pkt_mark: V<u32>,
    pub recirc_id: V<u32>,
    pub dp_hash: V<u32>,
    pub conj_id: V<u32>,
    pub actset_output: V<u32>,
    pub ct_state: V<u8>,
    pub ct_zone: V<u16>,
    pub ct_mark: V<u32>,
    pub ct_label: V<u128>,
    pub ct_nw_src: V<u32>,
    pub ct_nw_dst: V<u32>,
    pub ct_ipv6_src: V<u128>,
    pub ct_ipv6_dst: V<u128>,
    pub ct_nw_proto: V<u8>,
    pub ct_tp_src: V<u16>,
    pub ct_tp_dst: V<u16>,
    pub dl_type: V<u16>,
    pub nw_proto: V<u8>,
    pub regs: [V<u32>; 16],
    pub tun_id: V<u64>,
    pub tun_src: V<u32>,
    pub tun_dst: V<u32>,
    pub tun_ipv6_src: V<u128>,
    pub tun_ipv6_dst: V<u128>,
    pub tun_gbp_id: V<u16>,
    pub tun_gbp_flags: V<u8>,
    pub tun_flags: V<u16>,
    pub metadata: V<u64>,
    /// OpenFlow 1.0 port number space (`ofputil_port_from_ofp11` applied).
    pub in_port: V<u16>,
    pub vlan_tci: V<u16>,
    pub dl_src: V<[u8; 6]>,
    pub dl_dst: V<[u8; 6]>,
    pub ipv6_src: V<u128>,
    pub ipv6_dst: V<u128>,
    pub ipv6_label: V<u32>,
    pub nw_src: V<u32>,
    pub nw_dst: V<u32>,
    pub arp_sha: V<[u8; 6]>,
    pub arp_tha: V<[u8; 6]>,
    pub nw_tos: V<u8>,
    pub nw_ttl: V<u8>,
    pub nw_frag: V<u8>,
    pub mpls_lse0: V<u32>,
    pub tp_src: V<u16>,
    pub tp_dst: V<u16>,
    pub nd_target: V<u128>,
    pub tcp_flags: V<u16>,
    /// Fields not folded in: how many, and the first one's header.
    pub unknown: u32,
    pub first_unknown: u32,
}
fn vm<T: Copy + std::ops::BitAnd<Output = T>>(v: T, m: T) -> V<T> {
    (v & m, m)
}
impl Match {
    /// Decodes OXM/NXM fields.
    pub fn decode(fields: &[u8]) -> Result<Match, OfError> {
        let mut m = Match::default();
        tlvs(fields, &mut |t| m.set(&t))?;
        Ok(m)
    }

    fn set(&mut self, t: &Tlv<'_>) {
        let Some((id, f)) = t.field else {
            self.unknown_field(t.header);
            return;
        };
        let n = f.n_bytes as usize;
        let full = [0xffu8; 16];
        let v = be_uint(t.value);
        let mb = t.mask.unwrap_or(&full[..n]);
        let m = be_uint(mb);
        let (v32, m32) = (v as u32, m as u32);
        let (v16, m16) = (v as u16, m as u16);
        let (v8, m8) = (v as u8, m as u8);
        use fields::*;
        match id {
            MFF_DP_HASH => self.dp_hash = vm(v32, m32),
            MFF_RECIRC_ID => self.recirc_id = vm(v32, m32),
            MFF_CONJ_ID => self.conj_id = vm(v32, m32),
            MFF_TUN_ID => self.tun_id = vm(v as u64, m as u64),
            MFF_TUN_SRC => self.tun_src = vm(v32, m32),
            MFF_TUN_DST => self.tun_dst = vm(v32, m32),
            MFF_TUN_IPV6_SRC => self.tun_ipv6_src = vm(v, m),
            MFF_TUN_IPV6_DST => self.tun_ipv6_dst = vm(v, m),
            MFF_TUN_FLAGS => self.tun_flags = vm(v16, m16),
            MFF_TUN_GBP_ID => self.tun_gbp_id = vm(v16, m16),
            MFF_TUN_GBP_FLAGS => self.tun_gbp_flags = vm(v8, m8),
            MFF_METADATA => self.metadata = vm(v as u64, m as u64),
            MFF_IN_PORT => self.in_port = (v16, 0xffff),
            MFF_IN_PORT_OXM => self.in_port = (port_from_ofp11(v32) as u16, 0xffff),
            MFF_ACTSET_OUTPUT => self.actset_output = (port_from_ofp11(v32), 0xffff_ffff),
            MFF_PKT_MARK => self.pkt_mark = vm(v32, m32),
            MFF_CT_STATE => self.ct_state = vm(v8, m8),
            MFF_CT_ZONE => self.ct_zone = vm(v16, m16),
            MFF_CT_MARK => self.ct_mark = vm(v32, m32),
            MFF_CT_LABEL => self.ct_label = vm(v, m),
            MFF_CT_NW_PROTO => self.ct_nw_proto = vm(v8, m8),
            MFF_CT_NW_SRC => self.ct_nw_src = vm(v32, m32),
            MFF_CT_NW_DST => self.ct_nw_dst = vm(v32, m32),
            MFF_CT_IPV6_SRC => self.ct_ipv6_src = vm(v, m),
            MFF_CT_IPV6_DST => self.ct_ipv6_dst = vm(v, m),
            MFF_CT_TP_SRC => self.ct_tp_src = vm(v16, m16),
            MFF_CT_TP_DST => self.ct_tp_dst = vm(v16, m16),
            i if (MFF_REG0..=MFF_REG15).contains(&i) => {
                self.regs[(i - MFF_REG0) as usize] = vm(v32, m32)
            }
            i if (MFF_XREG0..=MFF_XREG7).contains(&i) => {
                let r = 2 * (i - MFF_XREG0) as usize;
                self.regs[r] = vm((v >> 32) as u32, (m >> 32) as u32);
                self.regs[r + 1] = vm(v32, m32);
            }
            i if (MFF_XXREG0..=MFF_XXREG3).contains(&i) => {
                let r = 4 * (i - MFF_XXREG0) as usize;
                for k in 0..4 {
                    let sh = 96 - 32 * k as u32;
                    self.regs[r + k] = vm((v >> sh) as u32, (m >> sh) as u32);
                }
            }
            MFF_ETH_SRC => self.dl_src = mac_vm(t.value, mb),
            MFF_ETH_DST => self.dl_dst = mac_vm(t.value, mb),
            MFF_ETH_TYPE => self.dl_type = (v16, 0xffff),
            MFF_VLAN_TCI => self.vlan_tci = vm(v16, m16),
            MFF_VLAN_VID => {
                let mask = m16 & 0x1fff;
                let tci = (self.vlan_tci.0 & !0x1fff) | (v16 & mask);
                self.vlan_tci = (tci, mask | (self.vlan_tci.1 & 0xe000));
            }
            MFF_VLAN_PCP => {
                let tci = (self.vlan_tci.0 & !0xe000) | ((v16 << 13) & 0xe000) | 0x1000;
                self.vlan_tci = (tci, self.vlan_tci.1 | 0xf000);
            }
            MFF_MPLS_LABEL | MFF_MPLS_TC | MFF_MPLS_BOS | MFF_MPLS_TTL => {
                self.unknown_field(t.header)
            }
            MFF_IPV4_SRC | MFF_ARP_SPA => self.nw_src = vm(v32, m32),
            MFF_IPV4_DST | MFF_ARP_TPA => self.nw_dst = vm(v32, m32),
            MFF_IPV6_SRC => self.ipv6_src = vm(v, m),
            MFF_IPV6_DST => self.ipv6_dst = vm(v, m),
            MFF_IPV6_LABEL => self.ipv6_label = vm(v32, m32),
            MFF_IP_PROTO => self.nw_proto = (v8, 0xff),
            MFF_ARP_OP => self.nw_proto = (v16 as u8, 0xff),
            MFF_IP_DSCP => {
                self.nw_tos = ((self.nw_tos.0 & 0x03) | (v8 & 0xfc), self.nw_tos.1 | 0xfc)
            }
            MFF_IP_DSCP_SHIFTED => {
                self.nw_tos = ((self.nw_tos.0 & 0x03) | (v8 << 2), self.nw_tos.1 | 0xfc)
            }
            MFF_IP_ECN => self.nw_tos = ((self.nw_tos.0 & 0xfc) | (v8 & 3), self.nw_tos.1 | 3),
            MFF_IP_TTL => self.nw_ttl = (v8, 0xff),
            MFF_IP_FRAG => self.nw_frag = vm(v8 & 3, m8 & 3),
            MFF_ARP_SHA | MFF_ND_SLL => self.arp_sha = mac_vm(t.value, mb),
            MFF_ARP_THA | MFF_ND_TLL => self.arp_tha = mac_vm(t.value, mb),
            MFF_TCP_SRC | MFF_UDP_SRC | MFF_SCTP_SRC => self.tp_src = vm(v16, m16),
            MFF_TCP_DST | MFF_UDP_DST | MFF_SCTP_DST => self.tp_dst = vm(v16, m16),
            MFF_ICMPV4_TYPE | MFF_ICMPV6_TYPE => self.tp_src = (v8 as u16, 0xffff),
            MFF_ICMPV4_CODE | MFF_ICMPV6_CODE => self.tp_dst = (v8 as u16, 0xffff),
            MFF_TCP_FLAGS => self.tcp_flags = vm(v16, m16),
            MFF_ND_TARGET => self.nd_target = vm(v, m),
            _ => self.unknown_field(t.header),
        }
    }

    fn unknown_field(&mut self, header: u32) {
        if self.unknown == 0 {
            self.first_unknown = header;
        }
        self.unknown += 1;
    }

    /// Appends the match as `match_format` prints it, `priority=N,` first unless it is the
    /// default (32768). Nothing is appended for a catch-all match at the default priority.
    pub fn format(&self, priority: u16, s: &mut String) {
        let start = s.len();
        if priority != 32768 {
            let _ = write!(s, "priority={priority},");
        }
        u32_hex(s, "pkt_mark", self.pkt_mark);
        u32_hex(s, "recirc_id", self.recirc_id);
        u32_hex(s, "dp_hash", self.dp_hash);
        if self.conj_id.1 != 0 {
            let _ = write!(s, "conj_id={},", self.conj_id.0);
        }
        if self.actset_output.1 != 0 {
            s.push_str("actset_output=");
            port(s, self.actset_output.0);
            s.push(',');
        }
        let (cs, csm) = self.ct_state;
        if csm != 0 {
            s.push_str("ct_state=");
            if csm == 0xff {
                flags(s, cs as u32, ct_state_name, '|');
            } else {
                flags_masked(s, cs as u32, csm as u32, ct_state_name);
            }
            s.push(',');
        }
        if self.ct_zone.1 != 0 {
            u16_masked(s, "ct_zone", self.ct_zone);
        }
        u32_hex(s, "ct_mark", self.ct_mark);
        if self.ct_label.1 != 0 {
            s.push_str("ct_label=");
            hex_bytes(s, &self.ct_label.0.to_be_bytes());
            if self.ct_label.1 != u128::MAX {
                s.push('/');
                hex_bytes(s, &self.ct_label.1.to_be_bytes());
            }
            s.push(',');
        }
        ip_masked(s, "ct_nw_src", self.ct_nw_src);
        ipv6_masked(s, "ct_ipv6_src", self.ct_ipv6_src);
        ip_masked(s, "ct_nw_dst", self.ct_nw_dst);
        ipv6_masked(s, "ct_ipv6_dst", self.ct_ipv6_dst);
        if self.ct_nw_proto.1 != 0 {
            let _ = write!(s, "ct_nw_proto={},", self.ct_nw_proto.0);
            be16_masked(s, "ct_tp_src", self.ct_tp_src);
            be16_masked(s, "ct_tp_dst", self.ct_tp_dst);
        }
        let dl_type = self.dl_type.0;
        let (mut skip_type, mut skip_proto) = (false, false);
        if self.dl_type.1 != 0 {
            skip_type = true;
            let p = self.nw_proto;
            let word = match dl_type {
                0x0800 | 0x86dd => {
                    let v6 = dl_type == 0x86dd;
                    skip_proto = p.1 != 0;
                    match (p.1 != 0, p.0, v6) {
                        (true, 1, false) => "icmp",
                        (true, 58, true) => "icmp6",
                        (true, 6, false) => "tcp",
                        (true, 6, true) => "tcp6",
                        (true, 17, false) => "udp",
                        (true, 17, true) => "udp6",
                        (true, 132, false) => "sctp",
                        (true, 132, true) => "sctp6",
                        (_, _, v6) => {
                            skip_proto = false;
                            if v6 { "ipv6" } else { "ip" }
                        }
                    }
                }
                0x0806 => "arp",
                0x8035 => "rarp",
                0x8847 => "mpls",
                0x8848 => "mplsm",
                _ => {
                    skip_type = false;
                    ""
                }
            };
            if !word.is_empty() {
                s.push_str(word);
                s.push(',');
            }
        }
        for (name, &r) in REG_NAMES.iter().zip(&self.regs) {
            u32_hex(s, name, r);
        }
        // format_flow_tunnel
        be64_masked(s, "tun_id", self.tun_id);
        ip_masked(s, "tun_src", self.tun_src);
        ip_masked(s, "tun_dst", self.tun_dst);
        ipv6_masked(s, "tun_ipv6_src", self.tun_ipv6_src);
        ipv6_masked(s, "tun_ipv6_dst", self.tun_ipv6_dst);
        if self.tun_gbp_id.1 != 0 {
            be16_masked(s, "tun_gbp_id", self.tun_gbp_id);
        }
        if self.tun_gbp_flags.1 != 0 {
            s.push_str("tun_gbp_flags=");
            hash_x(s, self.tun_gbp_flags.0 as u128);
            s.push(',');
        }
        if self.tun_flags.1 & 1 != 0 {
            s.push_str("tun_flags=");
            flags_masked_max(
                s,
                (self.tun_flags.0 & 1) as u32,
                (self.tun_flags.1 & 1) as u32,
                1,
                |b| (b == 1).then_some("oam"),
            );
            s.push(',');
        }
        be64_masked(s, "metadata", self.metadata);
        if self.in_port.1 != 0 {
            s.push_str("in_port=");
            port(s, self.in_port.0 as u32);
            s.push(',');
        }
        let (tci, tm) = self.vlan_tci;
        if tm != 0 {
            let (vid_m, pcp_m, cfi) = (tm & 0x0fff, tm & 0xe000, tm & 0x1000);
            if cfi != 0
                && tci & 0x1000 != 0
                && (vid_m == 0 || vid_m == 0x0fff)
                && (pcp_m == 0 || pcp_m == 0xe000)
                && (vid_m != 0 || pcp_m != 0)
            {
                if vid_m != 0 {
                    let _ = write!(s, "dl_vlan={},", tci & 0x0fff);
                }
                if pcp_m != 0 {
                    let _ = write!(s, "dl_vlan_pcp={},", tci >> 13);
                }
            } else if tm == 0xffff {
                let _ = write!(s, "vlan_tci=0x{tci:04x},");
            } else {
                let _ = write!(s, "vlan_tci=0x{tci:04x}/0x{tm:04x},");
            }
        }
        eth_masked(s, "dl_src", self.dl_src);
        eth_masked(s, "dl_dst", self.dl_dst);
        if !skip_type && self.dl_type.1 != 0 {
            let _ = write!(s, "dl_type=0x{dl_type:04x},");
        }
        let arp = dl_type == 0x0806 || dl_type == 0x8035;
        if dl_type == 0x86dd {
            ipv6_masked(s, "ipv6_src", self.ipv6_src);
            ipv6_masked(s, "ipv6_dst", self.ipv6_dst);
            let (l, lm) = self.ipv6_label;
            if lm != 0 {
                if lm == u32::MAX {
                    let _ = write!(s, "ipv6_label=0x{l:05x},");
                } else {
                    let _ = write!(s, "ipv6_label=0x{l:05x}/0x{lm:05x},");
                }
            }
        } else if arp {
            ip_masked(s, "arp_spa", self.nw_src);
            ip_masked(s, "arp_tpa", self.nw_dst);
        } else {
            ip_masked(s, "nw_src", self.nw_src);
            ip_masked(s, "nw_dst", self.nw_dst);
        }
        if !skip_proto && self.nw_proto.1 != 0 {
            let k = if arp { "arp_op" } else { "nw_proto" };
            let _ = write!(s, "{k}={},", self.nw_proto.0);
        }
        if arp {
            eth_masked(s, "arp_sha", self.arp_sha);
            eth_masked(s, "arp_tha", self.arp_tha);
        }
        if self.nw_tos.1 & 0xfc != 0 {
            let _ = write!(s, "nw_tos={},", self.nw_tos.0 & 0xfc);
        }
        if self.nw_tos.1 & 0x03 != 0 {
            let _ = write!(s, "nw_ecn={},", self.nw_tos.0 & 0x03);
        }
        if self.nw_ttl.1 != 0 {
            let _ = write!(s, "nw_ttl={},", self.nw_ttl.0);
        }
        let (fr, frm) = self.nw_frag;
        let frag = match frm & 3 {
            3 => Some(match (fr & 1 != 0, fr & 2 != 0) {
                (true, true) => "later",
                (true, false) => "first",
                (false, true) => "<error>",
                (false, false) => "no",
            }),
            1 => Some(if fr & 1 != 0 { "yes" } else { "no" }),
            2 => Some(if fr & 2 != 0 { "later" } else { "not_later" }),
            _ => None,
        };
        if let Some(w) = frag {
            let _ = write!(s, "nw_frag={w},");
        }
        let proto = self.nw_proto.0;
        if dl_type == 0x0800 && proto == 1 {
            be16_masked(s, "icmp_type", self.tp_src);
            be16_masked(s, "icmp_code", self.tp_dst);
        } else if dl_type == 0x86dd && proto == 58 {
            be16_masked(s, "icmp_type", self.tp_src);
            be16_masked(s, "icmp_code", self.tp_dst);
            ipv6_masked(s, "nd_target", self.nd_target);
            eth_masked(s, "nd_sll", self.arp_sha);
            eth_masked(s, "nd_tll", self.arp_tha);
        } else {
            be16_masked(s, "tp_src", self.tp_src);
            be16_masked(s, "tp_dst", self.tp_dst);
        }
        if (dl_type == 0x0800 || dl_type == 0x86dd) && proto == 6 && self.tcp_flags.1 != 0 {
            s.push_str("tcp_flags=");
            flags_masked_max(
                s,
                (self.tcp_flags.0 & 0x0fff) as u32,
                (self.tcp_flags.1 & 0x0fff) as u32,
                0x0fff,
                tcp_flag_name,
            );
            s.push(',');
        }
        if self.unknown > 0 {
            let _ = write!(s, "unknown_field=0x{:08x},", self.first_unknown);
        }
        if s.len() > start && s.ends_with(',') {
            s.pop();
        }
    }
}
const REG_NAMES: [&str; 16] = [
    "reg0", "reg1", "reg2", "reg3", "reg4", "reg5", "reg6", "reg7", "reg8", "reg9", "reg10",
    "reg11", "reg12", "reg13", "reg14", "reg15",
];
fn mac_vm(v: &[u8], m: &[u8]) -> V<[u8; 6]> {
    let (v, m) = (mac(v), mac(m));
    let mut out = [0u8; 6];
    for i in 0..6 {
        out[i] = v[i] & m[i];
    }
    (out, m)
}
/// `format_flags_masked` with `max_mask` 0xff (ct_state).
fn flags_masked(s: &mut String, v: u32, m: u32, name: fn(u32) -> Option<&'static str>) {
    flags_masked_max(s, v, m, 0xff, name)
}
/// `format_uint32_masked`, `format_be64_masked`: `name=%#x[/%#x],`.
fn hex_masked(s: &mut String, name: &str, v: u64, m: u64, full: u64) {
    if m != 0 {
        s.push_str(name);
        s.push('=');
        hash_x(s, v as u128);
        if m != full {
            s.push('/');
            hash_x(s, m as u128);
        }
        s.push(',');
    }
}
fn u32_hex(s: &mut String, name: &str, (v, m): V<u32>) {
    hex_masked(s, name, v as u64, m as u64, u32::MAX as u64)
}
fn be64_masked(s: &mut String, name: &str, (v, m): V<u64>) {
    hex_masked(s, name, v, m, u64::MAX)
}
fn be16_masked(s: &mut String, name: &str, (v, m): V<u16>) {
    if m != 0 {
        if m == u16::MAX {
            let _ = write!(s, "{name}={v},");
        } else {
            let _ = write!(s, "{name}=0x{v:x}/0x{m:x},");
        }
    }
}
fn u16_masked(s: &mut String, name: &str, v: V<u16>) {
    be16_masked(s, name, v)
}
fn eth_masked(s: &mut String, name: &str, (v, m): V<[u8; 6]>) {
    if m != [0; 6] {
        let _ = write!(s, "{name}=");
        eth(s, &v);
        if m != [0xff; 6] {
            s.push('/');
            eth(s, &m);
        }
        s.push(',');
    }
}
fn ip_masked(s: &mut String, name: &str, (v, m): V<u32>) {
    if m != 0 {
        let _ = write!(s, "{name}=");
        ip_mask(s, v, m);
        s.push(',');
    }
}
fn ipv6_masked(s: &mut String, name: &str, (v, m): V<u128>) {
    if m != 0 {
        let _ = write!(s, "{name}=");
        ipv6_mask(s, v, Some(m));
        s.push(',');
    }
}
