//! rtnetlink link dumps (`RTM_GETLINK` with `NLM_F_DUMP`), read by hand from the datagrams'
//! bytes: links, operational state, carrier, MTU, 64-bit counters, master and kind (for bond
//! membership); and counter dumps (`RTM_GETSTATS` asking for `IFLA_STATS_LINK_64` alone: the
//! counters of every link for a fifth of a link dump's kernel time and bytes). Only the attributes the agent uses are read (a full decode of every attribute
//! of every link cost as much as the kernel's dump); the tests check the result against
//! netlink-packet-route's full decoder. The socket that sends the request and receives the
//! datagrams is the agent's.

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
    /// Counters in the order the agent exports them (its `sys::net::STATS`): `rx_bytes`,
    /// `tx_bytes`, `rx_packets`, `tx_packets`, `rx_errors`, `tx_errors`, `rx_dropped`,
    /// `tx_dropped`.
    pub stats: Option<[u64; 8]>,
    /// Times the carrier went up or down since the link was created (`IFLA_CARRIER_CHANGES`).
    pub carrier_changes: Option<u32>,
}

/// A datagram of the dump could not be decoded, or was the kernel's error reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("netlink message: {0}")]
    Message(String),
    #[error("netlink error reply: {0}")]
    Kernel(String),
}

// Message and attribute numbers of <linux/netlink.h> and <linux/if_link.h>.
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_NEWSTATS: u16 = 92;
/// `RTM_GETSTATS`, for the request the agent builds.
pub const RTM_GETSTATS: u16 = 94;
/// `IFLA_STATS_LINK_64` (an `RTM_NEWSTATS` attribute) and its bit in a request's filter mask.
const IFLA_STATS_LINK_64: u16 = 1;
pub const STATS_FILTER_LINK_64: u32 = 1 << (IFLA_STATS_LINK_64 - 1);
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
/// `nlmsghdr`, `ifinfomsg` and `if_stats_msg` sizes.
const NLMSG_HDR: usize = 16;
const IFINFOMSG: usize = 16;
pub const IF_STATS_MSG: usize = 12;

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
fn nla_string(v: &[u8]) -> Result<String, DecodeError> {
    let v = v.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8(v.to_vec()).map_err(|_| DecodeError::Message("attribute not UTF-8".into()))
}

/// The attributes (type without the nested/byte-order flags, payload) of a netlink attribute
/// stream; an attribute overrunning the stream is an error.
fn attributes(mut b: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), DecodeError>> {
    std::iter::from_fn(move || {
        if b.is_empty() {
            return None;
        }
        let (Some(len), Some(kind)) = (u16_at(b, 0), u16_at(b, 2)) else {
            b = &[];
            return Some(Err(DecodeError::Message("truncated attribute".into())));
        };
        let len = usize::from(len);
        if len < 4 || len > b.len() {
            b = &[];
            return Some(Err(DecodeError::Message(format!(
                "bad attribute length {len}"
            ))));
        }
        let value = &b[4..len];
        b = &b[((len + 3) & !3).min(b.len())..];
        Some(Ok((kind & 0x3fff, value)))
    })
}

/// The counters of a `struct rtnl_link_stats64` (rx_packets, tx_packets, rx_bytes, tx_bytes,
/// rx_errors, tx_errors, rx_dropped, tx_dropped, …) in [`NlLink::stats`] order.
fn stats64(v: &[u8]) -> Result<[u64; 8], DecodeError> {
    let f = |i: usize| u64_at(v, i * 8).ok_or_else(|| DecodeError::Message("bad stats64".into()));
    Ok([f(2)?, f(3)?, f(0)?, f(1)?, f(4)?, f(5)?, f(6)?, f(7)?])
}

/// One `RTM_NEWLINK` message body (`ifinfomsg` and attributes). Reads only the attributes the
/// agent uses (a full decode of every attribute of every link cost as much as the kernel's dump).
fn link(body: &[u8]) -> Result<NlLink, DecodeError> {
    let short = || DecodeError::Message("short link message".into());
    let index = u32_at(body, 4).ok_or_else(short)?;
    let flags = u32_at(body, 8).ok_or_else(short)?;
    let mut l = NlLink {
        index,
        operstate: "unknown".into(),
        ..Default::default()
    };
    let mut carrier = None;
    let bad = |what: &str| DecodeError::Message(format!("bad {what} attribute"));
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
            IFLA_STATS64 => l.stats = Some(stats64(v)?),
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
pub fn parse_datagram(bytes: &[u8], out: &mut Vec<NlLink>) -> Result<bool, DecodeError> {
    messages(bytes, |kind, body| {
        if kind == RTM_NEWLINK {
            out.push(link(body)?);
        }
        Ok(())
    })
}

/// One link's counters from a counter dump: its index and [`NlLink::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NlStats {
    pub index: u32,
    pub stats: [u64; 8],
}

/// Parses one datagram of a counter dump (`RTM_GETSTATS` with [`STATS_FILTER_LINK_64`]),
/// appending each link's counters to `out` (a message without `IFLA_STATS_LINK_64` adds
/// nothing); true once the dump's `NLMSG_DONE` was seen.
pub fn parse_stats_datagram(bytes: &[u8], out: &mut Vec<NlStats>) -> Result<bool, DecodeError> {
    messages(bytes, |kind, body| {
        if kind != RTM_NEWSTATS {
            return Ok(());
        }
        let index =
            u32_at(body, 4).ok_or_else(|| DecodeError::Message("short stats message".into()))?;
        let attrs = body
            .get(IF_STATS_MSG..)
            .ok_or_else(|| DecodeError::Message("short stats message".into()))?;
        for a in attributes(attrs) {
            let (k, v) = a?;
            if k == IFLA_STATS_LINK_64 {
                out.push(NlStats {
                    index,
                    stats: stats64(v)?,
                });
            }
        }
        Ok(())
    })
}

/// Walks the messages of one datagram, handing each one's type and body to `each`; true once
/// `NLMSG_DONE` was seen. An error reply is an error.
fn messages(
    mut bytes: &[u8],
    mut each: impl FnMut(u16, &[u8]) -> Result<(), DecodeError>,
) -> Result<bool, DecodeError> {
    while !bytes.is_empty() {
        let (Some(len), Some(kind)) = (u32_at(bytes, 0), u16_at(bytes, 4)) else {
            return Err(DecodeError::Message("truncated message header".into()));
        };
        let len = len as usize;
        if len < NLMSG_HDR || len > bytes.len() {
            return Err(DecodeError::Message(format!("bad message length {len}")));
        }
        let body = &bytes[NLMSG_HDR..len];
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let code = u32_at(body, 0).map_or(0, |c| c as i32);
                return Err(DecodeError::Kernel(format!(
                    "{}",
                    std::io::Error::from_raw_os_error(-code)
                )));
            }
            _ => each(kind, body)?,
        }
        // Messages are 4-byte aligned within a datagram.
        bytes = &bytes[((len + 3) & !3).min(bytes.len())..];
    }
    Ok(false)
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
