//! The agent's own cost, from its own `/proc/self` (always the live kernel, never the host
//! root): resident memory and CPU time. Exported so operators can see what the agent takes
//! from customers' nodes.

use hvscope_parse::ParseError;

/// Resident set size in bytes and CPU seconds (user + system) of this process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SelfStat {
    pub rss_bytes: u64,
    pub cpu_seconds: f64,
}

/// Parses `/proc/self/stat` (CPU fields 14 and 15, after the parenthesised comm) and
/// `/proc/self/statm` (field 2, pages).
pub fn parse(stat: &str, statm: &str, page_size: u64) -> Result<SelfStat, ParseError> {
    let cpu_seconds = hvscope_parse::proc::pidstat::cpu_seconds(stat)?;
    let pages: u64 = statm
        .split_ascii_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ParseError::new("statm resident field missing"))?;
    Ok(SelfStat {
        rss_bytes: pages * page_size,
        cpu_seconds,
    })
}

/// Reads this process's figures once (page size 4096, as on every x86_64 Linux).
pub fn read() -> Option<SelfStat> {
    SelfFiles::open()?.read()
}

/// This process's `stat` and `statm`, kept open by their owner (the daemon reads them every
/// collection): one `pread` each, into a buffer on the stack.
#[derive(Debug)]
pub struct SelfFiles {
    stat: std::fs::File,
    statm: std::fs::File,
}

impl SelfFiles {
    /// Opens both files; `None` when `/proc` is not mounted.
    pub fn open() -> Option<Self> {
        Some(Self {
            stat: std::fs::File::open("/proc/self/stat").ok()?,
            statm: std::fs::File::open("/proc/self/statm").ok()?,
        })
    }

    /// The figures now.
    pub fn read(&self) -> Option<SelfStat> {
        use std::os::unix::fs::FileExt;
        // A stat line is at most ~1 KiB (52 numbers and a comm of 64 bytes); statm far less.
        let (mut a, mut b) = ([0u8; 2048], [0u8; 256]);
        let n = self.stat.read_at(&mut a, 0).ok()?;
        let m = self.statm.read_at(&mut b, 0).ok()?;
        let stat = std::str::from_utf8(a.get(..n)?).ok()?;
        let statm = std::str::from_utf8(b.get(..m)?).ok()?;
        parse(stat, statm, 4096).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_comm() {
        let stat =
            "25453 (qemu (x) 1) S 1 25452 25452 0 -1 4194624 4890 0 0 0 150 250 0 0 20 0 5 0 1 2 3";
        let s = parse(stat, "100 50 10 1 0 20 0", 4096).unwrap();
        assert_eq!(s.cpu_seconds, 4.0);
        assert_eq!(s.rss_bytes, 50 * 4096);
        assert!(parse("1 (x) S", "1 2", 4096).is_err());
        assert!(parse("garbage", "1 2", 4096).is_err());
        assert!(parse(stat, "1", 4096).is_err());
    }

    #[test]
    fn reads_itself() {
        let s = read().unwrap();
        assert!(s.rss_bytes > 0);
        let kept = SelfFiles::open().unwrap();
        let before = kept.read().unwrap();
        // Burn some CPU: the kept files show it (pread at offset 0 reads the figures anew).
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < std::time::Duration::from_millis(60) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let after = kept.read().unwrap();
        assert!(
            after.cpu_seconds > before.cpu_seconds,
            "{before:?} {after:?}"
        );
    }
}
