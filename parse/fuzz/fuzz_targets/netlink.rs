//! One datagram of an rtnetlink link dump or counter dump, as the kernel (or anything on the
//! socket) sends it. Never panics; a decoded link has a name no longer than the bytes given.
#![no_main]

use hvscope_parse::netlink;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut links = Vec::new();
    let _ = netlink::parse_datagram(data, &mut links);
    for l in &links {
        assert!(l.name.len() <= data.len());
    }
    let _ = netlink::bond_members(&links);
    let mut stats = Vec::new();
    let _ = netlink::parse_stats_datagram(data, &mut stats);
    assert!(stats.len() * 28 <= data.len());
});
