//! Findings as series, and staleness, through a real Prometheus reading the aggregator over
//! remote-read: an agent reads a copy of the pinning-drift capture; its drift is an
//! `hvscope_finding` series naming the domain and vCPU; when the thread is put back where the
//! XML pins it, the series is gone from an instant query within about one interval (the
//! aggregator's stale marker), not after Prometheus' 5-minute lookback.

use std::time::{Duration, Instant};

use hvscope_e2e::Cluster;
use hvscope_testkit::prom::{Prometheus, urlencode};
use hvscope_testkit::{copy_dir, repo, wait_for};

/// The agent's collection interval in this test.
const INTERVAL_SECS: u64 = 1;
/// vCPU 0 of web-a (instance-0000002a): the drifted thread of the capture.
const DRIFTED: &str = "proc/25453/task/25461/status";

fn instant(p: &Prometheus, q: &str) -> Vec<serde_json::Value> {
    p.api(&format!("query?query={}", urlencode(q)))["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_cleared_finding_leaves_promql_within_one_interval() {
    let root = copy_dir(
        &repo().join("agent/tests/fixtures/libvirt-kvm-2vm-drift"),
        "stale-root",
    );
    let mut c = Cluster::new("stale");
    c.start_aggregator();
    c.node_cert("drift-node", 30);
    let cfg = c.agent_config(
        "agent.toml",
        "drift-node",
        &format!(
            "interval_secs = {INTERVAL_SECS}\nhost_root = \"{}\"",
            root.display()
        ),
        "[labels]\nrack = \"r1\"\n",
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replacen("interval_secs = 1\n", "", 1)).unwrap();
    let _agent = c.start_agent(&cfg, "agent.log");
    let Some(prom) = Prometheus::start(
        "stale-prom",
        &format!(
            "global: {{evaluation_interval: 1h}}\nremote_read:\n  - url: http://{}/api/v1/read\n    \
             read_recent: true\n",
            c.http
        ),
    ) else {
        return;
    };

    let q = "hvscope_finding{check=\"pinning.affinity_drift\"}";
    let found = wait_for(Duration::from_secs(30), || {
        let r = instant(&prom, q);
        (!r.is_empty()).then_some(r)
    })
    .unwrap_or_else(|| panic!("no drift series; aggregator log:\n{}", c.aggregator_log()));
    assert_eq!(found.len(), 1, "{found:?}");
    let m = &found[0]["metric"];
    assert_eq!(m["node"], "drift-node", "{m}");
    assert_eq!(m["rack"], "r1", "{m}");
    assert_eq!(m["severity"], "critical", "{m}");
    assert_eq!(
        m["domain_uuid"], "3b9f6d2e-8c41-4a7f-9e15-2d6c0a4b7f11",
        "{m}"
    );
    assert_eq!(m["domain_name"], "instance-0000002a", "{m}");
    assert_eq!(m["vcpu"], "0", "{m}");
    assert_eq!(found[0]["value"][1], "1");
    // The message stays in the JSON view, with when the finding opened.
    let node = c.node("drift-node", false).expect("node in the view");
    let f = node["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "pinning.affinity_drift")
        .cloned()
        .expect("drift in the view");
    assert!(f["message"].as_str().unwrap().contains("vCPU 0"), "{f}");
    assert!(f["since_ms"].as_i64().unwrap() > 0, "{f}");

    // Put the thread back where the XML pins it (cpu 0); the file is rewritten in place.
    let status = root.join(DRIFTED);
    let text = std::fs::read_to_string(&status).unwrap();
    assert!(text.contains("Cpus_allowed_list:\t1\n"), "{text}");
    let fixed = text
        .replace("Cpus_allowed_list:\t1\n", "Cpus_allowed_list:\t0\n")
        .replace("Cpus_allowed:\t2\n", "Cpus_allowed:\t1\n");
    let cleared = Instant::now();
    std::fs::write(&status, fixed).unwrap();
    let gone = wait_for(Duration::from_secs(60), || {
        instant(&prom, q).is_empty().then(Instant::now)
    })
    .expect("the cleared finding's series stayed in PromQL");
    let took = gone - cleared;
    println!(
        "cleared finding absent from an instant query after {:.2} s (interval {INTERVAL_SECS} s)",
        took.as_secs_f64()
    );
    // The next collection ends it; without the stale marker it would stay for 5 minutes.
    assert!(
        took <= Duration::from_secs(INTERVAL_SECS + 2),
        "took {took:?}"
    );
    // Only the drift cleared: the node's other series are current.
    assert!(!instant(&prom, "hvscope_vm_info{node=\"drift-node\"}").is_empty());
    let m = c.metrics();
    assert!(
        hvscope_testkit::metric_value(&m, "hvscope_aggregator_stale_markers_total")
            .is_some_and(|v| v >= 1.0),
        "{m}"
    );
}
