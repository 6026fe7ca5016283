//! CPU and node lists as sysfs and `/proc/<pid>/status` print them: `0-3,8,10-11`, empty for
//! none.

use crate::sources::proc::ParseError;

/// Largest CPU (or node) number accepted. Linux's NR_CPUS tops out at 8192; a bigger number is
/// garbage, and refusing it keeps a hostile `0-4000000000` from allocating.
pub const MAX_CPU: u32 = 1 << 16;

/// Parses a CPU list into sorted, de-duplicated numbers.
pub fn parse(text: &str) -> Result<Vec<u32>, ParseError> {
    let t = text.trim();
    let mut out = Vec::new();
    if t.is_empty() {
        return Ok(out);
    }
    let num = |s: &str| -> Result<u32, ParseError> {
        s.parse::<u32>()
            .ok()
            .filter(|n| *n <= MAX_CPU)
            .ok_or_else(|| ParseError::new(format!("bad cpu number {s:?} in {t:?}")))
    };
    for part in t.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(ParseError::new(format!("descending range {part:?}")));
                }
                out.extend(a..=b);
            }
            None => out.push(num(part)?),
        }
        if out.len() > MAX_CPU as usize + 1 {
            return Err(ParseError::new("cpu list longer than MAX_CPU"));
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Formats numbers back as a compact list (`0-3,8`).
pub fn format(cpus: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && cpus[i + 1] == end + 1 {
            i += 1;
            end = cpus[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONLINE: &str =
        include_str!("../../../tests/fixtures/libvirt-kvm-2vm/sys/devices/system/cpu/online");
    const ISOLATED: &str =
        include_str!("../../../tests/fixtures/libvirt-kvm-2vm/sys/devices/system/cpu/isolated");

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
