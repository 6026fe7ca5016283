//! Hostile remote-read requests against the real aggregator binary: corrupt snappy, wrong
//! protobuf, huge declared lengths, oversized bodies, 10k matchers, pathological regexes,
//! unsupported response types, the per-response sample limit. Each gets a clear 4xx quickly;
//! the process stays up with bounded memory.

use std::time::{Duration, Instant};

use hvscope_aggregator::remote_read::proto::{MatcherType, ResponseType};
use hvscope_e2e::Cluster;
use hvscope_e2e::remote_read::{matcher, post_read, read_request};
use hvscope_testkit::prom::{HttpReply, http_post};
use hvscope_testkit::{http_get, metric_value, wait_for};

fn raw_post(c: &Cluster, body: &[u8]) -> HttpReply {
    http_post(
        c.http,
        "/api/v1/read",
        &[("Content-Encoding", "snappy")],
        body,
    )
    .expect("POST")
}

fn text(r: &HttpReply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn hostile_remote_reads_get_clear_errors() {
    let mut c = Cluster::new("rr-bad");
    let cfg = c.dir.join("aggregator.toml");
    let mut t = std::fs::read_to_string(&cfg).unwrap();
    t.push_str(
        "[remote_read]\nmax_body_bytes = 1048576\nmax_decoded_bytes = 1048576\n\
         max_samples_per_response = 5\n",
    );
    std::fs::write(&cfg, t).unwrap();
    c.start_aggregator();
    c.node_cert("node-a", 30);
    let agent_cfg = c.agent_config("agent.toml", "node-a", "", "");
    let _agent = c.start_agent(&agent_cfg, "agent.log");
    wait_for(Duration::from_secs(20), || {
        c.node("node-a", false)
            .filter(|n| n["batches"].as_u64() >= Some(2))
    })
    .expect("agent data");
    let start = Instant::now();

    let r = raw_post(&c, b"\x05\x00this is not snappy at all");
    assert_eq!(r.status, 400, "{}", text(&r));
    assert!(text(&r).contains("snappy"), "{}", text(&r));

    let junk = snap::raw::Encoder::new()
        .compress_vec(b"\x0a\xff\xff\xff\xff\x0f\x01")
        .unwrap();
    let r = raw_post(&c, &junk);
    assert_eq!(r.status, 400, "{}", text(&r));
    assert!(text(&r).contains("prometheus.ReadRequest"), "{}", text(&r));

    // A snappy header declaring 4 GiB: refused before allocating.
    let r = raw_post(&c, b"\xff\xff\xff\xff\x0f\x00\x00");
    assert_eq!(r.status, 413, "{}", text(&r));
    assert!(text(&r).contains("limit"), "{}", text(&r));

    // A body over max_body_bytes (refused by the body limit before the handler runs).
    let r = raw_post(&c, &vec![0u8; 2 << 20]);
    assert_eq!(r.status, 413, "{}", text(&r));
    assert!(text(&r).contains("length limit exceeded"), "{}", text(&r));

    let eq = matcher(MatcherType::Eq, "node", "node-a");
    let many = read_request(0, i64::MAX, vec![eq.clone(); 10_000], &[]);
    let r = post_read(c.http, &many);
    assert_eq!(r.status, 400, "{}", text(&r));
    assert!(text(&r).contains("10000 matchers"), "{}", text(&r));

    // Pathological for a backtracking engine: linear here, answered in time.
    let evil = matcher(
        MatcherType::Re,
        "__name__",
        "(h+|v+|s+|c+|o+|p+|e+|_+|.)+$x",
    );
    let t0 = Instant::now();
    let r = post_read(
        c.http,
        &read_request(0, i64::MAX, vec![evil, eq.clone()], &[1]),
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    let huge = matcher(MatcherType::Re, "__name__", "((a{100}){100}){100}");
    let r = post_read(c.http, &read_request(0, i64::MAX, vec![huge], &[]));
    assert_eq!(r.status, 400, "{}", text(&r));
    assert!(text(&r).contains("bad regex"), "{}", text(&r));

    let r = post_read(
        c.http,
        &read_request(0, i64::MAX, vec![eq.clone()], &[7, 9]),
    );
    assert_eq!(r.status, 406, "{}", text(&r));

    // The sample limit applies to SAMPLES; streamed chunks are not limited by it.
    let r = post_read(c.http, &read_request(0, i64::MAX, vec![eq.clone()], &[]));
    assert_eq!(r.status, 422, "{}", text(&r));
    assert!(text(&r).contains("5 samples"), "{}", text(&r));
    let streamed = ResponseType::StreamedXorChunks as i32;
    let r = post_read(c.http, &read_request(0, i64::MAX, vec![eq], &[streamed]));
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(!r.body.is_empty());

    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(http_get(c.http, "/-/healthy").unwrap().0, 200);
    let m = c.metrics();
    assert!(metric_value(&m, "hvscope_aggregator_remote_read_errors_total").unwrap() >= 7.0);
    let pid = c.aggregator.as_ref().unwrap().child.id();
    let rss = rss_kib(pid);
    assert!(rss > 0 && rss < 200 * 1024, "aggregator RSS {rss} KiB");
}
