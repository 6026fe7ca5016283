//! What the remote-write tests need around real receivers: the aggregator's `[storage]` and
//! `[[remote_write]]` lines, every raw sample of a selection read back (remote-read from the
//! aggregator or a Prometheus, `/api/v1/export` from VictoriaMetrics), PromQL answers, and the
//! remote-write self-metrics.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use hvscope_aggregator::remote_read::proto::{LabelMatcher, MatcherType};
use hvscope_testkit::prom::urlencode;
use hvscope_testkit::{get_json, http_get, metric_value, wait_for};

use crate::Cluster;
use crate::remote_read::{matcher, post_read, read_request, samples_response};

/// Samples by series: labels (sorted) → (timestamp ms, value bits), in time order.
pub type Raw = BTreeMap<Vec<(String, String)>, Vec<(i64, u64)>>;

/// The series the aggregator derives every liveness tick and does not remote-write.
pub const LIVENESS: &str =
    "hvscope_node_up|hvscope_node_last_report_timestamp_seconds|hvscope_rack_down";

/// Appends `[storage]` (WAL, short staleness) and `extra` (e.g. `[[remote_write]]` tables) to
/// the cluster's aggregator config.
pub fn configure(c: &Cluster, extra: &str) {
    let cfg = c.dir.join("aggregator.toml");
    let mut t = std::fs::read_to_string(&cfg).expect("config");
    t.push_str(&format!(
        "[storage]\nwal_dir = \"{}\"\nnode_stale_after_secs = 3\nliveness_interval_secs = 1\n{extra}\n",
        c.dir.join("wal").display()
    ));
    std::fs::write(&cfg, t).expect("write config");
}

/// A `[[remote_write]]` table for `name` at `url`, sending quickly (200 ms deadline, 1 s
/// longest backoff), plus `extra` lines inside it.
pub fn target(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[[remote_write]]\nname = \"{name}\"\nurl = \"{url}\"\n{extra}\n\
         [remote_write.queue]\nbatch_send_deadline_ms = 200\nmin_backoff_ms = 50\nmax_backoff_ms = 1000\n"
    )
}

/// The matchers of node `node`'s remote-written series (liveness series left out).
pub fn node_series(node: &str) -> Vec<LabelMatcher> {
    vec![
        matcher(MatcherType::Eq, "node", node),
        matcher(MatcherType::Nre, "__name__", LIVENESS),
    ]
}

/// Every raw sample (stale markers included) of `m` through remote-read at `addr` (the
/// aggregator's or a Prometheus' `/api/v1/read`).
pub fn remote_read_raw(addr: SocketAddr, m: Vec<LabelMatcher>) -> Raw {
    let r = samples_response(&post_read(addr, &read_request(0, i64::MAX, m, &[])));
    let mut out = Raw::new();
    for ts in &r.results[0].timeseries {
        let l: Vec<(String, String)> = ts
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        let v = out.entry(l).or_default();
        v.extend(ts.samples.iter().map(|s| (s.timestamp, s.value.to_bits())));
    }
    out
}

/// Every raw sample of `selector` in VictoriaMetrics (`/api/v1/export`, JSON lines).
pub fn vm_export(addr: SocketAddr, selector: &str) -> Raw {
    let path = format!("/api/v1/export?match[]={}", urlencode(selector));
    let (status, body) = http_get(addr, &path).expect("vm export");
    assert_eq!(status, 200, "{body}");
    let mut out = Raw::new();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("export line");
        let mut l: Vec<(String, String)> = v["metric"]
            .as_object()
            .expect("metric")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        l.sort();
        let ts = v["timestamps"].as_array().expect("timestamps");
        let vals = v["values"].as_array().expect("values");
        let e = out.entry(l).or_default();
        for (t, x) in ts.iter().zip(vals) {
            let f = match x {
                serde_json::Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                // VictoriaMetrics exports Prometheus stale markers as null in JSON
                _ => f64::from_bits(crate::feed::STALE_NAN),
            };
            e.push((t.as_i64().expect("timestamp"), f.to_bits()));
        }
        e.sort_by_key(|s| s.0);
    }
    out
}

/// One PromQL result: labels, and its value or raw samples as (ms, text).
pub type Answer = (Vec<(String, String)>, Vec<(i64, String)>);

/// A PromQL instant query at `time_s` against a Prometheus-compatible API; each result's
/// labels and value (vectors), or raw samples (matrices), sorted.
pub fn query(addr: SocketAddr, q: &str, time_s: f64) -> Vec<Answer> {
    let path = format!("/api/v1/query?query={}&time={time_s:.3}", urlencode(q));
    let v = get_json(addr, &path).unwrap_or_else(|e| panic!("{addr} {q}: {e}"));
    assert_eq!(v["status"], "success", "{q}: {v}");
    let mut out: Vec<Answer> = v["data"]["result"]
        .as_array()
        .expect("result")
        .iter()
        .map(|r| {
            let mut l: Vec<(String, String)> = r["metric"]
                .as_object()
                .expect("metric")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            l.sort();
            let points: Vec<&serde_json::Value> = match r.get("values") {
                Some(vs) => vs.as_array().expect("values").iter().collect(),
                None => vec![&r["value"]],
            };
            let pts = points
                .iter()
                .map(|p| {
                    let t = (p[0].as_f64().expect("time") * 1000.0).round() as i64;
                    (t, p[1].as_str().unwrap_or_default().to_owned())
                })
                .collect();
            (l, pts)
        })
        .collect();
    out.sort();
    out
}

