//! `/proc/diskstats`: per block device I/O counters (kernel
//! `Documentation/admin-guide/iostats.rst`; 14 fields since 2.6, 18 with discards (4.18), 20
//! with flushes (5.5)), and the pure delta between two readings that gives IOPS, bytes per
//! second, average latency (Δ time spent / Δ I/Os completed) and utilisation over an interval.
//!
//! The one parser of the file: the collector reads it once per collection and hands the
//! [`DiskStat`]s to the host part, the iSCSI part and the disk-delay SLI sampler (which reads it
//! once per sample). No I/O here.

use std::sync::Arc;

use serde::Serialize;

use crate::ParseError;

/// Bytes per sector in diskstats (always 512, whatever the device's block size).
pub const SECTOR_BYTES: u64 = 512;

/// The counters of one device line, as the kernel keeps them (times in milliseconds, sizes in
/// sectors). Counters a kernel does not have (discards before 4.18, flushes before 5.5) are 0;
/// [`fields`](Self::fields) tells them from zeros.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskStat {
    pub major: u32,
    pub minor: u32,
    /// Shared: a reader hands out the same names reading after reading (and its consumers'
    /// previous readings share them) instead of copying them.
    pub name: Arc<str>,
    pub reads: u64,
    pub reads_merged: u64,
    pub read_sectors: u64,
    pub read_ms: u64,
    pub writes: u64,
    pub writes_merged: u64,
    pub write_sectors: u64,
    pub write_ms: u64,
    /// I/Os currently in flight (a gauge).
    pub in_flight: u64,
    /// Milliseconds during which at least one I/O was in flight.
    pub io_ms: u64,
    /// Milliseconds spent doing I/O, weighted by the I/Os in flight.
    pub io_weighted_ms: u64,
    /// Discards completed, their sectors and their time (kernel 4.18+).
    pub discards: u64,
    pub discard_sectors: u64,
    pub discard_ms: u64,
    /// Flushes completed and their time (kernel 5.5+).
    pub flushes: u64,
    pub flush_ms: u64,
    /// Fields the line had (at least 14; those past the 20 known are not counted).
    pub fields: u8,
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

    /// Whether the line had field `i` (0-based: 14 is the first discard field, 18 the first
    /// flush field).
    pub fn has_field(&self, i: usize) -> bool {
        i < usize::from(self.fields)
    }
}

/// `sectors` in bytes.
pub fn sector_bytes(sectors: u64) -> u64 {
    sectors.saturating_mul(SECTOR_BYTES)
}

/// `ms` in seconds.
pub fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// Parses the whole file. Lines with fewer than the 14 classic fields are an error (the file
/// is the kernel's, so a short line means it is not diskstats), and so is a known field (all
/// but the name, up to the 20th) that is not a number.
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
    parse_into(text, |name| keep(name).then(|| name.into()), &mut out)?;
    Ok(out)
}

/// [`parse`] into `out`, keeping the devices for which `name` gives the name to store (a name
/// the caller already holds, shared rather than copied); the others are checked for their field
/// count only. One pass over the bytes: fields are split at ASCII whitespace, as
/// `split_ascii_whitespace` would, and numbers read as `u64::from_str` would.
pub fn parse_into(
    text: &str,
    mut name: impl FnMut(&str) -> Option<Arc<str>>,
    out: &mut Vec<DiskStat>,
) -> Result<(), ParseError> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // One line: up to 20 fields as (start, end) byte offsets, all of them counted.
        let mut f = [(0, 0); 20];
        let mut n = 0;
        loop {
            while i < b.len() && b[i] != b'\n' && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i == b.len() || b[i] == b'\n' {
                break;
            }
            let start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
            if let Some(slot) = f.get_mut(n) {
                *slot = (start, i);
            }
            n += 1;
        }
        i += 1;
        if n == 0 {
            continue;
        }
        if n < 14 {
            return Err(ParseError::new(format!(
                "diskstats line has {n} fields, expected at least 14"
            )));
        }
        // Fields end at ASCII bytes or the end of the text: always char boundaries.
        let field = |k: usize| f.get(k).and_then(|&(a, z)| text.get(a..z)).unwrap_or("");
        if let Some(name) = name(field(2)) {
            out.push(parse_fields(&field, n.min(20), name)?);
        }
    }
    Ok(())
}

