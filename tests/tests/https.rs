//! `[http.tls]`: the aggregator's HTTP port speaks HTTPS. A real Prometheus 2.42 reads it over
//! remote-read with `tls_config` trusting the test CA; with `client_ca` set it must present a
//! client certificate, and a client without one (or a plain-HTTP client) is refused.

use std::time::Duration;

use hvscope_e2e::Cluster;
use hvscope_e2e::https::https_get;
use hvscope_testkit::prom::{Prometheus, urlencode};
use hvscope_testkit::{http_get, metric_value, wait_for};

const T: Duration = Duration::from_secs(30);

/// An aggregator on HTTPS with one agent streaming this machine.
fn cluster(tag: &str, client_ca: bool) -> (Cluster, hvscope_testkit::Proc) {
    let mut c = Cluster::new(tag);
    c.enable_https(client_ca);
    c.config_sections("[storage]\nliveness_interval_secs = 1\n");
    c.start_aggregator();
    c.node_cert("node-a", 30);
    let cfg = c.agent_config("agent.toml", "node-a", "", "[labels]\nrack = \"r1\"");
    let agent = c.start_agent(&cfg, "agent.log");
    (c, agent)
}

/// Prometheus reading the aggregator over `https://localhost:<port>/api/v1/read` with
/// `tls_config` (`extra` lines: a client certificate).
fn prometheus(c: &Cluster, tag: &str, extra: &str) -> Option<Prometheus> {
    let yml = format!(
        "global: {{evaluation_interval: 1m}}\nremote_read:\n  - url: https://localhost:{port}/api/v1/read\n    \
         read_recent: true\n    remote_timeout: 10s\n    tls_config:\n      ca_file: {ca}\n{extra}",
        port = c.http.port(),
        ca = c.certs().join("ca.pem").display(),
    );
    Prometheus::start(tag, &yml)
}

/// The value Prometheus answers for the node's up series (remote data only: `read_recent`).
fn node_up(p: &Prometheus) -> Option<f64> {
    let q = urlencode("hvscope_node_up{node=\"node-a\",rack=\"r1\"}");
    let r = p.api(&format!("query?query={q}"));
    let v = r["result"].as_array()?.first()?["value"][1]
        .as_str()?
        .parse()
        .ok()?;
    Some(v)
}

#[test]
fn prometheus_reads_over_https_trusting_the_ca() {
    let (c, agent) = cluster("https-ca", false);
    let ca = c.certs().join("ca.pem");
    wait_for(T, || {
        https_get(c.http, "/api/v1/nodes", &ca, None, &[])
            .ok()
            .filter(|(s, b)| *s == 200 && b.contains("\"node\":\"node-a\""))
    })
    .unwrap_or_else(|| panic!("node-a over https\n{}\n{}", c.aggregator_log(), agent.log()));
    // The page is served over HTTPS too.
    let (status, body) = https_get(c.http, "/", &ca, None, &[]).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("<title>hvscope fleet</title>"), "{body}");
    // Plain HTTP on the HTTPS port gets no HTTP answer.
    assert!(
        http_get(c.http, "/-/healthy").is_err_and(|e| !e.is_empty())
            || http_get(c.http, "/-/healthy").is_ok_and(|(s, _)| s != 200)
    );
    let Some(p) = prometheus(&c, "https-ca-prom", "") else {
        return;
    };
    let up = wait_for(T, || node_up(&p).filter(|v| *v == 1.0));
    assert_eq!(
        up,
        Some(1.0),
        "prometheus over https\n{}\n{}",
        p.proc.log(),
        c.aggregator_log()
    );
}

#[test]
fn a_required_client_certificate_is_checked() {
    let (c, agent) = cluster("https-mtls", true);
    let ca = c.certs().join("ca.pem");
    let (cert, key) = c.test_client();
    wait_for(T, || {
        https_get(c.http, "/api/v1/nodes", &ca, Some((&cert, &key)), &[])
            .ok()
            .filter(|(s, b)| *s == 200 && b.contains("\"node\":\"node-a\""))
    })
    .unwrap_or_else(|| panic!("node-a over https\n{}\n{}", c.aggregator_log(), agent.log()));
    // Without a client certificate: refused (the handshake fails, no HTTP answer).
    let refused = https_get(c.http, "/api/v1/nodes", &ca, None, &[]);
    assert!(
        refused.is_err(),
        "answered without a client certificate: {refused:?}"
    );
    // A certificate from another CA: refused too.
    let other = Cluster::new("https-other-ca");
    other.node_cert("intruder", 30);
    let oc = other.certs();
    let refused = https_get(
        c.http,
        "/api/v1/nodes",
        &ca,
        Some((&oc.join("intruder.pem"), &oc.join("intruder-key.pem"))),
        &[],
    );
    assert!(
        refused.is_err(),
        "answered a foreign certificate: {refused:?}"
    );

    // Both refusals are counted by reason, and the certificate's expiry is exported.
    let counted = wait_for(T, || {
        let (_, m) = https_get(c.http, "/metrics", &ca, Some((&cert, &key)), &[]).ok()?;
        let n = |reason: &str| {
            metric_value(
                &m,
                &format!(
                    "hvscope_aggregator_https_rejected_connections_total{{reason=\"{reason}\"}}"
                ),
            )
        };
        (n("no_client_certificate")? >= 1.0 && n("untrusted_certificate")? >= 1.0).then_some(m)
    })
    .unwrap_or_else(|| panic!("refusals counted\n{}", c.aggregator_log()));
    assert!(
        metric_value(
            &counted,
            "hvscope_aggregator_http_tls_cert_expiry_timestamp_seconds"
        )
        .is_some_and(|t| t > 1.7e9),
        "{counted}"
    );

    // Prometheus without its certificate reads nothing; with it, the node's series.
    let Some(p) = prometheus(&c, "https-mtls-noclient", "") else {
        return;
    };
    let q = urlencode("hvscope_node_up{node=\"node-a\"}");
    let url = format!("/api/v1/query?query={q}");
    let (_, failed) = http_get(p.addr, &url).unwrap();
    assert!(
        failed.contains("\"result\":[]") && failed.contains("certificate required"),
        "prometheus without a client certificate: {failed}"
    );
    drop(p);
    c.node_cert("prometheus", 30);
    let certs = c.certs();
    let extra = format!(
        "      cert_file: {}\n      key_file: {}\n",
        certs.join("prometheus.pem").display(),
        certs.join("prometheus-key.pem").display()
    );
    let Some(p) = prometheus(&c, "https-mtls-prom", &extra) else {
        return;
    };
    let up = wait_for(T, || node_up(&p).filter(|v| *v == 1.0));
    assert_eq!(
        up,
        Some(1.0),
        "prometheus with a client certificate\n{}\n{}",
        p.proc.log(),
        c.aggregator_log()
    );
}
