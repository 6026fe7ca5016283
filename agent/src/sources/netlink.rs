//! rtnetlink (`RTM_GETLINK` dump) on the live host: links, operational state, carrier, MTU,
//! 64-bit counters and bond membership. Only used when the host root is the live `/`: netlink
//! describes the network namespace of this process, which below a fixture tree is not the
//! host being read.
//!
//! **Which facts come from where** (one source per fact, on the live host):
//! - netlink: the link list, `operstate`, carrier, MTU, counters, bond membership
//!   (`IFLA_MASTER` of a `bond` master). One dump answers for every link at once (the cost does
//!   not grow with a file per counter per interface: 40 interfaces are ~450 sysfs reads) and
//!   each link's counters come from one consistent `IFLA_STATS64` snapshot.
//! - sysfs: link speed (rtnetlink does not carry it; it is ethtool's) and a bond member's MII
//!   status (`bonding_slave/mii_status`), both read only where they apply.
//!
//! Below a fixture tree, all of it comes from sysfs ([`crate::sources::sys::net`]).

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::LinkMessage;

/// One link as rtnetlink reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct NlLink {
    pub index: u32,
    pub name: String,
    pub operstate: String,
    /// `None` while the link is administratively down (as sysfs refuses to answer then).
    pub carrier: Option<bool>,
    pub mtu: Option<u32>,
    /// Index of the master device (bond, bridge, OVS datapath), if any.
    pub master: Option<u32>,
    /// The link's kind (`bond`, `bridge`, `veth`, …) from `IFLA_LINKINFO`.
    pub kind: Option<String>,
    /// Counters in the order of [`crate::sources::sys::net::STATS`].
    pub stats: Option<[u64; 8]>,
    /// Times the carrier went up or down since the link was created (`IFLA_CARRIER_CHANGES`).
    pub carrier_changes: Option<u32>,
}

/// The netlink dump failed.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("netlink socket: {0}")]
    Socket(#[source] std::io::Error),
    #[error("netlink message: {0}")]
    Decode(String),
    #[error("netlink error reply: {0}")]
    Kernel(String),
    #[error("netlink dump did not end after {0} datagrams")]
    TooLong(usize),
}

// Message and attribute numbers of <linux/netlink.h> and <linux/if_link.h>.
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const IFF_UP: u32 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKINFO: u16 = 18;
const IFLA_STATS64: u16 = 23;
const IFLA_CARRIER: u16 = 33;
const IFLA_CARRIER_CHANGES: u16 = 35;
const IFLA_INFO_KIND: u16 = 1;
/// `nlmsghdr` and `ifinfomsg` sizes.
const NLMSG_HDR: usize = 16;
const IFINFOMSG: usize = 16;

/// RFC 2863 operational state (`IF_OPER_*`).
fn operstate(s: u8) -> String {
    match s {
        0 => "unknown".into(),
        1 => "notpresent".into(),
        2 => "down".into(),
        3 => "lowerlayerdown".into(),
        4 => "testing".into(),
        5 => "dormant".into(),
        6 => "up".into(),
        n => format!("other({n})"),
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A NUL-terminated string attribute.
fn nla_string(v: &[u8]) -> Result<String, NetlinkError> {
    let v = v.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8(v.to_vec()).map_err(|_| NetlinkError::Decode("attribute not UTF-8".into()))
}

/// The attributes (type without the nested/byte-order flags, payload) of a netlink attribute
/// stream; an attribute overrunning the stream is an error.
fn attributes(mut b: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), NetlinkError>> {
    std::iter::from_fn(move || {
        if b.is_empty() {
            return None;
        }
        let (Some(len), Some(kind)) = (u16_at(b, 0), u16_at(b, 2)) else {
            b = &[];
            return Some(Err(NetlinkError::Decode("truncated attribute".into())));
        };
        let len = usize::from(len);
        if len < 4 || len > b.len() {
            b = &[];
            return Some(Err(NetlinkError::Decode(format!(
                "bad attribute length {len}"
            ))));
        }
        let value = &b[4..len];
        b = &b[((len + 3) & !3).min(b.len())..];
        Some(Ok((kind & 0x3fff, value)))
    })
}

/// One `RTM_NEWLINK` message body (`ifinfomsg` and attributes). Reads only the attributes the
/// agent uses (a full decode of every attribute of every link cost as much as the kernel's dump).
fn link(body: &[u8]) -> Result<NlLink, NetlinkError> {
    let short = || NetlinkError::Decode("short link message".into());
    let index = u32_at(body, 4).ok_or_else(short)?;
    let flags = u32_at(body, 8).ok_or_else(short)?;
    let mut l = NlLink {
        index,
        operstate: "unknown".into(),
        ..Default::default()
    };
    let mut carrier = None;
    let bad = |what: &str| NetlinkError::Decode(format!("bad {what} attribute"));
    for a in attributes(body.get(IFINFOMSG..).ok_or_else(short)?) {
        let (kind, v) = a?;
        match kind {
            IFLA_IFNAME => l.name = nla_string(v)?,
            IFLA_OPERSTATE => l.operstate = operstate(*v.first().ok_or_else(|| bad("operstate"))?),
            IFLA_CARRIER => carrier = Some(*v.first().ok_or_else(|| bad("carrier"))? != 0),
            IFLA_CARRIER_CHANGES => {
                l.carrier_changes = Some(u32_at(v, 0).ok_or_else(|| bad("carrier changes"))?)
            }
            IFLA_MTU => l.mtu = Some(u32_at(v, 0).ok_or_else(|| bad("mtu"))?),
            IFLA_MASTER => l.master = Some(u32_at(v, 0).ok_or_else(|| bad("master"))?),
            IFLA_STATS64 => {
                // struct rtnl_link_stats64: rx_packets, tx_packets, rx_bytes, tx_bytes,
                // rx_errors, tx_errors, rx_dropped, tx_dropped, …
                let f = |i: usize| u64_at(v, i * 8).ok_or_else(|| bad("stats64"));
                l.stats = Some([f(2)?, f(3)?, f(0)?, f(1)?, f(4)?, f(5)?, f(6)?, f(7)?]);
            }
            IFLA_LINKINFO => {
                for i in attributes(v) {
                    let (k, kv) = i?;
                    if k == IFLA_INFO_KIND {
                        l.kind = Some(nla_string(kv)?);
                    }
                }
            }
            _ => {}
        }
    }
    l.carrier = carrier.filter(|_| flags & IFF_UP != 0);
    Ok(l)
}

/// Parses one datagram of a link dump, appending links to `out`; true once the dump's
/// `NLMSG_DONE` was seen. Pure: the fuzz target and the unit tests call it on raw bytes.
pub fn parse_datagram(mut bytes: &[u8], out: &mut Vec<NlLink>) -> Result<bool, NetlinkError> {
    while !bytes.is_empty() {
        let (Some(len), Some(kind)) = (u32_at(bytes, 0), u16_at(bytes, 4)) else {
            return Err(NetlinkError::Decode("truncated message header".into()));
        };
        let len = len as usize;
        if len < NLMSG_HDR || len > bytes.len() {
            return Err(NetlinkError::Decode(format!("bad message length {len}")));
        }
        let body = &bytes[NLMSG_HDR..len];
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let code = u32_at(body, 0).map_or(0, |c| c as i32);
                return Err(NetlinkError::Kernel(format!(
                    "{}",
                    std::io::Error::from_raw_os_error(-code)
                )));
            }
            RTM_NEWLINK => out.push(link(body)?),
            _ => {}
        }
        // Messages are 4-byte aligned within a datagram.
        bytes = &bytes[((len + 3) & !3).min(bytes.len())..];
    }
    Ok(false)
}

