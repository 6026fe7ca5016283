//! `/proc/vmstat`: `key value` lines of VM counters (swap in/out, major faults, OOM kills).

use crate::ParseError;

/// `/proc/vmstat` as (key, value) pairs in file order.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct VmStat {
    pub entries: Vec<(String, u64)>,
}

impl VmStat {
    /// The value of `key` (e.g. `pswpin`).
    pub fn get(&self, key: &str) -> Option<u64> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

/// Parses the text of `/proc/vmstat`. Every non-empty line must be `key value`.
pub fn parse(text: &str) -> Result<VmStat, ParseError> {
    let mut entries = Vec::with_capacity(200);
    for line in text.lines() {
        let mut f = line.split_ascii_whitespace();
        let Some(key) = f.next() else { continue };
        let value = f
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| ParseError::new(format!("{key}: no numeric value")))?;
        if f.next().is_some() {
            return Err(ParseError::new(format!("{key}: more than one value")));
        }
        entries.push((key.to_owned(), value));
    }
    if entries.is_empty() {
        return Err(ParseError::new("empty vmstat"));
    }
    Ok(VmStat { entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = include_str!("../../../agent/tests/fixtures/libvirt-kvm-2vm/proc/vmstat");

    #[test]
    fn parses_real_capture() {
        let v = parse(REAL).unwrap();
        assert_eq!(v.get("pswpin"), Some(0));
        assert_eq!(v.get("pgmajfault"), Some(4201));
        assert_eq!(v.get("oom_kill"), Some(0));
        assert_eq!(v.get("nr_free_pages"), Some(1152578));
        assert!(v.entries.len() > 100);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "\n\n", "pswpin", "pswpin x", "pswpin 1 2", "pswpin -1"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse("a 1\n\nb 2\n").unwrap().get("b"), Some(2));
    }
}
