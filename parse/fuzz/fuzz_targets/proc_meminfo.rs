//! `/proc/meminfo` and the per-NUMA-node `meminfo`: never panic; a node file parses only when
//! every line names the node.
#![no_main]

use hvscope_parse::proc::meminfo;
use hvscope_parse::sys::node;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = meminfo::parse(text) {
        assert!(!m.entries.is_empty());
    }
    if node::parse_meminfo(text, 0).is_ok() {
        assert!(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .all(|l| l.starts_with("Node 0 "))
        );
    }
});
