//! The HTTP port's protections through the real binary: the bearer token (no token, wrong
//! token → 401; right token → 200; `/-/healthy` open; the token file re-read on change;
//! Prometheus 2.42 `remote_read` with `authorization: credentials_file` end to end), and the
//! concurrent-reads limit (with `max_concurrent_reads = 1`, a large streamed read in flight
//! makes a second read get 503 with `Retry-After`; once it is done, reads succeed again).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use hvscope_aggregator::remote_read::proto::{MatcherType, ReadRequest, ResponseType};
use hvscope_e2e::Cluster;
use hvscope_e2e::feed::{Rng, Series, stream_to_aggregator};
use hvscope_e2e::remote_read::{matcher, post_read, read_request, samples_response};
use hvscope_testkit::prom::{Prometheus, http_request, urlencode};
use hvscope_testkit::{http_get, wait_for};
use prost::Message;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn with_config(c: &Cluster, http_extra: &str, sections: &str) {
    let cfg = c.dir.join("aggregator.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let text = text.replace("[tls]", &format!("{http_extra}\n[tls]"));
    std::fs::write(&cfg, format!("{text}{sections}")).unwrap();
}

fn get(c: &Cluster, path: &str, auth: Option<&str>) -> u16 {
    let h = auth.map(|t| ("Authorization", t));
    let headers: Vec<(&str, &str)> = h.into_iter().collect();
    http_request(c.http, "GET", path, &headers, b"")
        .unwrap()
        .status
}

#[test]
fn bearer_token_guards_every_route_but_health() {
    let mut c = Cluster::new("auth");
    let token = c.dir.join("http-token");
    std::fs::write(&token, "s3cret-one\n").unwrap();
    with_config(
        &c,
        &format!("bearer_token_file = \"{}\"", token.display()),
        "",
    );
    c.start_aggregator();
    assert_eq!(http_get(c.http, "/-/healthy").unwrap().0, 200);
    for path in ["/api/v1/nodes", "/metrics"] {
        assert_eq!(get(&c, path, None), 401, "{path} without a token");
        assert_eq!(
            get(&c, path, Some("Bearer nope")),
            401,
            "{path} wrong token"
        );
        assert_eq!(
            get(&c, path, Some("Bearer s3cret-on")),
            401,
            "{path} prefix"
        );
        assert_eq!(
            get(&c, path, Some("Bearer s3cret-one")),
            200,
            "{path} right token"
        );
    }
    let body = snap::raw::Encoder::new()
        .compress_vec(
            &read_request(0, 1, vec![matcher(MatcherType::Eq, "a", "b")], &[]).encode_to_vec(),
        )
        .unwrap();
    let read = |auth: Option<&str>| {
        let mut h = vec![("Content-Encoding", "snappy")];
        if let Some(a) = auth {
            h.push(("Authorization", a));
        }
        http_request(c.http, "POST", "/api/v1/read", &h, &body).unwrap()
    };
    let r = read(None);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"hvscope\"")
    );
    assert_eq!(read(Some("Bearer wrong")).status, 401);
    assert_eq!(read(Some("Bearer s3cret-one")).status, 200);

    // Rotation: the new file is picked up without a restart; two lines = both accepted.
    std::fs::write(&token, "s3cret-two-longer\ns3cret-three\n").unwrap();
    assert_eq!(get(&c, "/api/v1/nodes", Some("Bearer s3cret-one")), 401);
    assert_eq!(
        get(&c, "/api/v1/nodes", Some("Bearer s3cret-two-longer")),
        200
    );
    assert_eq!(get(&c, "/api/v1/nodes", Some("bearer s3cret-three")), 200);
    let m = http_request(
        c.http,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer s3cret-three")],
        b"",
    )
    .unwrap();
    let text = String::from_utf8_lossy(&m.body).into_owned();
    let refused =
        hvscope_testkit::metric_value(&text, "hvscope_aggregator_http_unauthorized_total");
    assert_eq!(refused, Some(9.0), "the nine refusals above are counted");

    // Prometheus reads with the token from a credentials file; without it, it gets nothing.
    c.node_cert("node-a", 30);
    let t0 = now_ms() / 10_000 * 10_000 - 60_000;
    let mut s = Series::new("auth_probe", &[("node", "node-a")]);
    for i in 0..6 {
        s.samples.push((t0 + i * 10_000, i as f64 + 0.5));
    }
    stream_to_aggregator(&c, "node-a", &[], &[s], Duration::from_secs(30));
    let good = c.dir.join("prom-token");
    std::fs::write(&good, "s3cret-three\n").unwrap();
    let prom_cfg = |file: &std::path::Path| {
        format!(
            "remote_read:\n  - url: http://{}/api/v1/read\n    read_recent: true\n    \
             authorization:\n      type: Bearer\n      credentials_file: {}\n",
            c.http,
            file.display()
        )
    };
    let Some(p) = Prometheus::start("auth-ok", &prom_cfg(&good)) else {
        return;
    };
    let q = format!(
        "query?query={}&time={}",
        urlencode("auth_probe"),
        (t0 + 50_000) / 1000
    );
    let r = p.api(&q);
    assert_eq!(r["result"][0]["value"][1], "5.5", "{r}");
    let bad = c.dir.join("prom-bad-token");
    std::fs::write(&bad, "guess\n").unwrap();
    let Some(p) = Prometheus::start("auth-bad", &prom_cfg(&bad)) else {
        return;
    };
    let (status, body) = http_get(p.addr, &format!("/api/v1/{q}")).unwrap();
    assert!(
        status != 200 || !body.contains("5.5"),
        "a wrong token must not read: {status} {body}"
    );
    assert!(body.contains("401"), "{status} {body}");
}

