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
//!
//! Here are the request and the socket; the datagrams are decoded by `hvscope_parse::netlink`.

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::LinkMessage;

use hvscope_parse::netlink::{DecodeError, NlLink, parse_datagram};

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

#[cfg(test)]
mod tests;
