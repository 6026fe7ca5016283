//! `/proc/meminfo`: `Key:  value kB` lines (hugepage counts have no unit).

use crate::ParseError;

/// `/proc/meminfo` as (key, value) pairs; values in bytes where the file says `kB`, else counts.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MemInfo {
    pub entries: Vec<(String, u64)>,
}

impl MemInfo {
    /// The value of `key` (as spelled in the file, e.g. `MemAvailable`).
    pub fn get(&self, key: &str) -> Option<u64> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

/// Parses the text of `/proc/meminfo`.
pub fn parse(text: &str) -> Result<MemInfo, ParseError> {
    let mut entries = Vec::with_capacity(64);
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let (key, rest) = line
            .split_once(':')
            .ok_or_else(|| ParseError::new(format!("line without ':': {line:?}")))?;
        let mut parts = rest.split_ascii_whitespace();
        let value: u64 = parts
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| ParseError::new(format!("{key}: no numeric value")))?;
        let value = match parts.next() {
            None => value,
            Some("kB") => value
                .checked_mul(1024)
                .ok_or_else(|| ParseError::new(format!("{key}: value overflows")))?,
            Some(unit) => return Err(ParseError::new(format!("{key}: unknown unit {unit:?}"))),
        };
        entries.push((key.to_owned(), value));
    }
    if entries.is_empty() {
        return Err(ParseError::new("empty meminfo"));
    }
    Ok(MemInfo { entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = include_str!("../../../agent/tests/fixtures/libvirt-kvm-2vm/proc/meminfo");

    #[test]
    fn parses_real_capture() {
        let m = parse(REAL).unwrap();
        assert_eq!(m.get("MemTotal"), Some(24684096 * 1024));
        assert_eq!(m.get("MemAvailable"), Some(23816172 * 1024));
        assert_eq!(m.get("HugePages_Total"), Some(0));
        assert_eq!(m.get("Hugepagesize"), Some(2048 * 1024));
        assert_eq!(m.get("Nope"), None);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("").is_err());
        assert!(parse("MemTotal 5 kB").is_err());
        assert!(parse("MemTotal: x kB").is_err());
        assert!(parse("MemTotal: 5 MB").is_err());
        assert!(parse("MemTotal: 18446744073709551615 kB").is_err());
    }
}
