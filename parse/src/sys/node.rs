//! A NUMA node's `/sys/devices/system/node/node<N>/meminfo`: `/proc/meminfo`'s format with
//! `Node <N> ` before each `Key: value kB` line.

use crate::ParseError;
use crate::proc::meminfo::{self, MemInfo};

/// Parses a node's `meminfo`, checking every line names node `node`.
pub fn parse_meminfo(text: &str, node: u32) -> Result<MemInfo, ParseError> {
    let prefix = format!("Node {node} ");
    let mut plain = String::with_capacity(text.len());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let rest = line
            .strip_prefix(&prefix)
            .ok_or_else(|| ParseError::new(format!("line not of node {node}: {line:?}")))?;
        plain.push_str(rest);
        plain.push('\n');
    }
    meminfo::parse(&plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = include_str!(
        "../../../agent/tests/fixtures/libvirt-kvm-2vm/sys/devices/system/node/node0/meminfo"
    );

    #[test]
    fn parses_real_capture() {
        let m = parse_meminfo(REAL, 0).unwrap();
        assert_eq!(m.get("MemTotal"), Some(5597400 * 1024));
        assert_eq!(m.get("MemUsed"), Some(987088 * 1024));
        assert!(m.get("HugePages_Total").is_some());
        assert!(parse_meminfo(REAL, 1).is_err());
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "Node 0 MemTotal",
            "MemTotal: 1 kB",
            "Node 0 MemTotal: x kB",
        ] {
            assert!(parse_meminfo(bad, 0).is_err(), "{bad:?}");
        }
    }
}
