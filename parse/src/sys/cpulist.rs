//! CPU and node lists as sysfs and `/proc/<pid>/status` print them: `0-3,8,10-11`, empty for
//! none.

use crate::ParseError;
use crate::cpuset::CpuSet;

/// Parses a CPU list into sorted, de-duplicated numbers (the shared [`CpuSet`] grammar).
pub fn parse(text: &str) -> Result<Vec<u32>, ParseError> {
    CpuSet::parse(text)
        .map(|s| s.iter().collect())
        .map_err(|e| ParseError::new(e.to_string()))
}

/// Formats numbers back as a compact list (`0-3,8`).
pub fn format(cpus: &[u32]) -> String {
    CpuSet::of(cpus.iter().copied()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONLINE: &str =
        include_str!("../../../agent/tests/fixtures/libvirt-kvm-2vm/sys/devices/system/cpu/online");
    const ISOLATED: &str = include_str!(
        "../../../agent/tests/fixtures/libvirt-kvm-2vm/sys/devices/system/cpu/isolated"
    );

    #[test]
    fn parses_real_captures() {
        assert_eq!(parse(ONLINE).unwrap(), vec![0, 1]);
        assert!(parse(ISOLATED).unwrap().is_empty());
    }

    #[test]
    fn ranges_round_trip() {
        let v = parse("0-3,8,10-11,2\n").unwrap();
        assert_eq!(v, vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(format(&v), "0-3,8,10-11");
        assert_eq!(format(&[]), "");
        assert_eq!(format(&parse("5").unwrap()), "5");
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["a", "1-", "-1", "3-1", "0-4000000000", "1,,2", "1 2", "0x1"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
