//! Control files of one cgroup, v1 or v2: the formats of `cpu.stat` and `memory.stat` (flat
//! `key value`), memory limits, v2 `io.stat` and v1 `blkio.throttle.io_service_bytes`. PSI
//! (`*.pressure`) is [`crate::proc::pressure`]'s format; single numbers are
//! [`crate::sys::parse_u64`]'s.

use crate::ParseError;
use crate::proc::vmstat;

/// A flat `key value` file (`cpu.stat`, `memory.stat`).
pub fn parse_flat_keyed(text: &str) -> Result<Vec<(String, u64)>, ParseError> {
    vmstat::parse(text).map(|v| v.entries)
}

/// v2 `memory.max` / v1 `memory.limit_in_bytes`: `max` or a huge v1 sentinel mean unlimited.
pub fn parse_limit(text: &str) -> Result<Option<u64>, ParseError> {
    let t = text.trim();
    if t == "max" {
        return Ok(None);
    }
    let v: u64 = t
        .parse()
        .map_err(|_| ParseError::new(format!("bad memory limit {t:?}")))?;
    // v1 prints PAGE_COUNTER_MAX * PAGE_SIZE (≈ 2^63) for "no limit".
    Ok((v < 1 << 62).then_some(v))
}

/// v2 `io.stat`: `MAJ:MIN rbytes=… wbytes=… rios=… …` per device → (read, written) summed.
pub fn parse_io_stat(text: &str) -> Result<(u64, u64), ParseError> {
    let (mut r, mut w) = (0u64, 0u64);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut f = line.split_ascii_whitespace();
        let dev = f.next().unwrap_or("");
        if !dev.contains(':') {
            return Err(ParseError::new(format!(
                "io.stat line without MAJ:MIN: {line:?}"
            )));
        }
        for kv in f {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| ParseError::new(format!("io.stat field without '=': {kv:?}")))?;
            let v: u64 = v
                .parse()
                .map_err(|_| ParseError::new(format!("io.stat {k}: bad value")))?;
            match k {
                "rbytes" => r = r.saturating_add(v),
                "wbytes" => w = w.saturating_add(v),
                _ => {}
            }
        }
    }
    Ok((r, w))
}

/// v1 `blkio.throttle.io_service_bytes`: `MAJ:MIN Read N` … and a final `Total N` → (read, written).
pub fn parse_blkio_service_bytes(text: &str) -> Result<(u64, u64), ParseError> {
    let (mut r, mut w) = (0u64, 0u64);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        match f.as_slice() {
            ["Total", n] => {
                n.parse::<u64>()
                    .map_err(|_| ParseError::new("blkio Total: bad value"))?;
            }
            [dev, op, n] if dev.contains(':') => {
                let n: u64 = n
                    .parse()
                    .map_err(|_| ParseError::new(format!("blkio {op}: bad value")))?;
                match *op {
                    "Read" => r = r.saturating_add(n),
                    "Write" => w = w.saturating_add(n),
                    _ => {}
                }
            }
            _ => return Err(ParseError::new(format!("bad blkio line {line:?}"))),
        }
    }
    Ok((r, w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_garbage() {
        assert_eq!(parse_limit("max\n").unwrap(), None);
        assert_eq!(parse_limit("9223372036854771712\n").unwrap(), None);
        assert_eq!(parse_limit("1073741824").unwrap(), Some(1 << 30));
        assert!(parse_limit("lots").is_err());
        assert_eq!(
            parse_io_stat("8:0 rbytes=10 wbytes=20 rios=1 wios=2\n8:16 rbytes=1 wbytes=2\n")
                .unwrap(),
            (11, 22)
        );
        assert!(parse_io_stat("rbytes=1").is_err() && parse_io_stat("8:0 rbytes=x").is_err());
        assert_eq!(
            parse_blkio_service_bytes("8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 1\nTotal 12288\n")
                .unwrap(),
            (4096, 8192)
        );
        assert!(parse_blkio_service_bytes("garbage here").is_err());
    }
}
