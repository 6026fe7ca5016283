use super::*;

#[test]
fn the_dump_requests_are_one_message_each() {
    assert!(!dump_request(7).is_empty());
    let r = stats_request(7);
    assert_eq!(r.len(), 28);
    assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 28);
    assert_eq!(u16::from_ne_bytes(r[4..6].try_into().unwrap()), 94);
    assert_eq!(u32::from_ne_bytes(r[8..12].try_into().unwrap()), 7);
    assert_eq!(u32::from_ne_bytes(r[24..28].try_into().unwrap()), 1);
}

/// In a network namespace of its own (this test's thread): the links come from a link dump
/// after a change is notified, and from counter dumps (counters moving, nothing else) while
/// nothing changes.
#[test]
fn counter_dumps_while_no_link_changes() {
    let t = std::thread::spawn(|| {
        if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
            assert!(
                !hvscope_testkit::in_ci(),
                "unshare(CLONE_NEWNET) refused in CI: {e}"
            );
            eprintln!("SKIPPED: no network namespace of its own ({e}): run as root");
            return;
        }
        let mut d = LinkDumper::default();
        let lo = |d: &mut LinkDumper| {
            d.dump()
                .unwrap()
                .iter()
                .find(|l| l.name == "lo")
                .cloned()
                .unwrap()
        };
        let first = lo(&mut d);
        assert_eq!(d.dumps(), (1, 0));
        assert_eq!(first.carrier, None, "lo is down in a new namespace");
        // Nothing changed: counters only, the same link.
        assert_eq!(lo(&mut d), first);
        assert_eq!(d.dumps(), (1, 1));
        // A change is notified: the next read is a link dump.
        let up = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .unwrap();
        assert!(up.success());
        let l = lo(&mut d);
        assert_eq!(d.dumps(), (2, 1), "the change was notified");
        assert_eq!(l.carrier, Some(true));
        // Traffic moves the counters without a notification: a counter dump shows it.
        let before = l.stats.unwrap();
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..5 {
            s.send_to(b"hvscope", s.local_addr().unwrap()).unwrap();
        }
        let after = lo(&mut d);
        assert_eq!(d.dumps(), (2, 2));
        let moved = after.stats.unwrap();
        assert!(
            moved[2] >= before[2] + 5,
            "rx_packets {before:?} -> {moved:?}"
        );
        assert_eq!((after.carrier, &after.operstate), (l.carrier, &l.operstate));
        // Agrees with a dump of its own.
        let own = dump_links().unwrap();
        let own = own.iter().find(|l| l.name == "lo").unwrap();
        assert_eq!(own.stats, after.stats);
        assert_eq!((own.mtu, own.carrier), (after.mtu, after.carrier));
    });
    t.join().unwrap();
}

#[test]
fn live_dump_matches_sysfs_names() {
    let links = dump_links().unwrap();
    let mut nl: Vec<&str> = links.iter().map(|l| l.name.as_str()).collect();
    nl.sort_unstable();
    let sys = crate::sources::sys::net::read(&crate::io::HostRoot::default())
        .unwrap()
        .unwrap();
    let sysn: Vec<&str> = sys.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(nl, sysn);
    let lo = links.iter().find(|l| l.name == "lo").unwrap();
    assert!(lo.stats.is_some() && lo.mtu.is_some());
}

#[test]
fn the_socket_is_reused_between_dumps() {
    let mut dumper = LinkDumper::default();
    let mut names = || {
        let mut n: Vec<String> = dumper
            .dump()
            .unwrap()
            .iter()
            .map(|l| l.name.clone())
            .collect();
        n.sort_unstable();
        n
    };
    let first = names();
    let second = names();
    assert!(first.iter().any(|n| n == "lo") && second.iter().any(|n| n == "lo"));
    // The second dump went out on the first one's socket: its sequence number moved on.
    assert_eq!(dumper.socket.as_ref().map(|s| s.seq), Some(2));
}
