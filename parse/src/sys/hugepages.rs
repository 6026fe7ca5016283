//! Hugepage pool directory names below `/sys/kernel/mm/hugepages/` and
//! `/sys/devices/system/node/node<N>/hugepages/`: `hugepages-<size>kB`. The pool counters in
//! them are plain [`parse_u64`](super::parse_u64) attributes.

/// The page size of a pool directory name (`hugepages-2048kB` → 2 MiB).
pub fn parse_dir_name(name: &str) -> Option<u64> {
    let kb: u64 = name
        .strip_prefix("hugepages-")?
        .strip_suffix("kB")?
        .parse()
        .ok()?;
    kb.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_names() {
        assert_eq!(parse_dir_name("hugepages-2048kB"), Some(2 << 20));
        assert_eq!(parse_dir_name("hugepages-1048576kB"), Some(1 << 30));
        for bad in [
            "hugepages-2048",
            "hugepages-kB",
            "x-2048kB",
            "hugepages-99999999999999999999kB",
        ] {
            assert_eq!(parse_dir_name(bad), None, "{bad}");
        }
    }
}