#[test]
fn concurrent_read_limit_answers_503_while_a_read_is_in_flight() {
    let mut c = Cluster::new("read-limit");
    with_config(&c, "", "[remote_read]\nmax_concurrent_reads = 1\n");
    c.start_aggregator();
    c.node_cert("node-a", 30);
    // 200 series of random values (about 9 bytes a sample in XOR), one hour at 10 s.
    let end = now_ms() - 60_000;
    let mut rng = Rng::new(3);
    let series: Vec<Series> = (0..200)
        .map(|i| {
            let mut s = Series::new("big_gauge", &[("node", "node-a"), ("i", &i.to_string())]);
            for k in 0..360 {
                s.samples.push((end - (359 - k) * 10_000, rng.unit()));
            }
            s
        })
        .collect();
    stream_to_aggregator(&c, "node-a", &[], &series, Duration::from_secs(60));

    // 64 queries for everything, streamed: tens of MB the client does not read yet.
    let q = read_request(
        0,
        i64::MAX,
        vec![matcher(MatcherType::Eq, "__name__", "big_gauge")],
        &[ResponseType::StreamedXorChunks as i32],
    );
    let big = ReadRequest {
        queries: vec![q.queries[0].clone(); 64],
        accepted_response_types: q.accepted_response_types.clone(),
    };
    let body = snap::raw::Encoder::new()
        .compress_vec(&big.encode_to_vec())
        .unwrap();
    let mut slow = TcpStream::connect(c.http).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        slow,
        "POST /api/v1/read HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Encoding: snappy\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    slow.write_all(&body).unwrap();
    let mut head = [0u8; 256];
    let n = slow.read(&mut head).unwrap();
    assert!(
        String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head[..n])
    );

    let small = read_request(0, i64::MAX, vec![matcher(MatcherType::Eq, "i", "7")], &[]);
    let busy = post_read(c.http, &small);
    assert_eq!(busy.status, 503, "{}", String::from_utf8_lossy(&busy.body));
    assert_eq!(busy.header("retry-after"), Some("1"));
    let msg = String::from_utf8_lossy(&busy.body);
    assert!(
        msg.contains("too many concurrent remote reads (limit 1)"),
        "{msg}"
    );

    // Finish the first read: it was large, and every byte arrives.
    let mut rest = Vec::new();
    slow.read_to_end(&mut rest).unwrap();
    assert!(rest.len() > 8 << 20, "{} bytes", rest.len());
    let ok = wait_for(Duration::from_secs(10), || {
        let r = post_read(c.http, &small);
        (r.status == 200).then_some(r)
    })
    .expect("reads succeed again after the first one finished");
    let r = samples_response(&ok);
    assert_eq!(r.results[0].timeseries.len(), 1);
    assert_eq!(r.results[0].timeseries[0].samples.len(), 360);
}
