//! Agent → aggregator over loopback through the real binaries: mTLS, identity from the
//! certificate, refusal of bad clients, no loss across an aggregator restart, certificate
//! rotation without restarts.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use hvscope_e2e::Cluster;
use hvscope_testkit::{metric_value, wait_for};

const T: Duration = Duration::from_secs(20);

fn rejected(c: &Cluster, reason: &str) -> f64 {
    metric_value(
        &c.metrics(),
        &format!("hvscope_aggregator_rejected_connections_total{{reason=\"{reason}\"}}"),
    )
    .unwrap_or(-1.0)
}

#[test]
fn node_name_comes_from_the_certificate_not_the_hello() {
    let mut c = Cluster::new("identity");
    c.start_aggregator();
    c.node_cert("node-a", 30);
    // The agent claims to be node-b, in its hello and in a static label.
    let cfg = c.agent_config(
        "agent.toml",
        "node-a",
        "node_name = \"node-b\"",
        "[labels]\nrack = \"r1\"\nnode = \"node-b\"",
    );
    let agent = c.start_agent(&cfg, "agent.log");
    let n = wait_for(T, || {
        c.node("node-a", true)
            .filter(|n| n["series"].as_u64() > Some(10))
    })
    .unwrap_or_else(|| {
        panic!(
            "node-a never showed up\n{}\n{}",
            c.aggregator_log(),
            agent.log()
        )
    });
    assert_eq!(n["connected"], true);
    assert_eq!(n["claimed_node"], "node-b");
    assert_eq!(n["labels"]["rack"], "r1");
    assert!(n["labels"].get("node").is_none());
    let series = n["series_values"].as_array().unwrap();
    assert!(series.iter().all(|s| s["labels"]["node"] == "node-a"));
    assert!(series.iter().all(|s| s["labels"]["rack"] == "r1"));
    let mem = series
        .iter()
        .find(|s| s["labels"]["__name__"] == "hvscope_host_memory_total_bytes")
        .expect("real /proc series arrive");
    assert!(mem["value"].as_f64().unwrap() > 1e8);
    assert!(
        c.node("node-b", false).is_none(),
        "nothing is stored under the claimed name"
    );
    let m = c.metrics();
    assert_eq!(
        metric_value(&m, "hvscope_aggregator_connected_agents"),
        Some(1.0)
    );
    assert!(metric_value(&m, "hvscope_aggregator_samples_received_total").unwrap() > 10.0);
}

