//! rtnetlink on the live host (`RTM_GETLINK` dumps when a link changed, `RTM_GETSTATS` counter
//! dumps otherwise: [`LinkDumper`]): links, operational state, carrier, MTU, 64-bit counters and
//! bond membership. Only used when the host root is the live `/`: netlink
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
//!
//! Here are the request and the socket; the datagrams are decoded by `hvscope_parse::netlink`.

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::LinkMessage;

use hvscope_parse::netlink::{DecodeError, NlLink, NlStats, parse_datagram, parse_stats_datagram};

use crate::io::REFRESH;

/// The netlink dump failed.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("netlink socket: {0}")]
    Socket(#[source] std::io::Error),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("netlink dump did not end after {0} datagrams")]
    TooLong(usize),
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

/// The `RTM_GETSTATS` dump request for every link's `IFLA_STATS_LINK_64` alone (netlink-packet-
/// route has no such message: `nlmsghdr` and `if_stats_msg` laid out here, native endian).
pub fn stats_request(seq: u32) -> Vec<u8> {
    use hvscope_parse::netlink::{IF_STATS_MSG, RTM_GETSTATS, STATS_FILTER_LINK_64};
    let len = 16 + IF_STATS_MSG;
    let mut b = Vec::with_capacity(len);
    b.extend_from_slice(&(len as u32).to_ne_bytes());
    b.extend_from_slice(&RTM_GETSTATS.to_ne_bytes());
    b.extend_from_slice(&(NLM_F_DUMP | NLM_F_REQUEST).to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
    // if_stats_msg: family (AF_UNSPEC), two pad fields, ifindex (0: every link), filter mask.
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&0u32.to_ne_bytes());
    b.extend_from_slice(&STATS_FILTER_LINK_64.to_ne_bytes());
    b
}

/// The socket (and receive buffer) of the dumps.
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

/// A socket subscribed to the link notifications (`RTNLGRP_LINK`), never waited on: drained
/// without blocking at each collection.
struct Events(netlink_sys::Socket);

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Events")
    }
}

/// `RTMGRP_LINK`: the link notifications' multicast group as a bind mask.
const RTMGRP_LINK: u32 = 1;
/// Receive buffer of the notification socket: a burst that overruns it (`ENOBUFS`) only means
/// a link dump, so the kernel memory it pins stays small.
const EVENTS_RCVBUF: usize = 32 << 10;
/// Most notification datagrams drained per collection (the rest wait for the next one, which
/// dumps the links again).
const MAX_EVENTS: usize = 1024;

/// The links of this process's network namespace, kept between collections and read the
/// cheapest way that stays exact. The kernel notifies every change of a link's flags,
/// operational state, carrier, MTU, master or name, and every link added or removed
/// (`RTM_NEWLINK`/`RTM_DELLINK` on `RTNLGRP_LINK`); the counters change without notice. So a
/// collection drains the notification socket and, when nothing was notified, asks only for
/// every link's counters (`RTM_GETSTATS`: a fifth of a link dump's kernel time and bytes on a
/// node's veths and taps) and puts them into the kept links; when anything was notified (or the
/// notification queue overran, or the counter dump lists other links than the kept ones, or a
/// refresh period ([`REFRESH`]) passed, or there is no notification socket) it dumps the links
/// (`RTM_GETLINK`) again.
///
/// The dump socket is reused from dump to dump (opening, binding and connecting one is five
/// syscalls and a kernel socket allocation per collection) and dropped after any error, so a
/// reused socket never holds the rest of a dump that was not read to its end. The host part
/// owns one.
#[derive(Debug, Default)]
pub struct LinkDumper {
    socket: Option<DumpSocket>,
    events: Option<Events>,
    /// The links of the last link dump, with the counters of the last counter dump.
    links: Vec<NlLink>,
    /// Collections since the last link dump (`None`: none yet, or the kept links are void).
    since_dump: Option<u64>,
    /// Link dumps and counter dumps so far.
    link_dumps: u64,
    stats_dumps: u64,
    stats: Vec<NlStats>,
}

