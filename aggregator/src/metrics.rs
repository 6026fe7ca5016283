//! The aggregator's own metrics, rendered at `GET /metrics` in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::nodes::{LimitReason, Refused};
use crate::tsdb::DbStats;

/// Why a connection on the gRPC port was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// The client sent no certificate.
    NoClientCertificate,
    /// The certificate is not signed by the configured CA, expired, or otherwise invalid.
    UntrustedCertificate,
    /// The certificate carries neither a DNS SAN nor a CN to name the node by.
    NoIdentity,
    /// Not TLS, a broken handshake, or too slow.
    Handshake,
}

impl RejectReason {
    const ALL: [RejectReason; 4] = [
        RejectReason::NoClientCertificate,
        RejectReason::UntrustedCertificate,
        RejectReason::NoIdentity,
        RejectReason::Handshake,
    ];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::NoClientCertificate => "no_client_certificate",
            RejectReason::UntrustedCertificate => "untrusted_certificate",
            RejectReason::NoIdentity => "no_identity",
            RejectReason::Handshake => "handshake",
        }
    }
}

/// Counters and gauges of the aggregator process.
#[derive(Debug, Default)]
pub struct Metrics {
    pub connected_agents: AtomicI64,
    pub streams_total: AtomicU64,
    pub batches_received: AtomicU64,
    pub batches_duplicate: AtomicU64,
    pub samples_received: AtomicU64,
    pub resend_requests: AtomicU64,
    pub sequence_gaps: AtomicU64,
    pub unknown_series_samples: AtomicU64,
    pub stream_errors: AtomicU64,
    pub remote_read_requests: AtomicU64,
    pub remote_read_errors: AtomicU64,
    pub remote_read_frames: AtomicU64,
    pub wal_replayed_records: AtomicU64,
    pub http_unauthorized: AtomicU64,
    rejected: [AtomicU64; 4],
    pub cert_not_after: AtomicI64,
    /// Handshakes refused on the HTTPS port (`[http.tls]`), by [`RejectReason`].
    https_rejected: [AtomicU64; 4],
    /// notAfter of the HTTPS port's certificate (0: plain HTTP).
    pub http_cert_not_after: AtomicI64,
    /// Series definitions refused by the per-node limits, by [`LimitReason`].
    limited_series: [AtomicU64; 6],
    /// Samples refused: beyond the batch limit; of refused series.
    limited_samples_over_batch: AtomicU64,
    limited_samples_of_refused: AtomicU64,
    /// The remote-write targets' figures (set once at start).
    pub remote_write: std::sync::OnceLock<Vec<std::sync::Arc<crate::remote_write::TargetMetrics>>>,
}