/// The value of a remote-write self-metric of `target` (0 when absent).
pub fn rw_metric(c: &Cluster, name: &str, target: &str) -> f64 {
    metric_value(
        &c.metrics(),
        &format!("hvscope_aggregator_remote_write_{name}{{target=\"{target}\"}}"),
    )
    .unwrap_or(0.0)
}

/// Waits until `target` has nothing pending and has sent the newest sample it read.
pub fn wait_caught_up(c: &Cluster, target: &str, timeout: Duration) {
    wait_for(timeout, || {
        let m = c.metrics();
        let g = |n: &str| {
            metric_value(
                &m,
                &format!("hvscope_aggregator_remote_write_{n}{{target=\"{target}\"}}"),
            )
        };
        let (pending, read, sent) = (
            g("pending_samples")?,
            g("highest_read_timestamp_seconds")?,
            g("highest_sent_timestamp_seconds")?,
        );
        (pending == 0.0 && read > 0.0 && sent >= read).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "remote-write target {target} did not catch up:\n{}\n{}",
            c.metrics(),
            c.aggregator_log()
        )
    });
}

/// `hvscope_aggregator_remote_write_samples_dropped_total{reason}` summed over targets.
pub fn rw_metric_reason(c: &Cluster, reason: &str) -> f64 {
    c.metrics()
        .lines()
        .filter(|l| {
            l.starts_with("hvscope_aggregator_remote_write_samples_dropped_total{")
                && l.contains(&format!("reason=\"{reason}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// One request a [`Relay`] got: its headers (names lower-cased) and body.
#[derive(Debug, Clone)]
pub struct Got {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Got {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The request's samples, as [`Raw`].
    pub fn samples(&self) -> Raw {
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&self.body)
            .expect("snappy");
        let req =
            <crate::feed::WriteRequest as prost::Message>::decode(raw.as_slice()).expect("proto");
        let mut out = Raw::new();
        for ts in req.timeseries {
            let l = ts.labels.into_iter().map(|l| (l.name, l.value)).collect();
            out.entry(l)
                .or_default()
                .extend(ts.samples.iter().map(|s| (s.timestamp, s.value.to_bits())));
        }
        out
    }
}

/// A remote-write endpoint in the test process, over TLS that requires a client certificate
/// of the test CA: it records every request, answers the ones numbered in `refuse` (from 1)
/// with 400 and a message, and relays the others to a real receiver, answering as it did.
pub struct Relay {
    pub addr: SocketAddr,
    pub got: std::sync::Arc<std::sync::Mutex<Vec<Got>>>,
}

/// One HTTP/1.1 request's headers (names lower-cased) and body, `None` at the end.
fn read_http_request(s: &mut impl std::io::Read) -> Option<Got> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let headers: Vec<(String, String)> = head
        .split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    Some(Got { headers, body })
}

impl Relay {
    /// Serves with the cluster's server certificate, trusting its CA for clients; relays to
    /// `to`'s `/api/v1/write`.
    pub fn start(c: &Cluster, to: SocketAddr, refuse: Vec<usize>) -> Self {
        use std::io::Write;
        use std::sync::{Arc, Mutex};
        let certs = c.certs();
        let files = hvscope_common::tls::TlsFiles {
            ca: certs.join("ca.pem"),
            cert: certs.join("aggregator.pem"),
            key: certs.join("aggregator-key.pem"),
        };
        let (cfg, _) = files.server_config().expect("server tls");
        let mut cfg = (*cfg).clone();
        cfg.alpn_protocols.clear();
        let cfg = Arc::new(cfg);
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            for tcp in l.incoming().take(256) {
                let Ok(tcp) = tcp else { continue };
                let (cfg, g, refuse) = (cfg.clone(), g.clone(), refuse.clone());
                std::thread::spawn(move || {
                    let Ok(conn) = rustls::ServerConnection::new(cfg) else {
                        return;
                    };
                    let mut s = rustls::StreamOwned::new(conn, tcp);
                    while let Some(Got { headers, body }) = read_http_request(&mut s) {
                        let n = {
                            let mut g = g.lock().unwrap_or_else(|p| p.into_inner());
                            g.push(Got {
                                headers: headers.clone(),
                                body: body.clone(),
                            });
                            g.len()
                        };
                        let (status, text) = if refuse.contains(&n) {
                            (400, format!("test refusal of request {n}"))
                        } else {
                            let fwd: Vec<(&str, &str)> = headers
                                .iter()
                                .filter(|(k, _)| {
                                    k.starts_with("content-") && k != "content-length"
                                        || k.starts_with("x-prometheus")
                                })
                                .map(|(k, v)| (k.as_str(), v.as_str()))
                                .collect();
                            match hvscope_testkit::prom::http_post(to, "/api/v1/write", &fwd, &body)
                            {
                                Ok(r) => (r.status, String::from_utf8_lossy(&r.body).into_owned()),
                                Err(e) => (503, e),
                            }
                        };
                        let reply = format!(
                            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{text}",
                            text.len()
                        );
                        if s.write_all(reply.as_bytes()).is_err() || s.flush().is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { addr, got }
    }
}
