use super::*;
use netlink_packet_core::DoneMessage;
use netlink_packet_route::link::Stats64;

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
    assert!(!dump_request(7).is_empty());
}

#[test]
fn live_dump_matches_sysfs_names() {
    let links = dump_links().unwrap();
    let mut nl: Vec<&str> = links.iter().map(|l| l.name.as_str()).collect();
    nl.sort_unstable();
    let sys = crate::sources::sys::net::read(&crate::host_root::HostRoot::default())
        .unwrap()
        .unwrap();
    let sysn: Vec<&str> = sys.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(nl, sysn);
    let lo = links.iter().find(|l| l.name == "lo").unwrap();
    assert!(lo.stats.is_some() && lo.mtu.is_some());
}
