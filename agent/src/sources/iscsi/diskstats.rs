//! `/proc/diskstats`: per block device I/O counters (kernel `Documentation/admin-guide/iostats`),
//! and the pure delta between two readings that gives IOPS, bytes per second, average latency
//! (Δ time spent / Δ I/Os completed) and utilisation over an interval.

use serde::Serialize;

use crate::sources::proc::ParseError;

/// The counters of one device line. Times are milliseconds, as the kernel keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiskStat {
    pub major: u32,
    pub minor: u32,
    pub name: String,
    pub reads: u64,
    pub read_sectors: u64,
    pub read_ms: u64,
    pub writes: u64,
    pub write_sectors: u64,
    pub write_ms: u64,
    /// I/Os currently in flight (a gauge).
    pub in_flight: u64,
    /// Milliseconds during which at least one I/O was in flight.
    pub io_ms: u64,
    /// Discards completed and their time (kernel 4.18+; 0 when absent).
    pub discards: u64,
    pub discard_ms: u64,
    /// Flushes completed and their time (kernel 5.5+; 0 when absent).
    pub flushes: u64,
    pub flush_ms: u64,
}

impl DiskStat {
    /// I/Os completed of every kind.
    pub fn ios(&self) -> u64 {
        // Saturating: the counters are the kernel's, but a hostile or corrupt file must not
        // make the agent panic.
        self.reads
            .saturating_add(self.writes)
            .saturating_add(self.discards)
            .saturating_add(self.flushes)
    }

    /// Milliseconds spent by completed I/Os of every kind.
    pub fn ios_ms(&self) -> u64 {
        self.read_ms
            .saturating_add(self.write_ms)
            .saturating_add(self.discard_ms)
            .saturating_add(self.flush_ms)
    }
}

/// Bytes per sector in diskstats (always 512, whatever the device's block size).
pub const SECTOR_BYTES: u64 = 512;

/// Parses the whole file. Lines with fewer than the 14 classic fields are an error (the file
/// is the kernel's, so a short line means it is not diskstats).
pub fn parse(text: &str) -> Result<Vec<DiskStat>, ParseError> {
    parse_some(text, |_| true)
}

/// [`parse`], keeping only the devices `keep` accepts (the others are checked for their field
/// count only, not parsed).
pub fn parse_some(
    text: &str,
    mut keep: impl FnMut(&str) -> bool,
) -> Result<Vec<DiskStat>, ParseError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut f = [""; 20];
        let mut n = 0;
        for (slot, field) in f.iter_mut().zip(line.split_ascii_whitespace()) {
            *slot = field;
            n += 1;
        }
        if n == 0 {
            continue;
        }
        if n < 14 {
            return Err(ParseError::new(format!(
                "diskstats line has {n} fields, expected at least 14"
            )));
        }
        if keep(f[2]) {
            out.push(parse_fields(&f[..n])?);
        }
    }
    Ok(out)
}

/// One line's fields (at least 14; those past the 20 known are ignored).
fn parse_fields(f: &[&str]) -> Result<DiskStat, ParseError> {
    let n = |i: usize| -> Result<u64, ParseError> {
        match f.get(i) {
            None => Ok(0),
            Some(s) => s
                .parse()
                .map_err(|_| ParseError::new(format!("diskstats field {i} {s:?} is not a number"))),
        }
    };
    let small = |i: usize| -> Result<u32, ParseError> {
        u32::try_from(n(i)?).map_err(|_| ParseError::new("diskstats device number out of range"))
    };
    Ok(DiskStat {
        major: small(0)?,
        minor: small(1)?,
        name: f[2].to_owned(),
        reads: n(3)?,
        read_sectors: n(5)?,
        read_ms: n(6)?,
        writes: n(7)?,
        write_sectors: n(9)?,
        write_ms: n(10)?,
        in_flight: n(11)?,
        io_ms: n(12)?,
        discards: n(14)?,
        discard_ms: n(17)?,
        flushes: n(18)?,
        flush_ms: n(19)?,
    })
}

/// What one device did between two readings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiskRates {
    pub name: String,
    /// Completed I/Os per second.
    pub iops: f64,
    pub read_bytes_per_sec: f64,
    pub write_bytes_per_sec: f64,
    /// Average time per completed I/O in the interval, in seconds (Δms / Δios); `None` when no
    /// I/O completed.
    pub avg_latency_secs: Option<f64>,
    /// Fraction of the interval with I/O in flight (0..=1).
    pub utilisation: f64,
    /// In flight at the second reading.
    pub in_flight: u64,
    /// I/Os completed in the interval.
    pub completed: u64,
}

