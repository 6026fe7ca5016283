//! `/sys/class/net/<if>/` attributes: `carrier`, `speed` (Mb/s) and a bonding master's
//! `bonding/slaves`. `carrier` and `speed` fail with EINVAL on a down link; the reader maps
//! that to unknown before a parser sees any text.

use super::parse_i64;
use crate::ParseError;

/// `carrier`: `0` or `1`.
pub fn parse_carrier(text: &str) -> Result<bool, ParseError> {
    match text.trim() {
        "1" => Ok(true),
        "0" => Ok(false),
        t => Err(ParseError::new(format!("carrier is not 0/1: {t:?}"))),
    }
}

/// `speed` in Mb/s, `-1` (or 0, or u32::MAX on some drivers) when unknown → bits per second.
pub fn parse_speed(text: &str) -> Result<Option<u64>, ParseError> {
    let mbps = parse_i64(text)?;
    Ok((mbps > 0 && mbps < u32::MAX as i64).then(|| mbps as u64 * 1_000_000))
}

/// `bonding/slaves`: member names separated by spaces (empty line when none).
pub fn parse_slaves(text: &str) -> Result<Vec<String>, ParseError> {
    let v: Vec<String> = text.split_ascii_whitespace().map(str::to_owned).collect();
    if v.iter().any(|n| n.len() > 15 || n.contains('/')) {
        return Err(ParseError::new(format!(
            "not interface names: {:?}",
            text.trim()
        )));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_formats() {
        assert!(parse_carrier("1\n").unwrap());
        assert!(!parse_carrier("0").unwrap());
        assert!(parse_carrier("2").is_err() && parse_carrier("").is_err());
        assert_eq!(parse_speed("10000\n").unwrap(), Some(10_000_000_000));
        assert_eq!(parse_speed("-1\n").unwrap(), None);
        assert_eq!(parse_speed("4294967295").unwrap(), None);
        assert!(parse_speed("fast").is_err());
        assert_eq!(parse_slaves("eth0 eth1\n").unwrap(), vec!["eth0", "eth1"]);
        assert!(parse_slaves("\n").unwrap().is_empty());
        assert!(parse_slaves("a/b").is_err());
    }
}
