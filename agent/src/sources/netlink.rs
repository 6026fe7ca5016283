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
use netlink_packet_route::link::{
    InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, State,
};

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

fn operstate(s: &State) -> String {
    match s {
        State::Unknown => "unknown".into(),
        State::NotPresent => "notpresent".into(),
        State::Down => "down".into(),
        State::LowerLayerDown => "lowerlayerdown".into(),
        State::Testing => "testing".into(),
        State::Dormant => "dormant".into(),
        State::Up => "up".into(),
        State::Other(n) => format!("other({n})"),
        _ => "unknown".into(),
    }
}

fn link(msg: &LinkMessage) -> NlLink {
    let mut l = NlLink {
        index: msg.header.index,
        operstate: "unknown".into(),
        ..Default::default()
    };
    let mut carrier = None;
    for a in &msg.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name = n.clone(),
            LinkAttribute::OperState(s) => l.operstate = operstate(s),
            LinkAttribute::Carrier(c) => carrier = Some(*c != 0),
            LinkAttribute::Mtu(m) => l.mtu = Some(*m),
            LinkAttribute::Controller(m) => l.master = Some(*m),
            LinkAttribute::Stats64(s) => {
                l.stats = Some([
                    s.rx_bytes,
                    s.tx_bytes,
                    s.rx_packets,
                    s.tx_packets,
                    s.rx_errors,
                    s.tx_errors,
                    s.rx_dropped,
                    s.tx_dropped,
                ])
            }
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        l.kind = Some(match k {
                            InfoKind::Bond => "bond".into(),
                            other => other.to_string(),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    l.carrier = carrier.filter(|_| msg.header.flags.contains(LinkFlags::Up));
    l
}

/// Parses one datagram of a link dump, appending links to `out`; true once the dump's
/// `NLMSG_DONE` was seen. Pure: the fuzz target and the unit tests call it on raw bytes.
pub fn parse_datagram(mut bytes: &[u8], out: &mut Vec<NlLink>) -> Result<bool, NetlinkError> {
    while !bytes.is_empty() {
        let msg: NetlinkMessage<RouteNetlinkMessage> =
            NetlinkMessage::deserialize(bytes).map_err(|e| NetlinkError::Decode(e.to_string()))?;
        let len = msg.header.length as usize;
        // Messages are 4-byte aligned within a datagram.
        let step = (len + 3) & !3;
        if len < 16 || step > bytes.len() && len != bytes.len() {
            return Err(NetlinkError::Decode(format!("bad message length {len}")));
        }
        match msg.payload {
            NetlinkPayload::Done(_) => return Ok(true),
            NetlinkPayload::Error(e) => return Err(NetlinkError::Kernel(format!("{e:?}"))),
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m)) => out.push(link(&m)),
            _ => {}
        }
        bytes = &bytes[step.min(bytes.len())..];
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

/// Dumps every link of this process's network namespace. The kernel answers a dump
/// synchronously from its own tables (no daemon is involved that could hang).
pub fn dump_links() -> Result<Vec<NlLink>, NetlinkError> {
    use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
    let mut sock = Socket::new(NETLINK_ROUTE).map_err(NetlinkError::Socket)?;
    sock.bind_auto().map_err(NetlinkError::Socket)?;
    sock.connect(&SocketAddr::new(0, 0))
        .map_err(NetlinkError::Socket)?;
    sock.send(&dump_request(1), 0)
        .map_err(NetlinkError::Socket)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    // Each datagram carries at least one link; a namespace with more than 64k links is
    // beyond what the agent reads.
    for _ in 0..65_536 {
        let n = sock
            .recv(&mut &mut buf[..], 0)
            .map_err(NetlinkError::Socket)?;
        if parse_datagram(&buf[..n], &mut out)? {
            return Ok(out);
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