/// The rates of `cur` over the `interval_ms` since `prev`. `None` when the interval is empty or
/// a counter went backwards (the device was re-created under the same name).
pub fn delta(prev: &DiskStat, cur: &DiskStat, interval_ms: u64) -> Option<DiskRates> {
    if interval_ms == 0 || prev.major != cur.major || prev.minor != cur.minor {
        return None;
    }
    let d = |a: u64, b: u64| b.checked_sub(a);
    let ios = d(prev.ios(), cur.ios())?;
    let ios_ms = d(prev.ios_ms(), cur.ios_ms())?;
    let rs = d(prev.read_sectors, cur.read_sectors)?;
    let ws = d(prev.write_sectors, cur.write_sectors)?;
    let io_ms = d(prev.io_ms, cur.io_ms)?;
    let secs = interval_ms as f64 / 1000.0;
    Some(DiskRates {
        name: cur.name.clone(),
        iops: ios as f64 / secs,
        read_bytes_per_sec: rs.saturating_mul(SECTOR_BYTES) as f64 / secs,
        write_bytes_per_sec: ws.saturating_mul(SECTOR_BYTES) as f64 / secs,
        avg_latency_secs: (ios > 0).then(|| ios_ms as f64 / ios as f64 / 1000.0),
        utilisation: (io_ms as f64 / interval_ms as f64).min(1.0),
        in_flight: cur.in_flight,
        completed: ios,
    })
}

/// The previous reading, kept by a collector to turn counters into rates. Holds one reading of
/// the devices present at the last call only, so it stays bounded by the device count.
#[derive(Debug, Default)]
pub struct RateTracker {
    /// Time and the reading, in the order it came.
    prev: Option<(i64, Vec<DiskStat>)>,
}

