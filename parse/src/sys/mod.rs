//! `/sys` attribute formats: one value per file (`1\n`, `up\n`, `0-3,8\n`), the numbers in
//! sysfs object names (`cpu12`, `node1`), and the formats of the few multi-value attributes the
//! agent reads (one module each).

pub mod cpulist;
pub mod hugepages;
pub mod net;
pub mod node;

use crate::ParseError;

/// A single unsigned integer attribute (`1\n`).
pub fn parse_u64(text: &str) -> Result<u64, ParseError> {
    let t = text.trim();
    t.parse()
        .map_err(|_| ParseError::new(format!("not an unsigned integer: {t:?}")))
}

/// A single signed integer attribute (`-1\n`).
pub fn parse_i64(text: &str) -> Result<i64, ParseError> {
    let t = text.trim();
    t.parse()
        .map_err(|_| ParseError::new(format!("not an integer: {t:?}")))
}

/// A one-word attribute (`up\n`), trimmed; empty or multi-line is an error.
pub fn parse_word(text: &str) -> Result<String, ParseError> {
    let t = text.trim();
    if t.is_empty() || t.contains(char::is_whitespace) {
        return Err(ParseError::new(format!("not one word: {t:?}")));
    }
    Ok(t.to_owned())
}

/// The number at the end of a sysfs name with `prefix` (`cpu12` → 12, `node1` → 1).
pub fn index_of(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_formats() {
        assert_eq!(parse_u64("1\n").unwrap(), 1);
        assert!(parse_u64("").is_err() && parse_u64("-1").is_err());
        assert_eq!(parse_i64("-1\n").unwrap(), -1);
        assert_eq!(parse_word("up\n").unwrap(), "up");
        assert!(parse_word("").is_err() && parse_word("a b").is_err());
        assert_eq!(index_of("cpu12", "cpu"), Some(12));
        assert_eq!(index_of("cpufreq", "cpu"), None);
        assert_eq!(index_of("cpu", "cpu"), None);
        assert_eq!(index_of("cpu+1", "cpu"), None);
    }
}
