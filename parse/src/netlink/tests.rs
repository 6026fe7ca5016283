//! The hand reader against netlink-packet-route: messages it encodes, garbage, and this host's
//! live dump (a test may open a socket; the library never does).

use netlink_packet_core::{
    DoneMessage, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::link::Stats64;
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, State};

use super::*;

fn encode(msgs: Vec<NetlinkPayload<RouteNetlinkMessage>>) -> Vec<u8> {
    let mut out = Vec::new();
    for p in msgs {
        let mut m = NetlinkMessage::new(NetlinkHeader::default(), p);
        m.finalize();
        let mut b = vec![0; m.buffer_len()];
        m.serialize(&mut b);
        out.extend_from_slice(&b);
    }
    out
}

fn link_msg(
    index: u32,
    name: &str,
    up: bool,
    attrs: Vec<LinkAttribute>,
) -> NetlinkPayload<RouteNetlinkMessage> {
    let mut m = LinkMessage::default();
    m.header.index = index;
    if up {
        m.header.flags = LinkFlags::Up;
    }
    m.attributes.push(LinkAttribute::IfName(name.into()));
    m.attributes.extend(attrs);
    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m))
}

#[test]
fn decodes_links_bonds_and_done() {
    let mut stats = Stats64::default();
    (
        stats.rx_bytes,
        stats.tx_bytes,
        stats.rx_packets,
        stats.tx_packets,
        stats.rx_dropped,
    ) = (10, 20, 1, 2, 7);
    let bytes = encode(vec![
        link_msg(
            2,
            "bond0",
            true,
            vec![
                LinkAttribute::OperState(State::Up),
                LinkAttribute::Carrier(1),
                LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bond)]),
            ],
        ),
        link_msg(
            3,
            "eth0",
            true,
            vec![
                LinkAttribute::OperState(State::Up),
                LinkAttribute::Carrier(1),
                LinkAttribute::Controller(2),
                LinkAttribute::Mtu(9000),
                LinkAttribute::Stats64(stats),
            ],
        ),
        link_msg(
            4,
            "eth1",
            false,
            vec![
                LinkAttribute::OperState(State::Down),
                LinkAttribute::Carrier(0),
                LinkAttribute::Controller(2),
            ],
        ),
    ]);
    let mut links = vec![];
    assert!(!parse_datagram(&bytes, &mut links).unwrap());
    assert_eq!(links.len(), 3);
    assert_eq!(links[1].stats, Some([10, 20, 1, 2, 0, 0, 7, 0]));
    assert_eq!((links[1].mtu, links[1].carrier), (Some(9000), Some(true)));
    assert_eq!(
        links[2].carrier, None,
        "admin down: carrier unknown, as in sysfs"
    );
    assert_eq!(links[2].operstate, "down");
    assert_eq!(
        bond_members(&links),
        vec![(
            "bond0".to_owned(),
            vec!["eth0".to_owned(), "eth1".to_owned()]
        )]
    );
    let done = encode(vec![NetlinkPayload::Done(DoneMessage::default())]);
    assert!(parse_datagram(&done, &mut links).unwrap());
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let good = encode(vec![link_msg(1, "lo", true, vec![])]);
    for bad in [
        &b"\x01\x02"[..],
        &good[..good.len() - 3],
        &[0xff; 64][..],
        &[0u8; 16][..],
    ] {
        assert!(parse_datagram(bad, &mut vec![]).is_err(), "{bad:?}");
    }
}

