//! Equivalence with Prometheus itself: the same samples (counters with a reset, gauges, NaN
//! values, a series interrupted by a staleness marker; two nodes, one hour at 10 s, backdated)
//! go to a real Prometheus 2.42 through its remote-write receiver and to the aggregator over a
//! real agent stream. A second Prometheus reads the aggregator through `remote_read`. The same
//! PromQL (instant and range queries, raw range selectors, `rate`, `irate`, `increase`,
//! `resets`, `sum by`, `count`, `*_over_time`, `topk`, `absent`, regex matchers) and
//! `/api/v1/series` must answer identically from both.

use std::time::Duration;

use hvscope_e2e::Cluster;
use hvscope_e2e::feed::{Rng, STALE_NAN, Series, remote_write, stream_to_aggregator};
use hvscope_testkit::prom::{Prometheus, urlencode};
use hvscope_testkit::wait_for;
use serde_json::Value;

const STEP_MS: i64 = 10_000;
const SAMPLES: i64 = 360; // one hour

/// The test data: ends a minute before `now_ms`, aligned to 10 s.
fn dataset(now_ms: i64) -> Vec<Series> {
    let end = now_ms - now_ms.rem_euclid(STEP_MS) - 60_000;
    let start = end - (SAMPLES - 1) * STEP_MS;
    let t = |i: i64| start + i * STEP_MS;
    let mut rng = Rng::new(7);
    let mut out = Vec::new();
    for node in ["node-a", "node-b"] {
        let base = [("node", node), ("rack", "r1")];
        for handler in ["api", "web"] {
            for code in ["200", "500"] {
                let mut s = Series::new(
                    "eq_requests_total",
                    &[base[0], base[1], ("handler", handler), ("code", code)],
                );
                let mut v = 1000.0 * rng.unit();
                for i in 0..SAMPLES {
                    v += (rng.unit() * 50.0).floor();
                    if node == "node-a" && handler == "api" && code == "500" && i == 240 {
                        v = 3.0; // counter reset (process restart)
                    }
                    s.samples.push((t(i), v));
                }
                out.push(s);
            }
        }
        for (k, sensor) in ["s0", "s1", "s2", "s3"].iter().enumerate() {
            let mut s = Series::new(
                "eq_temperature_celsius",
                &[base[0], base[1], ("sensor", sensor)],
            );
            for i in 0..SAMPLES {
                let v = 40.0 + 10.0 * ((i as f64) / 20.0 + k as f64).sin() + rng.unit() * 0.5;
                s.samples.push((t(i), v));
            }
            out.push(s);
        }
        let mut ratio = Series::new("eq_ratio", &base);
        let mut bytes = Series::new("eq_bytes", &base);
        let mut b = 1e12;
        for i in 0..SAMPLES {
            let r = if i % 17 == 5 { f64::NAN } else { rng.unit() };
            ratio.samples.push((t(i), r));
            b += (rng.unit() * 4096.0).floor() * 4096.0;
            bytes.samples.push((t(i), b));
        }
        out.push(ratio);
        out.push(bytes);
    }
    // Present for 20 minutes, then marked stale, absent, and back for the last 20 minutes.
    let mut flap = Series::new("eq_flap", &[("node", "node-a"), ("rack", "r1")]);
    for i in (0..120).chain(240..SAMPLES) {
        flap.samples.push((t(i), (i % 7) as f64));
    }
    flap.samples
        .insert(120, (t(120), f64::from_bits(STALE_NAN)));
    out.push(flap);
    out
}

