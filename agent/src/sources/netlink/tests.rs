use super::*;

#[test]
fn the_dump_request_is_one_message() {
    assert!(!dump_request(7).is_empty());
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
        let mut n: Vec<String> = dumper.dump().unwrap().into_iter().map(|l| l.name).collect();
        n.sort_unstable();
        n
    };
    let first = names();
    let second = names();
    assert!(first.iter().any(|n| n == "lo") && second.iter().any(|n| n == "lo"));
    // The second dump went out on the first one's socket: its sequence number moved on.
    assert_eq!(dumper.socket.as_ref().map(|s| s.seq), Some(2));
}