/// The full decoder of netlink-packet-route, as the agent used before reading only the
/// attributes it needs: the reference the hand-rolled reader is checked against.
fn reference(bytes: &[u8]) -> Vec<NlLink> {
    let mut out = vec![];
    let mut b = bytes;
    while !b.is_empty() {
        let msg: NetlinkMessage<RouteNetlinkMessage> = NetlinkMessage::deserialize(b).unwrap();
        let len = msg.header.length as usize;
        if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m)) = msg.payload {
            let mut l = NlLink {
                index: m.header.index,
                operstate: "unknown".into(),
                ..Default::default()
            };
            let mut carrier = None;
            for a in &m.attributes {
                match a {
                    LinkAttribute::IfName(n) => l.name = n.clone(),
                    LinkAttribute::OperState(s) => {
                        l.operstate = match s {
                            State::Up => "up".into(),
                            State::Down => "down".into(),
                            State::LowerLayerDown => "lowerlayerdown".into(),
                            State::Dormant => "dormant".into(),
                            State::NotPresent => "notpresent".into(),
                            State::Testing => "testing".into(),
                            _ => "unknown".into(),
                        }
                    }
                    LinkAttribute::Carrier(c) => carrier = Some(*c != 0),
                    LinkAttribute::CarrierChanges(n) => l.carrier_changes = Some(*n),
                    LinkAttribute::Mtu(v) => l.mtu = Some(*v),
                    LinkAttribute::Controller(v) => l.master = Some(*v),
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
                                l.kind = Some(k.to_string());
                            }
                        }
                    }
                    _ => {}
                }
            }
            l.carrier = carrier.filter(|_| m.header.flags.contains(LinkFlags::Up));
            out.push(l);
        }
        b = &b[((len + 3) & !3).min(b.len())..];
    }
    out
}

#[test]
fn reads_what_the_full_decoder_reads() {
    let mut stats = Stats64::default();
    (stats.rx_errors, stats.tx_errors, stats.tx_dropped) = (3, 4, 5);
    let bytes = encode(vec![
        link_msg(
            5,
            "tap0",
            true,
            vec![
                LinkAttribute::OperState(State::LowerLayerDown),
                LinkAttribute::Carrier(0),
                LinkAttribute::CarrierChanges(7),
                LinkAttribute::Stats64(stats),
                LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Tun)]),
            ],
        ),
        link_msg(
            6,
            "v1",
            true,
            vec![LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Veth,
            )])],
        ),
    ]);
    let mut links = vec![];
    assert!(!parse_datagram(&bytes, &mut links).unwrap());
    assert_eq!(links, reference(&bytes));
    assert_eq!(links[0].carrier_changes, Some(7));
    assert_eq!(links[0].stats, Some([0, 0, 0, 0, 3, 4, 0, 5]));
    assert_eq!(links[1].kind.as_deref(), Some("veth"));
    // An error reply is the kernel's error.
    let mut err = vec![0u8; 36];
    err[..4].copy_from_slice(&36u32.to_ne_bytes());
    err[4..6].copy_from_slice(&2u16.to_ne_bytes());
    err[16..20].copy_from_slice(&(-1i32).to_ne_bytes());
    assert!(matches!(
        parse_datagram(&err, &mut vec![]),
        Err(DecodeError::Kernel(_))
    ));
}

#[test]
fn live_dump_reads_what_the_full_decoder_reads() {
    use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
    let mut sock = Socket::new(NETLINK_ROUTE).unwrap();
    sock.bind_auto().unwrap();
    sock.connect(&SocketAddr::new(0, 0)).unwrap();
    // The agent's `dump_request(1)`.
    let mut req = NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::from(RouteNetlinkMessage::GetLink(LinkMessage::default())),
    );
    req.header.flags = NLM_F_DUMP | NLM_F_REQUEST;
    req.header.sequence_number = 1;
    req.finalize();
    let mut request = vec![0; req.buffer_len()];
    req.serialize(&mut request);
    sock.send(&request, 0).unwrap();
    let mut buf = vec![0u8; 64 << 10];
    let (mut ours, mut theirs) = (vec![], vec![]);
    loop {
        let n = sock.recv(&mut &mut buf[..], 0).unwrap();
        let done = parse_datagram(&buf[..n], &mut ours).unwrap();
        theirs.extend(reference(&buf[..n]));
        if done {
            break;
        }
    }
    assert!(!ours.is_empty());
    assert_eq!(ours, theirs);
}

/// An `RTM_NEWSTATS` message as the kernel lays it out: `nlmsghdr`, `if_stats_msg`, then
/// `IFLA_STATS_LINK_64` with a `struct rtnl_link_stats64` (24 counters on 6.x kernels).
fn stats_msg(index: u32, counters: &[u64]) -> Vec<u8> {
    let attr_len = 4 + 8 * counters.len();
    let len = NLMSG_HDR + IF_STATS_MSG + attr_len;
    let mut b = Vec::new();
    b.extend_from_slice(&(len as u32).to_ne_bytes());
    b.extend_from_slice(&RTM_NEWSTATS.to_ne_bytes());
    b.extend_from_slice(&[0u8; 10]);
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&index.to_ne_bytes());
    b.extend_from_slice(&STATS_FILTER_LINK_64.to_ne_bytes());
    b.extend_from_slice(&(attr_len as u16).to_ne_bytes());
    b.extend_from_slice(&IFLA_STATS_LINK_64.to_ne_bytes());
    for c in counters {
        b.extend_from_slice(&c.to_ne_bytes());
    }
    b
}