fn at(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// `data` with its result list in a fixed order (by labels), for comparison.
fn normalized(mut data: Value) -> Value {
    if let Some(Value::Array(items)) = data.get_mut("result") {
        items.sort_by_key(|v| v["metric"].to_string());
    }
    if let Value::Array(items) = &mut data {
        items.sort_by_key(|v| v.to_string());
    }
    data
}

fn result_len(data: &Value) -> usize {
    match &data["result"] {
        Value::Array(a) => a.len(),
        Value::Null => 0,
        _ => 1, // scalar
    }
}

const INSTANT: &[&str] = &[
    "eq_requests_total",
    "rate(eq_requests_total[5m])",
    "irate(eq_requests_total{code=\"500\"}[1m])",
    "increase(eq_requests_total{code!=\"500\"}[15m])",
    "sum by (code) (rate(eq_requests_total[5m]))",
    "sum by (node, handler) (eq_requests_total)",
    "resets(eq_requests_total[1h])",
    "count({__name__=~\"eq_.+\"})",
    "count by (__name__) ({__name__=~\"eq_.+\", node=~\"node-(a|b)\"})",
    "eq_temperature_celsius{sensor=~\"s[12]\"}",
    "max_over_time(eq_temperature_celsius[10m])",
    "min_over_time(eq_temperature_celsius{sensor!~\"s0|s3\"}[30m])",
    "avg_over_time(eq_temperature_celsius[1h])",
    "quantile_over_time(0.9, eq_temperature_celsius[20m])",
    "topk(3, eq_temperature_celsius)",
    "avg by (node) (eq_temperature_celsius)",
    "stddev_over_time(eq_bytes[30m])",
    "deriv(eq_bytes[10m])",
    "eq_ratio",
    "count_over_time(eq_ratio[10m])",
    "sum_over_time(eq_ratio[10m])",
    "eq_flap",
    "count_over_time(eq_flap[30m])",
    "last_over_time(eq_flap[30m])",
    "absent(eq_flap{node=\"node-b\"})",
    "{__name__=~\"eq_.+\"}[61m]", // every sample of every series, NaN included
    "eq_requests_total[2m]",
    "eq_ratio[5m]",
    "eq_flap[1h]",
];

const RANGE: &[&str] = &[
    "rate(eq_requests_total[5m])",
    "sum by (code) (increase(eq_requests_total[10m]))",
    "max_over_time(eq_temperature_celsius[5m])",
    "eq_ratio",
    "eq_flap",
];

#[test]
fn prometheus_and_the_aggregator_answer_promql_identically() {
    let mut c = Cluster::new("equivalence");
    c.start_aggregator();
    let Some(direct) = Prometheus::start_with_flags(
        "eq-direct",
        "global: {evaluation_interval: 1h}\n",
        &["--web.enable-remote-write-receiver"],
    ) else {
        return;
    };
    let via = format!(
        "global: {{evaluation_interval: 1h}}\nremote_read:\n  - url: http://{}/api/v1/read\n    \
         read_recent: true\n    remote_timeout: 30s\n",
        c.http
    );
    let Some(remote) = Prometheus::start("eq-remote", &via) else {
        return;
    };

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let data = dataset(now);
    let samples: usize = data.iter().map(|s| s.samples.len()).sum();
    assert!(samples > 7000, "{samples}");
    remote_write(direct.addr, &data, 10 * 60_000);
    for node in ["node-a", "node-b"] {
        c.node_cert(node, 30);
        let mine: Vec<Series> = data
            .iter()
            .filter(|s| s.labels.iter().any(|l| l.0 == "node" && l.1 == node))
            .cloned()
            .collect();
        stream_to_aggregator(&c, node, &[("rack", "r1")], &mine, Duration::from_secs(60));
    }
    let start = data[0].samples[0].0;
    let end = data[0].samples.last().unwrap().0;
    // Both have every sample before querying.
    let q = urlencode("{__name__=~\"eq_.+\"}[2h]");
    let total = |p: &Prometheus| -> usize {
        p.api(&format!("query?query={q}&time={}", at(end)))["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["values"].as_array().unwrap().len())
            .sum()
    };
    // A range selector leaves the staleness marker out.
    let want = samples - 1;
    assert_eq!(total(&direct), want, "remote-write stored every sample");
    wait_for(Duration::from_secs(10), || {
        (total(&remote) == want).then_some(())
    })
    .unwrap_or_else(|| panic!("aggregator has {} of {want}", total(&remote)));

    let times = [
        start + 30 * 60_000, // inside eq_flap's gap
        start + 45 * 60_000 + 5_000,
        end,
        end + 120_000, // after the last sample, within the lookback
    ];
    let mut compared = 0;
    for query in INSTANT {
        let mut seen = 0;
        for &t in &times {
            let path = format!("query?query={}&time={}", urlencode(query), at(t));
            let a = normalized(direct.api(&path));
            let b = normalized(remote.api(&path));
            assert_eq!(a, b, "{query} at {t}: Prometheus vs aggregator differ");
            seen += result_len(&a);
            compared += 1;
        }
        assert!(seen > 0, "{query}: empty at every time, nothing compared");
    }
    for query in RANGE {
        let path = format!(
            "query_range?query={}&start={}&end={}&step=60",
            urlencode(query),
            at(start),
            at(end + 120_000)
        );
        let a = normalized(direct.api(&path));
        let b = normalized(remote.api(&path));
        assert!(result_len(&a) > 0, "{query}: empty range result");
        assert_eq!(a, b, "range {query}: Prometheus vs aggregator differ");
        compared += 1;
    }
    // A query Prometheus refuses (two series left with the same labels once the names are
    // dropped) is refused the same way over remote-read.
    let dup = format!(
        "/api/v1/query?query={}&time={}",
        urlencode("count_over_time({__name__=~\"eq_(ratio|bytes)\"}[10m])"),
        at(end)
    );
    let a = hvscope_testkit::http_get(direct.addr, &dup).unwrap();
    assert_eq!(a.0, 422, "{}", a.1);
    assert_eq!(a, hvscope_testkit::http_get(remote.addr, &dup).unwrap());
    let series = format!(
        "series?match[]={}&start={}&end={}",
        urlencode("{__name__=~\"eq_.+\"}"),
        at(start),
        at(end)
    );
    let a = normalized(direct.api(&series));
    assert_eq!(a.as_array().unwrap().len(), data.len());
    assert_eq!(a, normalized(remote.api(&series)));
    eprintln!(
        "equivalence: {} series, {samples} samples, {compared} PromQL answers identical",
        data.len()
    );
}