/// The `RTM_GETLINK` dump request.
pub fn dump_request(seq: u32) -> Vec<u8> {
    let mut req = NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::from(RouteNetlinkMessage::GetLink(LinkMessage::default())),
    );
    req.header.flags = NLM_F_DUMP | NLM_F_REQUEST;
    req.header.sequence_number = seq;
    req.finalize();
    let mut buf = vec![0; req.buffer_len()];
    req.serialize(&mut buf);
    buf
}

/// The socket (and receive buffer) of one dump.
struct DumpSocket {
    sock: netlink_sys::Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for DumpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DumpSocket")
            .field("seq", &self.seq)
            .finish()
    }
}

/// Link dumps on one socket (and receive buffer), reused from dump to dump: opening, binding
/// and connecting a netlink socket is five syscalls and a kernel socket allocation per
/// collection. The socket is dropped after any error, so a reused socket never holds the rest
/// of a dump that was not read to its end. The host part owns one.
#[derive(Debug, Default)]
pub struct LinkDumper {
    socket: Option<DumpSocket>,
}

impl LinkDumper {
    /// Dumps every link of this process's network namespace. The kernel answers a dump
    /// synchronously from its own tables (no daemon is involved that could hang).
    pub fn dump(&mut self) -> Result<Vec<NlLink>, NetlinkError> {
        let s = match self.socket.take() {
            Some(s) => s,
            None => open_socket()?,
        };
        let (s, links) = dump_on(s)?;
        self.socket = Some(s);
        Ok(links)
    }
}

fn open_socket() -> Result<DumpSocket, NetlinkError> {
    use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
    let mut sock = Socket::new(NETLINK_ROUTE).map_err(NetlinkError::Socket)?;
    sock.bind_auto().map_err(NetlinkError::Socket)?;
    sock.connect(&SocketAddr::new(0, 0))
        .map_err(NetlinkError::Socket)?;
    Ok(DumpSocket {
        sock,
        seq: 0,
        buf: vec![0u8; 64 << 10],
    })
}

/// One dump on a socket of its own (see [`LinkDumper`] for dumps that reuse one).
pub fn dump_links() -> Result<Vec<NlLink>, NetlinkError> {
    LinkDumper::default().dump()
}

/// One dump on `s`; the socket comes back only when the dump was read to its end.
fn dump_on(mut s: DumpSocket) -> Result<(DumpSocket, Vec<NlLink>), NetlinkError> {
    s.seq = s.seq.wrapping_add(1);
    s.sock
        .send(&dump_request(s.seq), 0)
        .map_err(NetlinkError::Socket)?;
    let mut out = Vec::new();
    // Each datagram carries at least one link; a namespace with more than 64k links is
    // beyond what the agent reads.
    for _ in 0..65_536 {
        let n = s
            .sock
            .recv(&mut &mut s.buf[..], 0)
            .map_err(NetlinkError::Socket)?;
        if parse_datagram(&s.buf[..n], &mut out)? {
            return Ok((s, out));
        }
    }
    Err(NetlinkError::TooLong(65_536))
}

/// Bond members by bond name: links whose master is a link of kind `bond`.
pub fn bond_members(links: &[NlLink]) -> Vec<(String, Vec<String>)> {
    links
        .iter()
        .filter(|l| l.kind.as_deref() == Some("bond"))
        .map(|b| {
            let members = links
                .iter()
                .filter(|l| l.master == Some(b.index))
                .map(|l| l.name.clone())
                .collect();
            (b.name.clone(), members)
        })
        .collect()
}

#[cfg(test)]
mod tests;