impl RateTracker {
    /// Rates of `cur` (read at `now_ms`) against the previous reading; empty on the first call,
    /// for new devices and when the clock did not advance. `cur` becomes the previous reading.
    pub fn update(&mut self, now_ms: i64, cur: &[DiskStat]) -> Vec<DiskRates> {
        let out = match &self.prev {
            Some((t, prev)) if now_ms > *t => {
                let dt = now_ms.saturating_sub(*t) as u64;
                // The devices come in the kernel's order, the same as last time unless one came
                // or went: match by position, by name only where the position does not.
                let mut by_name: Option<std::collections::HashMap<&str, &DiskStat>> = None;
                cur.iter()
                    .enumerate()
                    .filter_map(|(i, c)| {
                        let p = match prev.get(i) {
                            Some(p) if p.name == c.name => p,
                            _ => *by_name
                                .get_or_insert_with(|| {
                                    prev.iter().map(|p| (p.name.as_str(), p)).collect()
                                })
                                .get(c.name.as_str())?,
                        };
                        delta(p, c, dt)
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        let (t, prev) = self.prev.get_or_insert_with(|| (now_ms, Vec::new()));
        *t = now_ms;
        // A copy reusing the names' buffers (no allocation while the devices stay).
        prev.truncate(cur.len());
        let kept = prev.len();
        for (p, c) in prev.iter_mut().zip(cur) {
            let mut name = std::mem::take(&mut p.name);
            name.clone_from(&c.name);
            *p = DiskStat { name, ..*c };
        }
        prev.extend_from_slice(&cur[kept..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUEST: &str = include_str!("../../../tests/fixtures/iscsi-guest/proc/diskstats");

    #[test]
    fn parses_the_guest_capture() {
        let s = parse(GUEST).unwrap();
        assert_eq!(s.len(), 2);
        let sda = &s[0];
        assert_eq!((sda.major, sda.minor, sda.name.as_str()), (8, 0, "sda"));
        assert_eq!(
            (sda.reads, sda.read_sectors, sda.read_ms),
            (163, 10632, 5387)
        );
        assert_eq!((sda.writes, sda.write_sectors, sda.write_ms), (2, 128, 128));
        assert_eq!((sda.in_flight, sda.io_ms), (0, 4936));
        assert_eq!((sda.flushes, sda.flush_ms), (1, 7));
        assert_eq!(sda.ios(), 166);
    }

    #[test]
    fn old_kernels_and_bad_lines() {
        let old = parse("   8       0 sda 1 0 8 2 3 0 16 4 0 5 6\n").unwrap();
        assert_eq!((old[0].ios(), old[0].discards), (4, 0));
        assert!(parse("8 0 sda 1 2 3").is_err());
        assert!(parse("8 0 sda 1 0 8 2 3 0 16 4 0 x 6").is_err());
        assert!(parse("99999999999 0 sda 1 0 8 2 3 0 16 4 0 5 6").is_err());
        assert_eq!(parse("\n\n").unwrap(), vec![]);
    }

    #[test]
    fn delta_gives_rates_and_latency() {
        let a = parse("8 0 sda 100 0 800 1000 50 0 400 500 0 900 0").unwrap();
        let b = parse("8 0 sda 200 0 1800 3000 150 0 1400 2500 3 1900 0").unwrap();
        let r = delta(&a[0], &b[0], 2000).unwrap();
        assert_eq!(r.iops, 100.0);
        assert_eq!(r.read_bytes_per_sec, 256_000.0);
        assert_eq!(r.write_bytes_per_sec, 256_000.0);
        // (2000 + 2000) ms over 200 I/Os = 20 ms.
        assert_eq!(r.avg_latency_secs, Some(0.02));
        assert_eq!(r.utilisation, 0.5);
        assert_eq!((r.in_flight, r.completed), (3, 200));
        // Idle: no latency, not zero latency.
        assert_eq!(delta(&b[0], &b[0], 1000).unwrap().avg_latency_secs, None);
        // Backwards counters or a zero interval: no rates.
        assert!(delta(&b[0], &a[0], 1000).is_none());
        assert!(delta(&a[0], &b[0], 0).is_none());
    }

    #[test]
    fn tracker_needs_two_readings() {
        let a = parse("8 0 sda 100 0 800 1000 0 0 0 0 0 900 0").unwrap();
        let b = parse("8 0 sda 110 0 880 1500 0 0 0 0 0 1400 0\n8 16 sdb 1 0 8 1 0 0 0 0 0 1 0")
            .unwrap();
        let mut t = RateTracker::default();
        assert!(t.update(1000, &a).is_empty());
        let r = t.update(2000, &b);
        assert_eq!(r.len(), 1, "sdb is new: no rate yet");
        assert_eq!(r[0].avg_latency_secs, Some(0.05));
        assert!(t.update(2000, &b).is_empty(), "clock did not advance");
    }

    #[test]
    fn tracker_matches_devices_by_name_when_they_move() {
        let a =
            parse("8 0 sda 100 0 800 1000 0 0 0 0 0 900 0\n8 16 sdb 10 0 80 100 0 0 0 0 0 90 0")
                .unwrap();
        let b = parse(
            "8 32 sdc 1 0 8 1 0 0 0 0 0 1 0\n8 16 sdb 20 0 160 300 0 0 0 0 0 190 0\n\
             8 0 sda 110 0 880 1500 0 0 0 0 0 1400 0",
        )
        .unwrap();
        let mut t = RateTracker::default();
        t.update(1000, &a);
        let r = t.update(2000, &b);
        let lat: Vec<_> = r
            .iter()
            .map(|r| (r.name.as_str(), r.avg_latency_secs))
            .collect();
        assert_eq!(lat, [("sdb", Some(0.02)), ("sda", Some(0.05))]);
        // sdc gets its rate once it has a previous reading; sda went away.
        let c =
            parse("8 32 sdc 3 0 8 5 0 0 0 0 0 1 0\n8 16 sdb 20 0 160 300 0 0 0 0 0 190 0").unwrap();
        let r = t.update(3000, &c);
        let lat: Vec<_> = r
            .iter()
            .map(|r| (r.name.as_str(), r.avg_latency_secs))
            .collect();
        assert_eq!(lat, [("sdc", Some(0.002)), ("sdb", None)]);
    }

    #[test]
    fn only_the_wanted_lines_are_parsed() {
        let text = "8 0 sda 1 0 8 2 3 0 16 4 0 5 6\n253 0 dm-0 x 0 8 2 3 0 16 4 0 5 6\n";
        let s = parse_some(text, |n| n == "sda").unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].name, "sda");
        assert!(parse(text).is_err(), "the other line is not a number");
        assert!(
            parse_some("8 0 sda 1 2 3\n", |_| false).is_err(),
            "short lines still are"
        );
    }
}
