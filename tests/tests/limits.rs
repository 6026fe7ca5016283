//! Per-node limits against a real aggregator: one node with a label-churn bug defines 1 M
//! series (20,000 new ones per batch, as a broken agent would), through the agent's own
//! transport, while a well-behaved node streams beside it. The churning node's excess is
//! refused and counted by reason, the aggregator's memory stays bounded, and the other node
//! loses nothing.

use std::time::Duration;

use hvscope_agent::series::{Registry, SeriesBuf};
use hvscope_e2e::Cluster;
use hvscope_e2e::feed::{Series, stream_batches, stream_to_aggregator};
use hvscope_proto::v1::Batch;
use hvscope_testkit::metric_value;

const CHURN_BATCHES: usize = 50;
const NEW_PER_BATCH: usize = 20_000;

fn rss_bytes(pid: u32) -> u64 {
    hvscope_testkit::status_kib(&pid.to_string(), "VmRSS:") * 1024
}

/// Batches of a node whose agent makes up a new label value for every series each collection.
fn churn(registry: &mut Registry) -> Vec<Batch> {
    (0..CHURN_BATCHES)
        .map(|i| {
            let mut buf = SeriesBuf::default();
            for j in 0..NEW_PER_BATCH {
                let id = format!("req-{i}-{j}");
                buf.push(
                    "hvscope_churn_requests",
                    "a label-churn bug",
                    &[("request_id", id.as_str())],
                    1.0,
                );
            }
            let seq = i as u64 + 1;
            let mut samples = registry.assign(&buf, seq);
            let mut b = Batch {
                seq,
                timestamp_ms: 1_700_000_000_000 + i as i64 * 10_000,
                ..Default::default()
            };
            hvscope_proto::pack_samples(&mut b, &mut samples);
            b
        })
        .collect()
}

#[test]
fn one_node_defining_a_million_series_is_bounded_and_others_lose_nothing() {
    let mut c = Cluster::new("limits");
    c.start_aggregator();
    let pid = c.aggregator.as_ref().unwrap().child.id();
    let rss_before = rss_bytes(pid);
    c.node_cert("churner", 30);
    c.node_cert("good", 30);

    let mut registry = Registry::default();
    let batches = churn(&mut registry);
    let good: Vec<Series> = (0..20)
        .map(|k| {
            let mut s = Series::new("hvscope_good_value", &[("k", &k.to_string())]);
            s.samples = (0..CHURN_BATCHES as i64)
                .map(|i| (1_700_000_000_000 + i * 10_000, (k as f64) + i as f64))
                .collect();
            s
        })
        .collect();
    std::thread::scope(|sc| {
        sc.spawn(|| {
            stream_batches(
                &c,
                "churner",
                &[("rack", "r1")],
                batches,
                registry,
                Duration::from_secs(300),
            )
        });
        sc.spawn(|| {
            stream_to_aggregator(
                &c,
                "good",
                &[("rack", "r1")],
                &good,
                Duration::from_secs(300),
            )
        });
    });

    let m = c.metrics();
    let refused = metric_value(
        &m,
        "hvscope_aggregator_limited_series_total{reason=\"series_per_node\"}",
    )
    .unwrap_or_else(|| panic!("{m}"));
    let held = 50_000.0;
    let sent = (CHURN_BATCHES * NEW_PER_BATCH) as f64;
    assert_eq!(
        refused,
        sent - held,
        "everything beyond the default 50,000 refused"
    );
    let dropped = metric_value(
        &m,
        "hvscope_aggregator_limited_samples_total{reason=\"refused_series\"}",
    )
    .unwrap();
    assert_eq!(
        dropped,
        sent - held,
        "their samples dropped, no resend loop"
    );
    let stored = metric_value(&m, "hvscope_aggregator_tsdb_series").unwrap();
    assert!(
        (held..held + 1_000.0).contains(&stored),
        "the TSDB holds the 50,000 accepted series and the good node's: {stored}"
    );
    let good_node = c.node("good", false).unwrap();
    assert_eq!(
        good_node["samples"].as_u64(),
        Some(20 * CHURN_BATCHES as u64),
        "the well-behaved node lost nothing: {good_node}"
    );
    let log = c.aggregator_log();
    assert_eq!(
        log.matches("per-node limits refused part of a batch")
            .count(),
        1,
        "logged once per node and reason"
    );
    let rss = rss_bytes(pid);
    println!(
        "aggregator RSS {:.0} MiB before, {:.0} MiB after 1,000,000 series defined by one node \
         (50,000 held)",
        rss_before as f64 / (1 << 20) as f64,
        rss as f64 / (1 << 20) as f64
    );
    // 1 M series held would take well over 1 GiB here.
    assert!(rss < 512 << 20, "aggregator RSS {rss} bytes");
}
