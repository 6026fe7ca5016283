//! What a parsed [`Flow`] refers to: OpenFlow ports (`in_port=`, `output:`, `enqueue:`,
//! `resubmit(PORT,TABLE)`, bare port numbers, inside `clone(…)` too) and exact Ethernet
//! addresses (`dl_src`/`dl_dst`/`eth_src`/`eth_dst`, unmasked or fully masked).

use std::borrow::Cow;

use super::flow::{Flow, Split, unquote};

/// OpenFlow 1.0 port numbers from here up are reserved (`LOCAL` is 0xfffe, `NONE` 0xffff).
pub const FIRST_RESERVED_PORT: u32 = 0xff00;

const RESERVED_NAMES: [&str; 10] = [
    "IN_PORT",
    "TABLE",
    "NORMAL",
    "FLOOD",
    "ALL",
    "CONTROLLER",
    "LOCAL",
    "NONE",
    "ANY",
    "UNSET",
];

/// A reference to an OpenFlow port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRef<'a> {
    /// A port number below [`FIRST_RESERVED_PORT`].
    Number(u32),
    /// A port name, as `ovs-ofctl --names` prints it (quotes removed).
    Name(Cow<'a, str>),
    /// A reserved port (`LOCAL`, `NORMAL`, `IN_PORT`, … or a number ≥ 0xff00).
    Reserved,
}

impl std::fmt::Display for PortRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortRef::Number(n) => write!(f, "{n}"),
            PortRef::Name(n) => f.write_str(n),
            PortRef::Reserved => f.write_str("reserved"),
        }
    }
}

/// Interprets `s` as a port; `None` when it is not one that can be checked (a register field
/// such as `NXM_NX_REG5[]`, or empty).
pub fn port_ref(s: &str) -> Option<PortRef<'_>> {
    let s = s.trim();
    if s.is_empty() || (s.contains('[') && !s.starts_with('"')) {
        return None;
    }
    let n = match s.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None if s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        None => None,
    };
    if let Some(n) = n {
        return Some(if n >= FIRST_RESERVED_PORT {
            PortRef::Reserved
        } else {
            PortRef::Number(n)
        });
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return Some(PortRef::Reserved); // too large for a port number
    }
    if RESERVED_NAMES.contains(&s) {
        return Some(PortRef::Reserved);
    }
    Some(PortRef::Name(unquote(s)))
}

/// The `in_port` the flow matches, if any.
pub fn in_port<'a>(flow: &Flow<'a>) -> Option<PortRef<'a>> {
    Split::new(flow.matches, |b| b == b',')
        .find_map(|(_, f)| f.strip_prefix("in_port="))
        .and_then(port_ref)
}

/// Calls `visit` with every port the actions send packets to (or resubmit from).
pub fn output_ports<'a>(actions: &'a str, visit: &mut dyn FnMut(PortRef<'a>)) {
    for (_, a) in Split::new(actions, |b| b == b',') {
        let a = a.trim();
        let port = if let Some(p) = a.strip_prefix("output:") {
            Some(p)
        } else if let Some(args) = call_args(a, "output") {
            Split::new(args, |b| b == b',').find_map(|(_, kv)| kv.strip_prefix("port="))
        } else if let Some(p) = a.strip_prefix("enqueue:") {
            Some(p.rsplit_once(':').map_or(p, |(port, _queue)| port))
        } else if let Some(args) = call_args(a, "enqueue") {
            Split::new(args, |b| b == b',').next().map(|(_, p)| p)
        } else if let Some(p) = a.strip_prefix("resubmit:") {
            Some(p)
        } else if let Some(args) = call_args(a, "resubmit") {
            Split::new(args, |b| b == b',').next().map(|(_, p)| p)
        } else if let Some(inner) = call_args(a, "clone") {
            output_ports(inner, visit);
            None
        } else if !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) {
            Some(a)
        } else {
            None
        };
        if let Some(p) = port.and_then(port_ref) {
            visit(p);
        }
    }
}

/// The inside of `name(…)`.
fn call_args<'a>(action: &'a str, name: &str) -> Option<&'a str> {
    action
        .strip_prefix(name)?
        .strip_prefix('(')?
        .strip_suffix(')')
}

