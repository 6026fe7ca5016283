//! `/proc/<pid>/stat` (and `task/<tid>/stat`): user + system CPU time, after the parenthesised
//! comm (which may itself contain spaces and parentheses).

use super::stat::USER_HZ;
use crate::ParseError;

/// The fields after the parenthesised comm, from field 3 (state) on.
fn after_comm(stat: &str) -> Result<std::str::SplitAsciiWhitespace<'_>, ParseError> {
    stat.rsplit_once(')')
        .map(|(_, r)| r.split_ascii_whitespace())
        .ok_or_else(|| ParseError::new("stat without comm"))
}

/// User + system CPU seconds of a stat line (fields 14 and 15).
pub fn cpu_seconds(stat: &str) -> Result<f64, ParseError> {
    Ok(cpu_seconds_with_children(stat, false)?.0)
}

/// User + system CPU seconds of a stat line (fields 14 and 15) and, with `children`, those of
/// its waited-for children (fields 16 and 17; 0 otherwise).
pub fn cpu_seconds_with_children(stat: &str, children: bool) -> Result<(f64, f64), ParseError> {
    // Field 3 (state) is index 0: utime is field 14, index 11.
    let mut f = after_comm(stat)?.skip(11);
    let mut pair = |what: &str| -> Result<f64, ParseError> {
        let mut ticks = || -> Result<u64, ParseError> {
            f.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| ParseError::new(format!("stat {what} missing")))
        };
        let total = ticks()?
            .checked_add(ticks()?)
            .ok_or_else(|| ParseError::new(format!("stat {what} overflows")))?;
        Ok(total as f64 / USER_HZ)
    };
    let own = pair("utime + stime")?;
    let kids = if children {
        pair("cutime + cstime")?
    } else {
        0.0
    };
    Ok((own, kids))
}

/// What a process's stat line says besides CPU time: thread count (field 20) and resident set
/// in pages (field 24, the same counters as `VmRSS` of the status file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub threads: u64,
    pub rss_pages: u64,
}

/// Thread count and RSS pages of a stat line.
pub fn counts(stat: &str) -> Result<Counts, ParseError> {
    // Field 3 (state) is index 0: num_threads (20) is index 17, rss (24) index 21.
    let mut f = after_comm(stat)?.skip(17);
    let threads = f.next().and_then(|v| v.parse().ok());
    let rss_pages = f.nth(3).and_then(|v| v.parse().ok());
    match (threads, rss_pages) {
        (Some(threads), Some(rss_pages)) => Ok(Counts { threads, rss_pages }),
        _ => Err(ParseError::new("stat num_threads/rss missing")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_and_tricky_comm() {
        let real = include_str!(
            "../../../agent/tests/fixtures/libvirt-kvm-2vm/proc/25453/task/25461/stat"
        );
        assert_eq!(cpu_seconds(real).unwrap(), 6.41);
        assert_eq!(
            cpu_seconds("1 (a) b) c) S 1 2 3 4 5 6 7 8 9 10 150 250 0").unwrap(),
            4.0
        );
        assert!(cpu_seconds("garbage").is_err());
        let pstat = include_str!("../../../agent/tests/fixtures/libvirt-kvm-2vm/proc/25453/stat");
        assert_eq!(
            counts(pstat).unwrap(),
            Counts {
                threads: 6,
                rss_pages: 10481
            }
        );
        assert!(counts("1 (x) S 1 2").is_err() && counts("no comm").is_err());
        assert!(cpu_seconds("1 (x) S 1 2").is_err());
        let huge = "1 (x) S 1 2 3 4 5 6 7 8 9 10 18446744073709551615 1 0";
        assert!(cpu_seconds(huge).is_err(), "utime + stime past u64::MAX");
        let kids = "1 (x) S 1 2 3 4 5 6 7 8 9 10 150 250 30 70 0";
        assert_eq!(cpu_seconds_with_children(kids, true).unwrap(), (4.0, 1.0));
        assert_eq!(cpu_seconds_with_children(kids, false).unwrap(), (4.0, 0.0));
        assert!(cpu_seconds_with_children("1 (x) S 1 2 3 4 5 6 7 8 9 10 150 250", true).is_err());
    }
}