/// A field read as `u64::from_str` reads it: an optional `+`, then decimal digits, no overflow.
fn number(s: &str) -> Option<u64> {
    let d = s.strip_prefix('+').unwrap_or(s).as_bytes();
    if d.is_empty() {
        return None;
    }
    d.iter().try_fold(0u64, |v, &c| {
        let digit = c.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        v.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// One line's fields (`count` of them, 14 to 20), its device named `name`. Every field the line
/// has is a number (in field order, so the first bad one is reported); the ones it lacks are 0.
fn parse_fields<'t>(
    field: &impl Fn(usize) -> &'t str,
    count: usize,
    name: Arc<str>,
) -> Result<DiskStat, ParseError> {
    let n = |i: usize| -> Result<u64, ParseError> {
        let s = field(i);
        number(s)
            .ok_or_else(|| ParseError::new(format!("diskstats field {i} {s:?} is not a number")))
    };
    let small = |i: usize| {
        u32::try_from(n(i)?).map_err(|_| ParseError::new("diskstats device number out of range"))
    };
    let (major, minor) = (small(0)?, small(1)?);
    let mut v = [0u64; 20];
    for (i, slot) in v.iter_mut().enumerate().take(count).skip(3) {
        *slot = n(i)?;
    }
    Ok(DiskStat {
        major,
        minor,
        name,
        reads: v[3],
        reads_merged: v[4],
        read_sectors: v[5],
        read_ms: v[6],
        writes: v[7],
        writes_merged: v[8],
        write_sectors: v[9],
        write_ms: v[10],
        in_flight: v[11],
        io_ms: v[12],
        io_weighted_ms: v[13],
        discards: v[14],
        discard_sectors: v[16],
        discard_ms: v[17],
        flushes: v[18],
        flush_ms: v[19],
        fields: count as u8,
    })
}

/// What one device did between two readings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiskRates {
    pub name: Arc<str>,
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
        read_bytes_per_sec: sector_bytes(rs) as f64 / secs,
        write_bytes_per_sec: sector_bytes(ws) as f64 / secs,
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
                                .get_or_insert_with(|| prev.iter().map(|p| (&*p.name, p)).collect())
                                .get(&*c.name)?,
                        };
                        delta(p, c, dt)
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        let (t, prev) = self.prev.get_or_insert_with(|| (now_ms, Vec::new()));
        *t = now_ms;
        // A copy sharing the names (no allocation).
        prev.clear();
        prev.extend_from_slice(cur);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUEST: &str = include_str!("../../../agent/tests/fixtures/iscsi-guest/proc/diskstats");
    const REAL: &str = include_str!("../../../agent/tests/fixtures/libvirt-kvm-2vm/proc/diskstats");

    #[test]
    fn parses_real_capture() {
        let d = parse(REAL).unwrap();
        let vda = d.iter().find(|d| &*d.name == "vda").unwrap();
        assert_eq!((vda.major, vda.minor), (254, 0));
        assert_eq!(vda.reads, 129885);
        assert_eq!(sector_bytes(vda.read_sectors), 7857782 * 512);
        assert_eq!(seconds(vda.read_ms), 115.553);
        assert_eq!(sector_bytes(vda.write_sectors), 6636656 * 512);
        assert_eq!(seconds(vda.io_ms), 26.244);
        assert_eq!((vda.discards, vda.has_field(14)), (7431, true));
        assert_eq!(sector_bytes(vda.discard_sectors), 1075000 * 512);
        assert_eq!((vda.flushes, vda.has_field(18)), (3043, true));
        assert_eq!(vda.fields, 20);
        assert!(d.iter().any(|d| &*d.name == "zram0"));
    }

    #[test]
    fn parses_the_guest_capture() {
        let s = parse(GUEST).unwrap();
        assert_eq!(s.len(), 2);
        let sda = &s[0];
        assert_eq!((sda.major, sda.minor, &*sda.name), (8, 0, "sda"));
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
        assert_eq!((old[0].fields, old[0].has_field(14)), (14, false));
        assert_eq!(seconds(old[0].io_weighted_ms), 0.006);
        for bad in [
            "x 0 sda 1 2 3 4 5 6 7 8 9 10 11",
            "8 0 sda 1 2 3 4 5 6 7 8 9 10 z",
            "8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 q",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
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
        let lat: Vec<_> = r.iter().map(|r| (&*r.name, r.avg_latency_secs)).collect();
        assert_eq!(lat, [("sdb", Some(0.02)), ("sda", Some(0.05))]);
        // sdc gets its rate once it has a previous reading; sda went away.
        let c =
            parse("8 32 sdc 3 0 8 5 0 0 0 0 0 1 0\n8 16 sdb 20 0 160 300 0 0 0 0 0 190 0").unwrap();
        let r = t.update(3000, &c);
        let lat: Vec<_> = r.iter().map(|r| (&*r.name, r.avg_latency_secs)).collect();
        assert_eq!(lat, [("sdc", Some(0.002)), ("sdb", None)]);
    }

    /// The parser before it read bytes in one pass: lines, `split_ascii_whitespace`, and
    /// `str::parse` for the numbers. The byte parser must agree with it on any text.
    fn reference(text: &str) -> Result<Vec<DiskStat>, ParseError> {
        let mut out = Vec::new();
        for line in text.lines() {
            let mut f = [""; 20];
            let mut n = 0;
            for (slot, field) in f.iter_mut().zip(line.split_ascii_whitespace()) {
                *slot = field;
                n += 1;
            }
            let all = line.split_ascii_whitespace().count();
            if all == 0 {
                continue;
            }
            if all < 14 {
                return Err(ParseError::new(format!(
                    "diskstats line has {all} fields, expected at least 14"
                )));
            }
            let f = &f[..n];
            let num = |i: usize| -> Result<u64, ParseError> {
                match f.get(i) {
                    None => Ok(0),
                    Some(s) => s.parse().map_err(|_| {
                        ParseError::new(format!("diskstats field {i} {s:?} is not a number"))
                    }),
                }
            };
            let small = |i: usize| -> Result<u32, ParseError> {
                u32::try_from(num(i)?)
                    .map_err(|_| ParseError::new("diskstats device number out of range"))
            };
            let (major, minor) = (small(0)?, small(1)?);
            let mut v = [0u64; 20];
            for (i, slot) in v.iter_mut().enumerate().skip(3) {
                *slot = num(i)?;
            }
            out.push(DiskStat {
                major,
                minor,
                name: f[2].into(),
                reads: v[3],
                reads_merged: v[4],
                read_sectors: v[5],
                read_ms: v[6],
                writes: v[7],
                writes_merged: v[8],
                write_sectors: v[9],
                write_ms: v[10],
                in_flight: v[11],
                io_ms: v[12],
                io_weighted_ms: v[13],
                discards: v[14],
                discard_sectors: v[16],
                discard_ms: v[17],
                flushes: v[18],
                flush_ms: v[19],
                fields: n as u8,
            });
        }
        Ok(out)
    }

    #[test]
    fn the_byte_parser_agrees_with_the_reference_on_any_text() {
        assert_eq!(parse(GUEST).unwrap(), reference(GUEST).unwrap());
        // Tokens near the edges of what a number is, separators of every kind.
        let tokens = [
            "0",
            "7",
            "+7",
            "-7",
            "+",
            "-",
            "",
            "x",
            "18446744073709551615",
            "18446744073709551616",
            "4294967295",
            "4294967296",
            "0001",
            "sda",
            "dm-0",
            "é",
            "1\u{a0}2",
            "12a",
        ];
        let seps = [
            " ", "  ", "\t", "\r", "\x0c", "\x0b", "\n", "\r\n", "\u{2003}",
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        let mut parsed = 0;
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..rng.usize(0..60) {
                // Mostly numbers: every known field of a line must be one for it to parse.
                if rng.u8(..) < 225 {
                    text.push_str(tokens[rng.usize(..2)]);
                } else {
                    text.push_str(tokens[rng.usize(..tokens.len())]);
                }
                text.push_str(if rng.u8(..) < 220 {
                    " "
                } else {
                    seps[rng.usize(..seps.len())]
                });
            }
            let got = parse(&text);
            assert_eq!(got, reference(&text), "{text:?}");
            parsed += usize::from(got.is_ok_and(|v| !v.is_empty()));
        }
        assert!(parsed > 500, "only {parsed} texts with lines that parse");
        // Long lines that parse, with fields past the 20 known.
        for fields in 14..24 {
            let line = format!("8 0 sda {}", vec!["1"; fields - 3].join(" "));
            assert_eq!(parse(&line), reference(&line));
            assert!(parse(&line).is_ok());
        }
    }

    #[test]
    fn only_the_wanted_lines_are_parsed() {
        let text = "8 0 sda 1 0 8 2 3 0 16 4 0 5 6\n253 0 dm-0 x 0 8 2 3 0 16 4 0 5 6\n";
        let s = parse_some(text, |n| n == "sda").unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(&*s[0].name, "sda");
        assert!(parse(text).is_err(), "the other line is not a number");
        assert!(
            parse_some("8 0 sda 1 2 3\n", |_| false).is_err(),
            "short lines still are"
        );
    }
}
