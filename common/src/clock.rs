//! The wall clock, as the wire and the TSDB count it.

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_after_2020_and_does_not_go_back() {
        let a = super::now_ms();
        assert!(a > 1_577_836_800_000, "{a}");
        assert!(super::now_ms() >= a);
    }
}
