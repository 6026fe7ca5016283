//! Capped exponential backoff with full jitter (AWS architecture blog's "full jitter"): after
//! the n-th consecutive failure wait a uniform random time in `[base, min(cap, base·2ⁿ)]`, so a
//! thousand nodes reconnecting after an aggregator restart do not arrive in lockstep.

use std::time::Duration;

/// Backoff state for one connection.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    /// Starts at `base`, never waits more than `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap: cap.max(base),
            failures: 0,
        }
    }

    /// The next delay, with `unit` a uniform random number in [0, 1).
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.failures.min(20));
        let ceiling = exp.min(self.cap);
        self.failures = self.failures.saturating_add(1);
        self.base + (ceiling.saturating_sub(self.base)).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// Back to the first step (after a connection that worked).
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(4));
        let max: Vec<_> = (0..8).map(|_| b.next_delay(1.0)).collect();
        assert_eq!(max[0], Duration::from_millis(500));
        assert_eq!(max[1], Duration::from_secs(1));
        assert_eq!(max[2], Duration::from_secs(2));
        assert_eq!(max[7], Duration::from_secs(4));
        b.reset();
        assert_eq!(b.next_delay(0.0), Duration::from_millis(500));
        for _ in 0..100 {
            assert!(b.next_delay(1.0) <= Duration::from_secs(4));
        }
    }
}