#[test]
fn counter_dump_datagrams() {
    let counters: Vec<u64> = (1..=24).collect();
    let mut d = stats_msg(3, &counters);
    d.extend(stats_msg(7, &[10; 24]));
    let mut out = vec![];
    assert!(
        !parse_stats_datagram(&d, &mut out).unwrap(),
        "no NLMSG_DONE yet"
    );
    // rx_bytes, tx_bytes, rx_packets, tx_packets, rx_errors, tx_errors, rx_dropped, tx_dropped
    assert_eq!(
        out,
        [
            NlStats {
                index: 3,
                stats: [3, 4, 1, 2, 5, 6, 7, 8]
            },
            NlStats {
                index: 7,
                stats: [10; 8]
            }
        ]
    );
    // The done message ends it; a link dump's parser takes none of it for a link.
    let done = encode(vec![NetlinkPayload::Done(DoneMessage::default())]);
    assert!(parse_stats_datagram(&done, &mut out).unwrap());
    let mut links = vec![];
    assert!(!parse_datagram(&d, &mut links).unwrap());
    assert!(links.is_empty());
    // Short counters, a cut message, a short header: errors, never a panic.
    assert!(parse_stats_datagram(&stats_msg(1, &[1; 5]), &mut vec![]).is_err());
    let whole = stats_msg(1, &counters);
    for cut in 0..whole.len() {
        let _ = parse_stats_datagram(&whole[..cut], &mut vec![]);
    }
    assert!(parse_stats_datagram(&whole[..20], &mut vec![]).is_err());
}

#[test]
fn live_counter_dump_lists_the_links_of_a_link_dump() {
    use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
    let mut sock = Socket::new(NETLINK_ROUTE).unwrap();
    sock.bind_auto().unwrap();
    sock.connect(&SocketAddr::new(0, 0)).unwrap();
    let mut buf = vec![0u8; 64 << 10];
    // The agent's link dump request, then its counter dump request (stats_request).
    let mut req = NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::from(RouteNetlinkMessage::GetLink(LinkMessage::default())),
    );
    req.header.flags = NLM_F_DUMP | NLM_F_REQUEST;
    req.finalize();
    let mut request = vec![0; req.buffer_len()];
    req.serialize(&mut request);
    // Sends `req` and hands each datagram of the dump to `parse` until it says done.
    let mut dump = |req: &[u8], parse: &mut dyn FnMut(&[u8]) -> bool| {
        sock.send(req, 0).unwrap();
        loop {
            let n = sock.recv(&mut &mut buf[..], 0).unwrap();
            if parse(&buf[..n]) {
                break;
            }
        }
    };
    let mut links = vec![];
    dump(&request, &mut |d| parse_datagram(d, &mut links).unwrap());
    let mut stats_req = Vec::new();
    stats_req.extend_from_slice(&28u32.to_ne_bytes());
    stats_req.extend_from_slice(&RTM_GETSTATS.to_ne_bytes());
    stats_req.extend_from_slice(&(NLM_F_DUMP | NLM_F_REQUEST).to_ne_bytes());
    stats_req.extend_from_slice(&[0u8; 8]);
    stats_req.extend_from_slice(&[0u8; 8]);
    stats_req.extend_from_slice(&STATS_FILTER_LINK_64.to_ne_bytes());
    let mut stats = vec![];
    dump(&stats_req, &mut |d| {
        parse_stats_datagram(d, &mut stats).unwrap()
    });
    let indexes = |v: &mut dyn Iterator<Item = u32>| v.collect::<Vec<_>>();
    assert_eq!(
        indexes(&mut stats.iter().map(|s| s.index)),
        indexes(&mut links.iter().map(|l| l.index))
    );
    // Counters only grow between the two dumps.
    for (s, l) in stats.iter().zip(&links) {
        let l = l.stats.unwrap();
        assert!(s.stats.iter().zip(l).all(|(a, b)| *a >= b), "{s:?} {l:?}");
    }
}
