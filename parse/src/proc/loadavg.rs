//! `/proc/loadavg`: `1.00 0.50 0.25 3/304 28406`.

use crate::ParseError;

/// Load averages and scheduler entity counts.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LoadAvg {
    pub load1: f64,
    pub load5: f64,
    pub load15: f64,
    /// Runnable scheduling entities (threads) right now.
    pub runnable: u64,
    /// Scheduling entities (threads) that exist.
    pub entities: u64,
}

/// Parses the text of `/proc/loadavg`.
pub fn parse(text: &str) -> Result<LoadAvg, ParseError> {
    let mut f = text.split_ascii_whitespace();
    let mut load = || -> Result<f64, ParseError> {
        f.next()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| ParseError::new("bad load average"))
    };
    let (load1, load5, load15) = (load()?, load()?, load()?);
    let (runnable, entities) = f
        .next()
        .and_then(|v| v.split_once('/'))
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .ok_or_else(|| ParseError::new("bad runnable/total field"))?;
    Ok(LoadAvg {
        load1,
        load5,
        load15,
        runnable,
        entities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = include_str!("../../../agent/tests/fixtures/libvirt-kvm-2vm/proc/loadavg");

    #[test]
    fn parses_real_capture() {
        let l = parse(REAL).unwrap();
        assert_eq!((l.load1, l.load5, l.load15), (2.35, 2.0, 1.09));
        assert_eq!((l.runnable, l.entities), (3, 304));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "1 2",
            "1 2 3",
            "1 2 3 4",
            "1 2 3 a/b",
            "nan 1 1 1/1",
            "-1 1 1 1/1",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