/// A rustls client that presents `identity` (or nothing) to the aggregator; returns whether the
/// server accepted it far enough to answer an HTTP/2 preface.
fn raw_tls_client(c: &Cluster, identity: Option<&str>) {
    let certs = c.certs();
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(certs.join("ca.pem")).unwrap();
    use rustls_pki_types::pem::PemObject;
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let mut cfg = match identity {
        None => builder.with_no_client_auth(),
        Some(dir_name) => {
            let (dir, name) = dir_name.split_once('|').unwrap();
            let chain = std::fs::read(format!("{dir}/{name}.pem")).unwrap();
            let key = std::fs::read(format!("{dir}/{name}-key.pem")).unwrap();
            let chain = rustls_pki_types::CertificateDer::pem_slice_iter(&chain)
                .map(Result::unwrap)
                .collect();
            let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(&key).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let conn =
        rustls::ClientConnection::new(Arc::new(cfg), "localhost".try_into().unwrap()).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", c.grpc_port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    // With TLS 1.3 the server judges the client certificate after the client's Finished:
    // write, then read until the server's verdict (an alert or EOF) arrives.
    let _ = tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    let mut buf = [0u8; 256];
    let _ = std::io::Read::read(&mut tls, &mut buf);
}

#[test]
fn clients_without_a_valid_certificate_are_refused_and_counted() {
    let mut c = Cluster::new("refuse");
    c.start_aggregator();

    raw_tls_client(&c, None);
    assert!(
        wait_for(T, || (rejected(&c, "no_client_certificate") >= 1.0)
            .then_some(()))
        .is_some(),
        "{}",
        c.metrics()
    );

    // A certificate from another CA.
    let other = Cluster::new("other-ca");
    other.node_cert("intruder", 30);
    raw_tls_client(&c, Some(&format!("{}|intruder", other.certs().display())));
    assert!(
        wait_for(T, || (rejected(&c, "untrusted_certificate") >= 1.0)
            .then_some(()))
        .is_some(),
        "{}",
        c.metrics()
    );

    // The real agent with that certificate is refused too, and never becomes a node.
    std::fs::copy(
        other.certs().join("intruder.pem"),
        c.certs().join("intruder.pem"),
    )
    .unwrap();
    std::fs::copy(
        other.certs().join("intruder-key.pem"),
        c.certs().join("intruder-key.pem"),
    )
    .unwrap();
    let cfg = c.agent_config("intruder.toml", "intruder", "", "");
    let agent = c.start_agent(&cfg, "intruder.log");
    assert!(
        wait_for(T, || (rejected(&c, "untrusted_certificate") >= 2.0)
            .then_some(()))
        .is_some(),
        "{}",
        c.metrics()
    );
    assert!(c.node("intruder", false).is_none());
    drop(agent);

    // Garbage on the gRPC port: refused, counted, and the aggregator keeps serving.
    let mut s = TcpStream::connect(("127.0.0.1", c.grpc_port)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01\x02garbage")
        .unwrap();
    let mut buf = [0u8; 64];
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = std::io::Read::read(&mut s, &mut buf);
    assert!(
        wait_for(T, || (rejected(&c, "handshake") >= 1.0).then_some(())).is_some(),
        "{}",
        c.metrics()
    );
    c.node_cert("node-ok", 30);
    let cfg = c.agent_config("ok.toml", "node-ok", "", "");
    let agent = c.start_agent(&cfg, "ok.log");
    assert!(
        wait_for(T, || c
            .node("node-ok", false)
            .filter(|n| n["connected"] == true))
        .is_some(),
        "{}",
        agent.log()
    );
    assert!(c.aggregator.as_mut().unwrap().alive());
}

/// (seq acked by the aggregator as the agent saw it) lines of the agent log, and the line
/// index of each "stream established".
fn acks_before_second_stream(log: &str) -> Option<u64> {
    let mut established = 0;
    let mut last_ack = None;
    for line in log.lines() {
        if line.contains("stream established") {
            established += 1;
            if established == 2 {
                return last_ack;
            }
        } else if line.contains(" acked ") && established == 1 {
            last_ack = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("seq="))
                .and_then(|v| v.parse().ok());
        }
    }
    None
}

#[test]
fn aggregator_restart_loses_nothing() {
    let mut c = Cluster::new("restart");
    c.start_aggregator();
    c.node_cert("node-r", 30);
    let cfg = c.agent_config("agent.toml", "node-r", "", "");
    let agent = c.start_agent(&cfg, "agent.log");
    wait_for(T, || {
        c.node("node-r", false)
            .filter(|n| n["last_seq"].as_u64() >= Some(3))
    })
    .unwrap_or_else(|| panic!("no batches: {}", agent.log()));

    // kill -9 mid-stream, stay down long enough for batches to pile up in the agent's spool.
    c.aggregator.as_mut().unwrap().kill();
    std::thread::sleep(Duration::from_millis(3500));
    c.start_aggregator();
    let n = wait_for(T, || {
        c.node("node-r", false).filter(|n| {
            n["stream_first_seq"].as_u64().is_some() && n["batches"].as_u64() >= Some(5)
        })
    })
    .unwrap_or_else(|| {
        panic!(
            "agent did not come back: {}\n{}",
            agent.log(),
            c.aggregator_log()
        )
    });

    let last_acked = acks_before_second_stream(&agent.log()).unwrap_or_else(|| {
        panic!(
            "no ack before the restart in the agent log:\n{}",
            agent.log()
        )
    });
    let first = n["stream_first_seq"].as_u64().unwrap();
    assert_eq!(
        first,
        last_acked + 1,
        "the restarted aggregator's first batch must follow the last acked one"
    );
    // Everything from there on arrived, without gaps.
    let last = n["last_seq"].as_u64().unwrap();
    assert_eq!(n["batches"].as_u64().unwrap(), last - first + 1, "{n}");
    assert!(last - first >= 4, "the spooled batches were re-sent: {n}");
    assert_eq!(
        metric_value(&c.metrics(), "hvscope_aggregator_sequence_gaps_total"),
        Some(0.0)
    );
}

fn series_value(c: &Cluster, node: &str, name: &str) -> Option<f64> {
    let n = c.node(node, true)?;
    n["series_values"]
        .as_array()?
        .iter()
        .find(|s| s["labels"]["__name__"] == name)?["value"]
        .as_f64()
}

#[test]
fn renewed_certificates_are_used_without_restarts() {
    let mut c = Cluster::new("rotate");
    c.start_aggregator();
    c.node_cert("node-t", 10);
    let cfg = c.agent_config("agent.toml", "node-t", "", "");
    let mut agent = c.start_agent(&cfg, "agent.log");
    let name = "hvscope_agent_tls_cert_expiry_timestamp_seconds";
    let first = wait_for(T, || series_value(&c, "node-t", name))
        .unwrap_or_else(|| panic!("no expiry series: {}", agent.log()));
    let server_first = metric_value(
        &c.metrics(),
        "hvscope_aggregator_tls_cert_expiry_timestamp_seconds",
    )
    .unwrap();

    // The provisioning system renews both certificates in place.
    c.node_cert("node-t", 40);
    let certs = c.certs();
    hvscope_testkit::run_ok(
        &hvscope_testkit::bin("hvscope-aggregator"),
        &[
            "certs",
            "server",
            "--ca-dir",
            hvscope_testkit::path_str(&certs),
            "--out",
            hvscope_testkit::path_str(&certs),
            "--days",
            "1000",
        ],
    );
    let renewed = wait_for(T, || {
        series_value(&c, "node-t", name).filter(|v| *v > first + 86400.0 * 20.0)
    });
    assert!(
        renewed.is_some(),
        "agent kept its old certificate: {}",
        agent.log()
    );
    let server_now = wait_for(T, || {
        metric_value(
            &c.metrics(),
            "hvscope_aggregator_tls_cert_expiry_timestamp_seconds",
        )
        .filter(|v| *v > server_first + 86400.0 * 50.0)
    });
    assert!(
        server_now.is_some(),
        "aggregator kept its old certificate: {}",
        c.metrics()
    );
    assert!(
        agent.alive() && c.aggregator.as_mut().unwrap().alive(),
        "no restarts"
    );
    assert!(agent.log().contains("tls files changed, reconnecting"));
}
