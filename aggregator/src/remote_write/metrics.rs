//! Per-target self-metrics, in the style of Prometheus' own `prometheus_remote_storage_*`.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Why samples were given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The receiver answered a final 4xx (logged with its message).
    Refused,
    /// The request in flight at a crash was sent again and refused: the receiver had it.
    DuplicateAfterRestart,
}

impl DropReason {
    const ALL: [DropReason; 2] = [DropReason::Refused, DropReason::DuplicateAfterRestart];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Refused => "refused",
            DropReason::DuplicateAfterRestart => "duplicate_after_restart",
        }
    }
}

/// Counters and gauges of one target.
#[derive(Debug, Default)]
pub struct TargetMetrics {
    pub target: String,
    /// Samples the receiver stored (2xx).
    pub samples_sent: AtomicU64,
    /// Samples in requests that failed (network error, timeout, any non-2xx), per attempt.
    pub samples_failed: AtomicU64,
    /// Samples sent again after a failure worth retrying.
    pub samples_retried: AtomicU64,
    dropped: [AtomicU64; 2],
    /// WAL segments deleted (retention, size) before this target read them.
    pub wal_segments_missed: AtomicU64,
    /// Requests answered 2xx.
    pub requests_sent: AtomicU64,
    /// Samples read from the WAL and not yet answered.
    pub pending_samples: AtomicI64,
    /// Newest sample timestamp the receiver stored, ms.
    pub highest_sent_ms: AtomicI64,
    /// Newest sample timestamp read from the WAL, ms.
    pub highest_read_ms: AtomicI64,
}

impl TargetMetrics {
    pub fn new(target: &str) -> Self {
        Self {
            target: target.to_owned(),
            ..Default::default()
        }
    }

    /// Counts `n` samples given up for `r`.
    pub fn drop_samples(&self, r: DropReason, n: u64) {
        let i = DropReason::ALL.iter().position(|x| *x == r).unwrap_or(0);
        self.dropped[i].fetch_add(n, Ordering::Relaxed);
    }

    /// Samples given up for `r` so far.
    pub fn dropped(&self, r: DropReason) -> u64 {
        let i = DropReason::ALL.iter().position(|x| *x == r).unwrap_or(0);
        self.dropped[i].load(Ordering::Relaxed)
    }

    /// Seconds between the newest sample read from the WAL and the newest one stored by the
    /// receiver, while samples are pending (0 when it has everything).
    pub fn lag_seconds(&self) -> f64 {
        if self.pending_samples.load(Ordering::Relaxed) <= 0 {
            return 0.0;
        }
        let read = self.highest_read_ms.load(Ordering::Relaxed);
        let sent = self.highest_sent_ms.load(Ordering::Relaxed);
        (read - sent).max(0) as f64 / 1000.0
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Name suffix, type, help, value of one metric family.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&TargetMetrics) -> f64,
);

/// Appends every target's metrics to `o` (nothing when there is no target).
pub fn render(o: &mut String, targets: &[std::sync::Arc<TargetMetrics>]) {
    if targets.is_empty() {
        return;
    }
    let p = "hvscope_aggregator_remote_write";
    let families: [Family; 9] = [
        (
            "samples_sent_total",
            "counter",
            "Samples the receiver stored.",
            |t| t.samples_sent.load(Ordering::Relaxed) as f64,
        ),
        (
            "samples_failed_total",
            "counter",
            "Samples in requests that failed (network, timeout, non-2xx), counted per attempt.",
            |t| t.samples_failed.load(Ordering::Relaxed) as f64,
        ),
        (
            "samples_retried_total",
            "counter",
            "Samples sent again after a network error, 5xx or 429.",
            |t| t.samples_retried.load(Ordering::Relaxed) as f64,
        ),
        (
            "requests_sent_total",
            "counter",
            "Requests the receiver stored.",
            |t| t.requests_sent.load(Ordering::Relaxed) as f64,
        ),
        (
            "wal_segments_missed_total",
            "counter",
            "WAL segments deleted by retention or size before this target read them (their samples are lost to it).",
            |t| t.wal_segments_missed.load(Ordering::Relaxed) as f64,
        ),
        (
            "pending_samples",
            "gauge",
            "Samples read from the WAL and not yet answered by the receiver.",
            |t| t.pending_samples.load(Ordering::Relaxed).max(0) as f64,
        ),
        (
            "highest_sent_timestamp_seconds",
            "gauge",
            "Newest sample timestamp the receiver stored.",
            |t| t.highest_sent_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        ),
        (
            "highest_read_timestamp_seconds",
            "gauge",
            "Newest sample timestamp read from the WAL for this target.",
            |t| t.highest_read_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        ),
        (
            "lag_seconds",
            "gauge",
            "Newest sample read from the WAL minus newest sample stored, while samples are pending.",
            TargetMetrics::lag_seconds,
        ),
    ];
    for (suffix, kind, help, f) in families {
        let _ = write!(
            o,
            "# HELP {p}_{suffix} {help}\n# TYPE {p}_{suffix} {kind}\n"
        );
        for t in targets {
            let _ = writeln!(
                o,
                "{p}_{suffix}{{target=\"{}\"}} {}",
                escape(&t.target),
                f(t)
            );
        }
    }
    let _ = write!(
        o,
        "# HELP {p}_samples_dropped_total Samples given up, by reason.\n# TYPE {p}_samples_dropped_total counter\n"
    );
    for t in targets {
        for r in DropReason::ALL {
            let _ = writeln!(
                o,
                "{p}_samples_dropped_total{{target=\"{}\",reason=\"{}\"}} {}",
                escape(&t.target),
                r.as_str(),
                t.dropped(r)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn renders_per_target() {
        let t = Arc::new(TargetMetrics::new("vm"));
        t.samples_sent.store(5, Ordering::Relaxed);
        t.drop_samples(DropReason::Refused, 3);
        t.pending_samples.store(2, Ordering::Relaxed);
        t.highest_read_ms.store(10_000, Ordering::Relaxed);
        t.highest_sent_ms.store(4_000, Ordering::Relaxed);
        let mut o = String::new();
        render(&mut o, &[t]);
        assert!(
            o.contains("hvscope_aggregator_remote_write_samples_sent_total{target=\"vm\"} 5\n"),
            "{o}"
        );
        assert!(o.contains("_samples_dropped_total{target=\"vm\",reason=\"refused\"} 3\n"));
        assert!(o.contains("hvscope_aggregator_remote_write_lag_seconds{target=\"vm\"} 6\n"));
        let mut none = String::new();
        render(&mut none, &[]);
        assert!(none.is_empty());
    }
}