impl LinkDumper {
    /// Every link of this process's network namespace, as the kernel has them now. The kernel
    /// answers a dump synchronously from its own tables (no daemon is involved that could
    /// hang).
    pub fn dump(&mut self) -> Result<&[NlLink], NetlinkError> {
        let notified = self.drain_events();
        let fresh = !notified && self.since_dump.is_some_and(|age| !REFRESH.is_due(age + 1));
        if fresh && self.counters()? {
            self.since_dump = self.since_dump.map(|a| a + 1);
            return Ok(&self.links);
        }
        self.since_dump = None;
        // Subscribed before the dump, so that a change after it is notified; where that is
        // refused (a seccomp filter, a sandbox), tried again once per refresh period.
        if self.events.is_none() && REFRESH.starts_period(self.link_dumps) {
            self.events = subscribe()
                .inspect_err(|e| tracing::debug!(error = %e, "no link notifications: a link dump per collection"))
                .ok();
        }
        let s = match self.socket.take() {
            Some(s) => s,
            None => open_socket()?,
        };
        self.links.clear();
        let s = dump_on(s, &dump_request, &mut |d| {
            parse_datagram(d, &mut self.links)
        })?;
        self.socket = Some(s);
        self.link_dumps += 1;
        self.since_dump = Some(0);
        Ok(&self.links)
    }

    /// Link dumps and counter dumps so far.
    pub fn dumps(&self) -> (u64, u64) {
        (self.link_dumps, self.stats_dumps)
    }

    /// Whether a link was notified since the last drain (or the queue overran, or there is no
    /// notification socket): empties the queue (up to [`MAX_EVENTS`] datagrams).
    fn drain_events(&mut self) -> bool {
        let Some(Events(sock)) = &self.events else {
            return true;
        };
        let mut buf = [0u8; 4096];
        for i in 0..MAX_EVENTS {
            match sock.recv(
                &mut &mut buf[..],
                nix::libc::MSG_DONTWAIT | nix::libc::MSG_TRUNC,
            ) {
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return i > 0,
                Err(e) => {
                    // ENOBUFS: notifications were lost.
                    tracing::debug!(error = %e, "link notifications lost: dumping the links");
                    return true;
                }
            }
        }
        true
    }

    /// Puts every link's counters of one counter dump into the kept links; false (nothing
    /// changed) when the dump lists other links than the kept ones.
    fn counters(&mut self) -> Result<bool, NetlinkError> {
        let s = match self.socket.take() {
            Some(s) => s,
            None => open_socket()?,
        };
        self.stats.clear();
        let stats = &mut self.stats;
        let s = dump_on(s, &stats_request, &mut |d| parse_stats_datagram(d, stats))?;
        self.socket = Some(s);
        self.stats_dumps += 1;
        let same = self.stats.len() == self.links.len()
            && self
                .stats
                .iter()
                .zip(&self.links)
                .all(|(s, l)| s.index == l.index);
        if same {
            for (s, l) in self.stats.iter().zip(&mut self.links) {
                l.stats = Some(s.stats);
            }
        }
        Ok(same)
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

/// A socket bound to the link notifications.
fn subscribe() -> std::io::Result<Events> {
    use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
    let mut sock = Socket::new(NETLINK_ROUTE)?;
    sock.set_rx_buf_sz(EVENTS_RCVBUF)?;
    sock.bind(&SocketAddr::new(0, RTMGRP_LINK))?;
    sock.set_non_blocking(true)?;
    Ok(Events(sock))
}

/// One link dump on a socket of its own (see [`LinkDumper`] for dumps that reuse one).
pub fn dump_links() -> Result<Vec<NlLink>, NetlinkError> {
    let mut links = Vec::new();
    dump_on(open_socket()?, &dump_request, &mut |d| {
        parse_datagram(d, &mut links)
    })?;
    Ok(links)
}

/// One dump (the request `request` makes) on `s`, each datagram handed to `parse` (true once
/// the dump ended); the socket comes back only when the dump was read to its end.
fn dump_on(
    mut s: DumpSocket,
    request: &dyn Fn(u32) -> Vec<u8>,
    parse: &mut dyn FnMut(&[u8]) -> Result<bool, DecodeError>,
) -> Result<DumpSocket, NetlinkError> {
    s.seq = s.seq.wrapping_add(1);
    s.sock
        .send(&request(s.seq), 0)
        .map_err(NetlinkError::Socket)?;
    // Each datagram carries at least one link; a namespace with more than 64k links is
    // beyond what the agent reads.
    for _ in 0..65_536 {
        let n = s
            .sock
            .recv(&mut &mut s.buf[..], 0)
            .map_err(NetlinkError::Socket)?;
        if parse(&s.buf[..n])? {
            return Ok(s);
        }
    }
    Err(NetlinkError::TooLong(65_536))
}

#[cfg(test)]
mod tests;
