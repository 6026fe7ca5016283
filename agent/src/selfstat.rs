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

/// Reads this process's figures (page size 4096, as on every x86_64 Linux).
pub fn read() -> Option<SelfStat> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    parse(&stat, &statm, 4096).ok()
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
    }
}
