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
    let sys = crate::sources::sys::net::read(&crate::host_root::HostRoot::default())
        .unwrap()
        .unwrap();
    let sysn: Vec<&str> = sys.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(nl, sysn);
    let lo = links.iter().find(|l| l.name == "lo").unwrap();
    assert!(lo.stats.is_some() && lo.mtu.is_some());
}

#[test]
fn the_socket_is_reused_between_dumps() {
    let names = || {
        let mut n: Vec<String> = dump_links().unwrap().into_iter().map(|l| l.name).collect();
        n.sort_unstable();
        n
    };
    let first = names();
    let seq = SOCKET.lock().unwrap().as_ref().map(|s| s.seq).unwrap();
    let second = names();
    // Other tests dump too: the sequence only moves forward on the kept socket.
    let after = SOCKET.lock().unwrap().as_ref().map(|s| s.seq).unwrap();
    assert!(after > seq, "{seq} -> {after}");
    assert!(first.iter().any(|n| n == "lo") && second.iter().any(|n| n == "lo"));
}