impl Metrics {
    /// Counts a handshake refused on the HTTPS port.
    pub fn reject_https(&self, r: RejectReason) {
        let i = RejectReason::ALL.iter().position(|x| *x == r).unwrap_or(0);
        self.https_rejected[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a refused connection.
    pub fn reject(&self, r: RejectReason) {
        let i = RejectReason::ALL.iter().position(|x| *x == r).unwrap_or(0);
        self.rejected[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts what the per-node limits refused of one batch.
    pub fn limited(&self, r: &Refused) {
        for (c, n) in self.limited_series.iter().zip(r.series) {
            if n > 0 {
                c.fetch_add(n, Ordering::Relaxed);
            }
        }
        self.limited_samples_over_batch
            .fetch_add(r.samples_over_batch, Ordering::Relaxed);
        self.limited_samples_of_refused
            .fetch_add(r.samples_of_refused, Ordering::Relaxed);
    }

    /// Refused connections so far for `r`.
    pub fn rejected(&self, r: RejectReason) -> u64 {
        let i = RejectReason::ALL.iter().position(|x| *x == r).unwrap_or(0);
        self.rejected[i].load(Ordering::Relaxed)
    }

    /// Renders the text exposition format; `nodes` is the number of known nodes,
    /// `stale_markers` the stale markers the node store wrote, `db` the storage figures.
    pub fn render(&self, nodes: usize, stale_markers: u64, db: &DbStats) -> String {
        let mut o = String::with_capacity(2048);
        let mut one = |name: &str, kind: &str, help: &str, v: f64| {
            let _ = write!(
                o,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
            );
        };
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        one(
            "hvscope_aggregator_connected_agents",
            "gauge",
            "Agent streams open now.",
            self.connected_agents.load(Ordering::Relaxed) as f64,
        );
        one(
            "hvscope_aggregator_nodes",
            "gauge",
            "Nodes known.",
            nodes as f64,
        );
        one(
            "hvscope_aggregator_streams_total",
            "counter",
            "Agent streams accepted.",
            g(&self.streams_total),
        );
        one(
            "hvscope_aggregator_batches_received_total",
            "counter",
            "Batches applied (duplicates excluded).",
            g(&self.batches_received),
        );
        one(
            "hvscope_aggregator_batches_duplicate_total",
            "counter",
            "Batches received again and acknowledged without applying them twice.",
            g(&self.batches_duplicate),
        );
        one(
            "hvscope_aggregator_samples_received_total",
            "counter",
            "Samples applied.",
            g(&self.samples_received),
        );
        one(
            "hvscope_aggregator_resend_requests_total",
            "counter",
            "Resend requests sent to agents.",
            g(&self.resend_requests),
        );
        one(
            "hvscope_aggregator_sequence_gaps_total",
            "counter",
            "Batches missing between two received ones (dropped by an agent's full spool).",
            g(&self.sequence_gaps),
        );
        one(
            "hvscope_aggregator_unknown_series_samples_total",
            "counter",
            "Samples dropped because their series was never defined.",
            g(&self.unknown_series_samples),
        );
        one(
            "hvscope_aggregator_stream_errors_total",
            "counter",
            "Agent streams that ended with an error.",
            g(&self.stream_errors),
        );
        one(
            "hvscope_aggregator_remote_read_requests_total",
            "counter",
            "Remote-read requests received.",
            g(&self.remote_read_requests),
        );
        one(
            "hvscope_aggregator_remote_read_errors_total",
            "counter",
            "Remote-read requests refused (bad input, limits, busy).",
            g(&self.remote_read_errors),
        );
        one(
            "hvscope_aggregator_remote_read_frames_total",
            "counter",
            "STREAMED_XOR_CHUNKS frames sent.",
            g(&self.remote_read_frames),
        );
        one(
            "hvscope_aggregator_http_unauthorized_total",
            "counter",
            "HTTP requests refused for a missing or wrong bearer token.",
            g(&self.http_unauthorized),
        );
        one(
            "hvscope_aggregator_wal_replayed_records",
            "gauge",
            "Write-ahead log records replayed at start.",
            g(&self.wal_replayed_records),
        );
        one(
            "hvscope_aggregator_stale_markers_total",
            "counter",
            "Stale markers stored: series missing from a node's batch, cleared findings, stale nodes.",
            stale_markers as f64,
        );
        render_storage(&mut one, db);
        let exp = self.cert_not_after.load(Ordering::Relaxed);
        if exp > 0 {
            one(
                "hvscope_aggregator_tls_cert_expiry_timestamp_seconds",
                "gauge",
                "notAfter of the server certificate in use, seconds since the epoch.",
                exp as f64,
            );
        }
        let http_exp = self.http_cert_not_after.load(Ordering::Relaxed);
        if http_exp > 0 {
            one(
                "hvscope_aggregator_http_tls_cert_expiry_timestamp_seconds",
                "gauge",
                "notAfter of the HTTPS port's certificate in use ([http.tls]), seconds since the epoch.",
                http_exp as f64,
            );
        }
        let name = "hvscope_aggregator_rejected_connections_total";
        let _ = write!(
            o,
            "# HELP {name} Connections refused on the gRPC port, by reason.\n# TYPE {name} counter\n"
        );
        for r in RejectReason::ALL {
            let _ = writeln!(
                o,
                "{name}{{reason=\"{}\"}} {}",
                r.as_str(),
                self.rejected(r)
            );
        }
        if http_exp > 0 {
            let name = "hvscope_aggregator_https_rejected_connections_total";
            let _ = write!(
                o,
                "# HELP {name} TLS handshakes refused on the HTTPS port, by reason.\n# TYPE {name} counter\n"
            );
            for (r, c) in RejectReason::ALL.iter().zip(&self.https_rejected) {
                let _ = writeln!(o, "{name}{{reason=\"{}\"}} {}", r.as_str(), g(c));
            }
        }
        let name = "hvscope_aggregator_limited_series_total";
        let _ = write!(
            o,
            "# HELP {name} Series definitions refused by the per-node limits, by reason.\n# TYPE {name} counter\n"
        );
        for (r, c) in LimitReason::ALL.iter().zip(&self.limited_series) {
            let _ = writeln!(o, "{name}{{reason=\"{}\"}} {}", r.as_str(), g(c));
        }
        let name = "hvscope_aggregator_limited_samples_total";
        let _ = write!(
            o,
            "# HELP {name} Samples refused by the per-node limits: beyond samples_per_batch, or of series whose definition was refused.\n# TYPE {name} counter\n"
        );
        for (reason, c) in [
            ("samples_per_batch", &self.limited_samples_over_batch),
            ("refused_series", &self.limited_samples_of_refused),
        ] {
            let _ = writeln!(o, "{name}{{reason=\"{reason}\"}} {}", g(c));
        }
        if let Some(targets) = self.remote_write.get() {
            crate::remote_write::metrics::render(&mut o, targets);
        }
        o
    }
}

/// Storage figures: sizes, and the memory per sample and per series.
fn render_storage(one: &mut impl FnMut(&str, &str, &str, f64), s: &DbStats) {
    one(
        "hvscope_aggregator_tsdb_max_bytes",
        "gauge",
        "Memory bound of the in-memory head (chunks and series overhead), bytes; 0: none.",
        s.max_bytes as f64,
    );
    one(
        "hvscope_aggregator_tsdb_evicted_samples_total",
        "counter",
        "Samples dropped before their retention to keep the head under its memory bound.",
        s.evicted_samples_total as f64,
    );
    one(
        "hvscope_aggregator_tsdb_kept_seconds",
        "gauge",
        "How far back the head reached after the last retention pass (less than the retention under memory pressure).",
        s.kept_ms as f64 / 1000.0,
    );
    one(
        "hvscope_aggregator_tsdb_series",
        "gauge",
        "Series in the in-memory head.",
        s.series as f64,
    );
    one(
        "hvscope_aggregator_tsdb_samples",
        "gauge",
        "Samples held in the head.",
        s.samples as f64,
    );
    one(
        "hvscope_aggregator_tsdb_chunk_bytes",
        "gauge",
        "Bytes of XOR chunk data held (in memory and in chunk files).",
        s.chunk_bytes as f64,
    );
    one(
        "hvscope_aggregator_tsdb_chunk_disk_bytes",
        "gauge",
        "Of the chunk bytes held, those in chunk files (closed chunks, off the heap).",
        s.chunk_disk_bytes as f64,
    );
    one(
        "hvscope_aggregator_tsdb_chunk_files",
        "gauge",
        "Unnamed chunk files open.",
        s.chunk_files as f64,
    );
    one(
        "hvscope_aggregator_tsdb_chunk_write_errors_total",
        "counter",
        "Closed chunks kept on the heap because writing them to a chunk file failed.",
        s.chunk_write_errors_total as f64,
    );
    one(
        "hvscope_aggregator_tsdb_bytes_per_sample",
        "gauge",
        "Chunk bytes per sample held.",
        if s.samples > 0 {
            s.chunk_bytes as f64 / s.samples as f64
        } else {
            0.0
        },
    );
    one(
        "hvscope_aggregator_tsdb_series_overhead_bytes",
        "gauge",
        "Estimated bytes per series outside chunks (labels, index, structures).",
        if s.series > 0 {
            s.overhead_bytes as f64 / s.series as f64
        } else {
            0.0
        },
    );
    one(
        "hvscope_aggregator_tsdb_label_pairs",
        "gauge",
        "Distinct label pairs in the inverted index.",
        s.label_pairs as f64,
    );
    one(
        "hvscope_aggregator_tsdb_samples_appended_total",
        "counter",
        "Samples appended to the head.",
        s.appended_total as f64,
    );
    one(
        "hvscope_aggregator_tsdb_out_of_order_samples_total",
        "counter",
        "Samples dropped because their timestamp was not after the series' newest.",
        s.out_of_order_total as f64,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rejections_by_reason() {
        let m = Metrics::default();
        m.reject(RejectReason::UntrustedCertificate);
        m.reject(RejectReason::UntrustedCertificate);
        let db = DbStats {
            series: 2,
            samples: 10,
            chunk_bytes: 15,
            ..Default::default()
        };
        let t = m.render(3, 0, &db);
        assert!(t.contains("hvscope_aggregator_tsdb_bytes_per_sample 1.5"));
        assert!(t.contains(
            "hvscope_aggregator_rejected_connections_total{reason=\"untrusted_certificate\"} 2"
        ));
        assert!(t.contains("hvscope_aggregator_nodes 3"));
        assert!(!t.contains("tls_cert_expiry"));
    }
}
