//! sysfs attribute formats: CPU lists (format ∘ parse is the identity on parsed lists, for the
//! kernel's syntax and libvirt's and nova's with `^N` exclusions), carrier, speed, bond members,
//! hugepage pool names. Never panic, never allocate without bound.
#![no_main]

use hvscope_parse::cpuset::CpuSet;
use hvscope_parse::sys::{self, cpulist, hugepages, net};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = cpulist::parse(text) {
        assert_eq!(cpulist::parse(&cpulist::format(&v)).unwrap(), v);
    }
    let _ = net::parse_carrier(text);
    let _ = net::parse_speed(text);
    let _ = net::parse_slaves(text);
    let _ = hugepages::parse_dir_name(text);
    let _ = sys::parse_u64(text);
    let _ = sys::parse_word(text);
    let _ = sys::index_of(text, "cpu");
    let _ = sys::parse_i64(text);
    if let Ok(set) = CpuSet::parse(text) {
        assert_eq!(CpuSet::parse(&set.to_string()).unwrap(), set);
    }
});
