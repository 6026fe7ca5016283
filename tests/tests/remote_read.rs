//! Agent → aggregator → Prometheus 2.42 with `remote_read` pointing at the aggregator
//! (`read_recent: true`, so every query goes remote): PromQL instant and range queries, `rate`,
//! `sum by`, regex matchers, `/api/v1/series` and `/api/v1/labels` answer what the agent sent.
//! The aggregator's own `/api/v1/read` is read directly too, in both response types.

use std::collections::BTreeMap;
use std::time::Duration;

use hvscope_aggregator::remote_read::proto::{MatcherType, ResponseType};
use hvscope_aggregator::tsdb::xor;
use hvscope_e2e::Cluster;
use hvscope_e2e::remote_read::{
    matcher, post_read, read_request, samples_response, streamed_response,
};
use hvscope_testkit::prom::{Prometheus, urlencode};
use hvscope_testkit::wait_for;

const T: Duration = Duration::from_secs(30);

/// Latest (ms, value) per series of `name` in the aggregator's node view, keyed by `mode`.
fn latest(c: &Cluster, name: &str) -> BTreeMap<String, (i64, f64)> {
    let n = c.node("node-a", true).expect("node-a");
    n["series_values"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["labels"]["__name__"] == name)
        .map(|s| {
            let mode = s["labels"]["mode"].as_str().unwrap_or("").to_owned();
            (
                mode,
                (
                    s["timestamp_ms"].as_i64().unwrap(),
                    s["value"].as_f64().unwrap(),
                ),
            )
        })
        .collect()
}

fn at(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_str().expect("value string").parse().expect("number")
}

/// Prometheus' `extrapolatedRate` for a counter over `range_s` ending at `end_ms`.
fn expected_rate(samples: &[(i64, f64)], end_ms: i64, range_s: f64) -> f64 {
    let (first, last) = (samples[0], samples[samples.len() - 1]);
    let mut result = 0.0;
    let mut prev = first.1;
    for &(_, v) in samples {
        if v < prev {
            result += prev;
        }
        prev = v;
    }
    result += last.1 - first.1;
    let start_ms = end_ms - (range_s * 1000.0) as i64;
    let mut to_start = (first.0 - start_ms) as f64 / 1000.0;
    let to_end = (end_ms - last.0) as f64 / 1000.0;
    let sampled = (last.0 - first.0) as f64 / 1000.0;
    let avg = sampled / (samples.len() - 1) as f64;
    if result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg / 2.0
    };
    result * (interval / sampled) / range_s
}

