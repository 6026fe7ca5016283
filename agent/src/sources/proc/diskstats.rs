//! `/proc/diskstats`: per block device I/O counters (Documentation/admin-guide/iostats.rst).
//! 14 columns since 2.6, 18 with discards (4.18), 20 with flushes (5.5).

use super::ParseError;

/// Sector size of the counters in `/proc/diskstats`, whatever the device's.
pub const SECTOR_BYTES: u64 = 512;

/// Counters of one block device. Times are in seconds (the file has milliseconds).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DiskStat {
    pub major: u32,
    pub minor: u32,
    pub name: String,
    pub reads_completed: u64,
    pub reads_merged: u64,
    pub read_bytes: u64,
    pub read_seconds: f64,
    pub writes_completed: u64,
    pub writes_merged: u64,
    pub written_bytes: u64,
    pub write_seconds: f64,
    pub io_in_progress: u64,
    pub io_seconds: f64,
    pub io_weighted_seconds: f64,
    pub discards_completed: Option<u64>,
    pub discarded_bytes: Option<u64>,
    pub flushes_completed: Option<u64>,
}

/// Parses the text of `/proc/diskstats`.
pub fn parse(text: &str) -> Result<Vec<DiskStat>, ParseError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if f.len() < 14 {
            return Err(ParseError::new(format!(
                "diskstats line has {} fields, want >= 14: {line:?}",
                f.len()
            )));
        }
        let name = f[2];
        let n = |i: usize| -> Result<u64, ParseError> {
            f[i].parse()
                .map_err(|_| ParseError::new(format!("{name}: field {} is not a number", i + 1)))
        };
        let opt = |i: usize| -> Result<Option<u64>, ParseError> {
            if i < f.len() {
                n(i).map(Some)
            } else {
                Ok(None)
            }
        };
        let ms = |i: usize| n(i).map(|v| v as f64 / 1000.0);
        let bytes = |i: usize| n(i).map(|v| v.saturating_mul(SECTOR_BYTES));
        out.push(DiskStat {
            major: f[0]
                .parse()
                .map_err(|_| ParseError::new(format!("bad major {:?}", f[0])))?,
            minor: f[1]
                .parse()
                .map_err(|_| ParseError::new(format!("bad minor {:?}", f[1])))?,
            name: name.to_owned(),
            reads_completed: n(3)?,
            reads_merged: n(4)?,
            read_bytes: bytes(5)?,
            read_seconds: ms(6)?,
            writes_completed: n(7)?,
            writes_merged: n(8)?,
            written_bytes: bytes(9)?,
            write_seconds: ms(10)?,
            io_in_progress: n(11)?,
            io_seconds: ms(12)?,
            io_weighted_seconds: ms(13)?,
            discards_completed: opt(14)?,
            discarded_bytes: opt(16)?.map(|s| s.saturating_mul(SECTOR_BYTES)),
            flushes_completed: opt(18)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = include_str!("../../../tests/fixtures/libvirt-kvm-2vm/proc/diskstats");

    #[test]
    fn parses_real_capture() {
        let d = parse(REAL).unwrap();
        let vda = d.iter().find(|d| d.name == "vda").unwrap();
        assert_eq!((vda.major, vda.minor), (254, 0));
        assert_eq!(vda.reads_completed, 129885);
        assert_eq!(vda.read_bytes, 7857782 * 512);
        assert_eq!(vda.read_seconds, 115.553);
        assert_eq!(vda.written_bytes, 6636656 * 512);
        assert_eq!(vda.io_seconds, 26.244);
        assert_eq!(vda.discards_completed, Some(7431));
        assert_eq!(vda.discarded_bytes, Some(1075000 * 512));
        assert_eq!(vda.flushes_completed, Some(3043));
        assert!(d.iter().any(|d| d.name == "zram0"));
    }

    #[test]
    fn old_format_and_garbage() {
        let d = parse("8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n").unwrap();
        assert_eq!(d[0].discards_completed, None);
        assert_eq!(d[0].io_weighted_seconds, 0.011);
        assert!(parse("").unwrap().is_empty());
        for bad in [
            "8 0 sda 1 2 3",
            "x 0 sda 1 2 3 4 5 6 7 8 9 10 11",
            "8 0 sda 1 2 3 4 5 6 7 8 9 10 z",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