/// Match fields holding an Ethernet address.
pub const MAC_FIELDS: [&str; 4] = ["dl_src", "dl_dst", "eth_src", "eth_dst"];

/// Calls `visit(field, mac)` for every exact Ethernet address the flow matches (lower case).
/// Masked matches (`…/01:00:00:00:00:00`) are patterns, not addresses, and are skipped.
pub fn exact_macs<'a>(flow: &Flow<'a>, visit: &mut dyn FnMut(&'a str, &'a str)) {
    for (_, f) in Split::new(flow.matches, |b| b == b',') {
        let Some((key, value)) = f.split_once('=') else {
            continue;
        };
        if !MAC_FIELDS.contains(&key) {
            continue;
        }
        let mac = match value.split_once('/') {
            Some((mac, mask)) if mask.eq_ignore_ascii_case("ff:ff:ff:ff:ff:ff") => mac,
            Some(_) => continue,
            None => value,
        };
        if is_mac(mac) {
            visit(key, mac);
        }
    }
}

fn is_mac(s: &str) -> bool {
    s.len() == 17
        && s.split(':').count() == 6
        && s.split(':')
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovs::flow::{Line, parse_line};

    fn flow(line: &str) -> Flow<'_> {
        match parse_line(line).unwrap() {
            Line::Flow(f) => f,
            other => panic!("{other:?}"),
        }
    }

    fn outputs(actions: &str) -> Vec<PortRef<'_>> {
        let mut v = vec![];
        output_ports(actions, &mut |p| v.push(p));
        v
    }

    #[test]
    fn ports_of_every_action_form() {
        use PortRef::*;
        assert_eq!(outputs("output:7"), vec![Number(7)]);
        assert_eq!(outputs("load:0x8->NXM_NX_REG5[],resubmit(,81)"), vec![]);
        assert_eq!(
            outputs("ct(commit,zone=NXM_NX_REG6[0..15]),output:8,resubmit(,92)"),
            vec![Number(8)]
        );
        assert_eq!(
            outputs("resubmit(3,60),resubmit:4"),
            vec![Number(3), Number(4)]
        );
        assert_eq!(
            outputs("enqueue:5:1,enqueue(6,2)"),
            vec![Number(5), Number(6)]
        );
        assert_eq!(outputs("output(port=9,max_len=128)"), vec![Number(9)]);
        assert_eq!(outputs("strip_vlan,12"), vec![Number(12)]);
        assert_eq!(outputs("clone(output:43),NORMAL"), vec![Number(43)]);
        assert_eq!(outputs("output:NXM_NX_REG5[]"), vec![]);
        assert_eq!(
            outputs("output:LOCAL,output:IN_PORT"),
            vec![Reserved, Reserved]
        );
        assert_eq!(outputs("output:65534"), vec![Reserved]);
        assert_eq!(
            outputs("output:tap4f2b8c1e-6d,output:\"my port\""),
            vec![Name("tap4f2b8c1e-6d".into()), Name("my port".into())]
        );
        assert_eq!(outputs("output:99999999999"), vec![Reserved]);
    }

    #[test]
    fn in_port_and_macs() {
        let f = flow(
            " cookie=0x1, table=71, priority=95,arp,reg5=0x25,in_port=37,dl_src=FA:16:3e:77:0c:0c,arp_spa=10.10.0.99 actions=resubmit(,94)",
        );
        assert_eq!(in_port(&f), Some(PortRef::Number(37)));
        let mut macs = vec![];
        exact_macs(&f, &mut |k, m| macs.push((k, m)));
        assert_eq!(macs, vec![("dl_src", "FA:16:3e:77:0c:0c")]);

        let f = flow(
            "priority=10,in_port=\"tap x\",dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,eth_src=fa:16:3e:00:00:01/ff:ff:ff:ff:ff:ff,dl_dst=zz actions=NORMAL",
        );
        assert_eq!(in_port(&f), Some(PortRef::Name("tap x".into())));
        let mut macs = vec![];
        exact_macs(&f, &mut |k, m| macs.push((k, m)));
        assert_eq!(macs, vec![("eth_src", "fa:16:3e:00:00:01")]);
    }
}
