//! `/proc/pressure/{cpu,memory,io}` (PSI, also cgroup v2 `*.pressure`):
//! `some avg10=0.00 avg60=0.00 avg300=0.00 total=0` and, on most resources, a `full` line.
//! `total` is in microseconds; it is converted to seconds here.

use crate::ParseError;

/// One PSI line: share of wall time (in %) some (or all) tasks stalled, and the total stall.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct PsiLine {
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    /// Total stall time since boot, seconds.
    pub total_seconds: f64,
}

/// PSI of one resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Pressure {
    pub some: PsiLine,
    /// Absent on `cpu` before Linux 5.13.
    pub full: Option<PsiLine>,
}

fn line(rest: &str) -> Result<PsiLine, ParseError> {
    let mut out = PsiLine::default();
    let mut seen = 0u8;
    for kv in rest.split_ascii_whitespace() {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| ParseError::new(format!("field without '=': {kv:?}")))?;
        let bad = || ParseError::new(format!("{k}: bad value {v:?}"));
        let avg = || {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(bad)
        };
        match k {
            "avg10" => (out.avg10, seen) = (avg()?, seen | 1),
            "avg60" => (out.avg60, seen) = (avg()?, seen | 2),
            "avg300" => (out.avg300, seen) = (avg()?, seen | 4),
            "total" => {
                let us: u64 = v.parse().map_err(|_| bad())?;
                (out.total_seconds, seen) = (us as f64 / 1e6, seen | 8);
            }
            _ => {} // newer kernels may add fields
        }
    }
    if seen != 15 {
        return Err(ParseError::new("psi line lacks avg10/avg60/avg300/total"));
    }
    Ok(out)
}

/// Parses one PSI file.
pub fn parse(text: &str) -> Result<Pressure, ParseError> {
    let mut some = None;
    let mut full = None;
    for l in text.lines() {
        let l = l.trim();
        if l.is_empty() {
            continue;
        }
        let (kind, rest) = l.split_once(' ').unwrap_or((l, ""));
        match kind {
            "some" => some = Some(line(rest)?),
            "full" => full = Some(line(rest)?),
            other => return Err(ParseError::new(format!("unknown psi line {other:?}"))),
        }
    }
    Ok(Pressure {
        some: some.ok_or_else(|| ParseError::new("no 'some' line"))?,
        full,
    })
}

/// Only the `some` line's `total` (µs), as [`parse`] would read it, without the averages: the
/// SLI sampler's every-second read of the host's and the VMs' memory PSI needs nothing else,
/// and the three decimal averages are most of [`parse`]'s work.
pub fn some_total_us(text: &str) -> Result<u64, ParseError> {
    let mut total = None;
    for l in text.lines() {
        let (kind, rest) = l.trim().split_once(' ').unwrap_or((l, ""));
        if kind != "some" {
            continue;
        }
        let mut line_total = None;
        for v in rest
            .split_ascii_whitespace()
            .filter_map(|kv| kv.strip_prefix("total="))
        {
            line_total = Some(
                v.parse::<u64>()
                    .map_err(|_| ParseError::new(format!("total: bad value {v:?}")))?,
            );
        }
        total = Some(line_total.ok_or_else(|| ParseError::new("psi 'some' line lacks total"))?);
    }
    total.ok_or_else(|| ParseError::new("no 'some' line"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPU: &str =
        include_str!("../../../agent/tests/fixtures/libvirt-kvm-2vm/proc/pressure/cpu");
    const IO: &str = include_str!("../../../agent/tests/fixtures/libvirt-kvm-2vm/proc/pressure/io");

    #[test]
    fn parses_real_captures() {
        let c = parse(CPU).unwrap();
        assert_eq!(c.some.avg10, 25.91);
        assert_eq!(c.some.total_seconds, 111.353335);
        assert_eq!(c.full.unwrap().total_seconds, 0.0);
        let m = parse(IO).unwrap();
        assert_eq!(m.full.unwrap().total_seconds, 11.616312);
        assert_eq!(m.full.unwrap().avg300, 0.29);
    }

    #[test]
    fn the_some_total_alone_is_the_full_parse_s() {
        for text in [
            CPU,
            IO,
            "some avg10=1.00 avg60=0.50 avg300=0.10 total=2000000\n",
        ] {
            let full = parse(text).unwrap();
            assert_eq!(
                some_total_us(text).unwrap(),
                (full.some.total_seconds * 1e6).round() as u64
            );
        }
        assert_eq!(some_total_us(CPU).unwrap(), 111_353_335);
        for bad in [
            "",
            "full avg10=0 avg60=0 avg300=0 total=0",
            "some avg10=0 avg60=0 avg300=0",
            "some avg10=0 avg60=0 avg300=0 total=-1",
            "some avg10=0 avg60=0 avg300=0 total=18446744073709551616",
        ] {
            assert!(some_total_us(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn old_cpu_format_has_no_full() {
        let p = parse("some avg10=1.00 avg60=0.50 avg300=0.10 total=2000000\n").unwrap();
        assert_eq!(p.some.total_seconds, 2.0);
        assert!(p.full.is_none());
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "full avg10=0 avg60=0 avg300=0 total=0",
            "some avg10=0 avg60=0 avg300=0",
            "some avg10=x avg60=0 avg300=0 total=0",
            "some avg10=0 avg60=0 avg300=0 total=-1",
            "some avg10=nan avg60=0 avg300=0 total=1",
            "some avg10",
            "partial avg10=0 avg60=0 avg300=0 total=0",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