#[test]
fn prometheus_queries_the_aggregator_over_remote_read() {
    let mut c = Cluster::new("remote-read");
    let cfg = c.dir.join("aggregator.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("[storage]\nliveness_interval_secs = 1\n");
    std::fs::write(&cfg, text).unwrap();
    c.start_aggregator();
    let prom_cfg = format!(
        "global: {{evaluation_interval: 1m}}\nremote_read:\n  - url: http://{}/api/v1/read\n    \
         read_recent: true\n    remote_timeout: 10s\n",
        c.http
    );
    let Some(p) = Prometheus::start("remote-read", &prom_cfg) else {
        return;
    };
    c.node_cert("node-a", 30);
    let agent_cfg = c.agent_config("agent.toml", "node-a", "", "[labels]\nrack = \"r1\"");
    let agent = c.start_agent(&agent_cfg, "agent.log");
    wait_for(T, || {
        c.node("node-a", false)
            .filter(|n| n["batches"].as_u64() >= Some(6))
    })
    .unwrap_or_else(|| panic!("no batches\n{}\n{}", c.aggregator_log(), agent.log()));

    // Instant query at the newest batch's timestamp: exactly the value the agent sent.
    let mem = latest(&c, "hvscope_host_memory_total_bytes")[""];
    let q = urlencode("hvscope_host_memory_total_bytes{node=\"node-a\"}");
    let r = p.api(&format!("query?query={q}&time={}", at(mem.0)));
    assert_eq!(r["result"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["result"][0]["metric"]["rack"], "r1");
    assert_eq!(num(&r["result"][0]["value"][1]), mem.1);

    // Regex matchers and sum by, at one batch's time (every sample of a batch shares it).
    let cpu = latest(&c, "hvscope_host_cpu_seconds_total");
    let t = cpu.values().next().unwrap().0;
    let q = urlencode(
        "count({__name__=~\"hvscope_host_cpu_.+_total\", mode=~\"user|sys.*\", node!~\"x.*\"})",
    );
    let r = p.api(&format!("query?query={q}&time={}", at(t)));
    assert_eq!(num(&r["result"][0]["value"][1]), 2.0, "{r}");
    let q = urlencode("sum by (node) (hvscope_host_cpu_seconds_total)");
    let r = p.api(&format!("query?query={q}&time={}", at(t)));
    let want: f64 = cpu.values().map(|v| v.1).sum();
    let got = num(&r["result"][0]["value"][1]);
    assert!(
        (got - want).abs() <= want.abs() * 1e-12,
        "sum {got} vs {want}"
    );
    assert_eq!(r["result"][0]["metric"]["node"], "node-a");

    // rate() against the raw samples Prometheus gets for the same window.
    let q = urlencode("hvscope_host_context_switches_total[5s]");
    let raw = p.api(&format!("query?query={q}&time={}", at(t)));
    let samples: Vec<(i64, f64)> = raw["result"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| ((v[0].as_f64().unwrap() * 1000.0).round() as i64, num(&v[1])))
        .collect();
    assert!(samples.len() >= 3, "{raw}");
    assert_eq!(samples.last().unwrap().0, t);
    let q = urlencode("rate(hvscope_host_context_switches_total[5s])");
    let r = p.api(&format!("query?query={q}&time={}", at(t)));
    let got = num(&r["result"][0]["value"][1]);
    let want = expected_rate(&samples, t, 5.0);
    assert!(
        (got - want).abs() <= want.abs() * 1e-9,
        "rate {got} vs {want}"
    );

    // Range query: one point per step over the last seconds.
    let q = urlencode("rate(hvscope_host_cpu_seconds_total{mode=\"idle\"}[3s])");
    let r = p.api(&format!(
        "query_range?query={q}&start={}&end={}&step=1",
        at(t - 3000),
        at(t)
    ));
    let points = r["result"][0]["values"].as_array().unwrap();
    assert_eq!(points.len(), 4, "{r}");
    assert!(points.iter().all(|v| num(&v[1]) >= 0.0));

    // Series and labels through Prometheus (it sends extreme start/end for these).
    let live = wait_for(T, || {
        let m = urlencode("hvscope_node_up");
        let s = p.api(&format!("series?match[]={m}"));
        (s.as_array()?.len() == 1).then_some(s)
    })
    .expect("hvscope_node_up stored");
    assert_eq!(live[0]["node"], "node-a");
    assert_eq!(live[0]["rack"], "r1");
    // Label names and values: Prometheus 2.42's remote querier does not implement
    // LabelNames/LabelValues (prometheus#3351): /api/v1/labels answers success with the warning
    // "not implemented" and only local labels. Through /api/v1/series every label arrives.
    let (status, body) = hvscope_testkit::http_get(
        p.addr,
        &format!("/api/v1/labels?match[]={}", urlencode("{node=\"node-a\"}")),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let all = p.api(&format!(
        "series?match[]={}",
        urlencode("{node=\"node-a\"}")
    ));
    let all = all.as_array().unwrap();
    assert!(all.len() > 20, "{all:?}");
    let names: std::collections::BTreeSet<&str> = all
        .iter()
        .flat_map(|s| s.as_object().unwrap().keys().map(String::as_str))
        .collect();
    for l in ["__name__", "mode", "node", "rack"] {
        assert!(names.contains(l), "{l} in {names:?}");
    }
    assert!(
        all.iter()
            .all(|s| s["node"] == "node-a" && s["rack"] == "r1")
    );
    let up = p.api(&format!(
        "query?query={}",
        urlencode("hvscope_node_up{rack=\"r1\"}")
    ));
    assert_eq!(num(&up["result"][0]["value"][1]), 1.0);

    // The aggregator's own endpoint in both response types: the same samples.
    let m = vec![matcher(MatcherType::Re, "__name__", "hvscope_host_.*")];
    let s = samples_response(&post_read(c.http, &read_request(0, t, m.clone(), &[])));
    let streamed = post_read(
        c.http,
        &read_request(0, t, m, &[ResponseType::StreamedXorChunks as i32, 0]),
    );
    let mut from_chunks = 0usize;
    for f in streamed_response(&streamed) {
        for cs in f.chunked_series {
            for ch in cs.chunks {
                from_chunks += xor::decode(&ch.data)
                    .unwrap()
                    .iter()
                    .filter(|x| x.0 <= t)
                    .count();
            }
        }
    }
    let from_samples: usize = s.results[0]
        .timeseries
        .iter()
        .map(|x| x.samples.len())
        .sum();
    assert!(from_samples > 20);
    assert_eq!(from_chunks, from_samples);
    drop(agent);
}
