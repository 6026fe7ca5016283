//! The fleet page in a real headless Chromium (Debian's `chromium`, driven by playwright-core
//! through `tests/browser/driver.mjs`), against the real aggregator binary and real agents
//! reading the repository's fixture host roots:
//! - the page lists every node, by rack;
//! - the node with a pinning drift shows `pinning.affinity_drift` with the domain name and vCPU,
//!   and its detail view lists its VMs by nova name;
//! - an agent killed turns its node silent on the page within the stale window, without a reload,
//!   and so does a hung one (SIGSTOP: stream open, nothing sent) once the window has passed;
//! - over HTTPS with a bearer token the page asks for the token once (login form, cookie).
//!
//! And at scale: 3,000 simulated nodes in an in-process node store (series and findings from the
//! agent's golden output), served by the aggregator's own router; the JSON sizes and the
//! browser's render time are printed and bounded. Screenshots go to `target/browser-artifacts/`
//! (paths printed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hvscope_aggregator::http::{HttpState, router};
use hvscope_aggregator::metrics::Metrics;
use hvscope_aggregator::nodes::NodeStore;
use hvscope_aggregator::page::Liveness;
use hvscope_e2e::Cluster;
use hvscope_e2e::https::https_get;
use hvscope_e2e::store_fleet::{RACK_SIZE, rack_sizes, simulate};
use hvscope_testkit::browser::{Browser, artifacts_dir};
use hvscope_testkit::{Proc, get_json, http_get, path_str, repo};

const T: Duration = Duration::from_secs(30);
/// `[storage] node_stale_after_secs` of these tests.
const STALE_SECS: u64 = 5;

fn fixture(name: &str) -> String {
    path_str(&repo().join("agent/tests/fixtures").join(name)).to_owned()
}

/// Starts an agent with `cert` reading the fixture host root `tree`, in `rack`.
fn agent(c: &Cluster, cert: &str, tree: &str, rack: &str) -> Proc {
    c.node_cert(cert, 30);
    let cfg = c.agent_config(
        &format!("{cert}.toml"),
        cert,
        &format!("host_root = \"{}\"", fixture(tree)),
        &format!("[labels]\nrack = \"{rack}\""),
    );
    c.start_agent(&cfg, &format!("{cert}.log"))
}

fn scenario(https: bool, token: Option<&str>) {
    let tag = if https { "page-https" } else { "page-http" };
    let mut c = Cluster::new(tag);
    if https {
        c.enable_https(false);
    }
    if let Some(t) = token {
        let file = c.dir.join("http-token");
        std::fs::write(&file, format!("{t}\n")).unwrap();
        c.http_keys(&format!("bearer_token_file = \"{}\"", path_str(&file)));
    }
    c.config_sections(&format!(
        "[storage]\nliveness_interval_secs = 1\nnode_stale_after_secs = {STALE_SECS}\n"
    ));
    c.start_aggregator();
    let _drift = agent(&c, "node-drift", "libvirt-kvm-2vm-drift", "r1");
    let mut base = agent(&c, "node-base", "libvirt-kvm-2vm", "r1");
    let iscsi = agent(&c, "node-iscsi", "iscsi-guest-failed", "r2");

    let Some(mut b) = Browser::launch(https) else {
        return;
    };
    let url = format!(
        "{}://localhost:{}/?refresh_ms=500",
        if https { "https" } else { "http" },
        c.http.port()
    );
    let status = b.goto(&url).unwrap();
    if let Some(t) = token {
        assert_eq!(status, 401, "the page without a token asks for one");
        b.wait("document.getElementById('login')", 5_000).unwrap();
        b.fill("#token", t).unwrap();
        b.click("button[type=submit]").unwrap();
    } else {
        assert_eq!(status, 200);
    }
    let names = b
        .wait(
            "(() => { const n = Array.from(document.querySelectorAll('.node[data-node]'), e => e.dataset.node).sort(); \
             return n.length >= 3 && n; })()",
            T.as_millis() as u64,
        )
        .unwrap_or_else(|e| panic!("nodes on the page: {e}\n{}", c.aggregator_log()));
    assert_eq!(
        names,
        serde_json::json!(["node-base", "node-drift", "node-iscsi"])
    );
    let racks = b
        .eval("Array.from(document.querySelectorAll('.rack[data-rack]'), e => e.dataset.rack)")
        .unwrap();
    assert_eq!(racks, serde_json::json!(["r1", "r2"]));

    // The drift: its finding names the domain and the vCPU.
    let row = b
        .wait(
            "(() => { const r = document.querySelector('tr.finding[data-check=\"pinning.affinity_drift\"][data-node=\"node-drift\"]'); \
             return r && r.textContent; })()",
            T.as_millis() as u64,
        )
        .unwrap();
    let row = row.as_str().unwrap();
    assert!(row.contains("domain_name=instance-0000002a"), "{row}");
    assert!(row.contains("vcpu=0"), "{row}");
    assert!(row.contains("critical"), "{row}");
    // node-base, same VMs without the drift, has no such finding.
    let base_drift = b
        .eval("document.querySelectorAll('tr.finding[data-check=\"pinning.affinity_drift\"][data-node=\"node-base\"]').length")
        .unwrap();
    assert_eq!(base_drift, 0);
    let session = b
        .wait(
            "(() => { const r = document.querySelector('tr.finding[data-check=\"iscsi.session_down\"][data-node=\"node-iscsi\"]'); \
             return r && r.textContent; })()",
            T.as_millis() as u64,
        )
        .unwrap();
    assert!(
        session.as_str().unwrap().contains("session=session2"),
        "{session}"
    );

    // The node detail: the drift node's VMs by nova name.
    b.click(".node[data-node=\"node-drift\"]").unwrap();
    let vms = b
        .wait(
            "(() => { const r = document.querySelectorAll('#detail tr[data-domain]'); \
             return r.length === 2 && Array.from(r, e => e.textContent); })()",
            T.as_millis() as u64,
        )
        .unwrap();
    let vms = vms.to_string();
    assert!(
        vms.contains("web-a") && vms.contains("instance-0000002a"),
        "{vms}"
    );
    assert!(
        vms.contains("db-b") && vms.contains("instance-0000002b"),
        "{vms}"
    );
    let shot = artifacts_dir().join(format!("fleet-page-{tag}.png"));
    b.screenshot(&shot).unwrap();
    println!("screenshot: {}", shot.display());

    // Kill an agent: its node turns silent on the page, without a reload.
    let renders_before = b.eval("window.hvscope.renders").unwrap().as_u64().unwrap();
    b.eval("window.__marker = 'still the same page'").unwrap();
    base.kill();
    let killed = Instant::now();
    b.wait(
        "document.querySelector('.node[data-node=\"node-base\"][data-state=\"silent\"]')",
        (STALE_SECS + 5) * 1000,
    )
    .unwrap_or_else(|e| panic!("node-base should turn silent: {e}"));
    let took = killed.elapsed();
    assert!(
        took <= Duration::from_secs(STALE_SECS + 2),
        "silent after {took:?}, stale window {STALE_SECS} s"
    );
    assert_eq!(
        b.eval("window.__marker").unwrap(),
        "still the same page",
        "no reload"
    );
    assert!(b.eval("window.hvscope.renders").unwrap().as_u64().unwrap() > renders_before);
    let others = b
        .eval("Array.from(document.querySelectorAll('.node[data-state=\"up\"]'), e => e.dataset.node).sort()")
        .unwrap();
    assert_eq!(others, serde_json::json!(["node-drift", "node-iscsi"]));
    let totals = b
        .wait(
            "(() => { const t = document.getElementById('totals').textContent; return t.includes('2/3') && t; })()",
            5_000,
        )
        .unwrap();
    let totals = totals.as_str().unwrap();
    assert!(totals.starts_with("2/3 nodes up2 racks"), "{totals}");
    assert!(
        !totals.contains("null") && totals.contains("critical"),
        "{totals}"
    );
    // An agent that hangs (SIGSTOP: its stream stays open, nothing comes) turns silent once the
    // stale window has passed, by the staleness rule alone.
    let pid = iscsi.child.id().to_string();
    let stopped = Instant::now();
    hvscope_testkit::run_ok(std::path::Path::new("/bin/kill"), &["-STOP", &pid]);
    b.wait(
        "document.querySelector('.node[data-node=\"node-iscsi\"][data-state=\"silent\"]')",
        (STALE_SECS + 10) * 1000,
    )
    .unwrap_or_else(|e| panic!("a hung node-iscsi should turn silent: {e}"));
    let hung = stopped.elapsed();
    assert!(
        hung >= Duration::from_secs(STALE_SECS - 2) && hung <= Duration::from_secs(STALE_SECS + 8),
        "hung agent silent after {hung:?}, stale window {STALE_SECS} s"
    );
    hvscope_testkit::run_ok(std::path::Path::new("/bin/kill"), &["-CONT", &pid]);
    let shot = artifacts_dir().join(format!("fleet-page-{tag}-silent.png"));
    b.screenshot(&shot).unwrap();
    println!(
        "screenshot: {} (killed node-base silent after {took:?}, hung node-iscsi after {hung:?})",
        shot.display()
    );

    // The findings API (for scripts), with filters and bad input.
    let get = |path: &str| -> (u16, String) {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        if https {
            https_get(c.http, path, &c.certs().join("ca.pem"), None, &headers).unwrap()
        } else {
            assert!(headers.is_empty());
            http_get(c.http, path).unwrap()
        }
    };
    let (s, body) = get("/api/v1/findings?node=node-drift&check=pinning.");
    assert_eq!(s, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let f = v["findings"].as_array().unwrap();
    assert!(!f.is_empty(), "{v}");
    assert!(f.iter().all(|f| f["node"] == "node-drift"
        && f["rack"] == "r1"
        && f["check"].as_str().unwrap().starts_with("pinning.")));
    let (s, body) = get("/api/v1/findings?severity=fatal");
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("unknown severity"), "{body}");
    let (s, _) = get("/api/v1/findings?bogus=1");
    assert_eq!(s, 400);
    let (s, _) = get("/api/v1/nodes/nope");
    assert_eq!(s, 404);
    if token.is_some() {
        let (s, _) = if https {
            https_get(
                c.http,
                "/api/v1/findings",
                &c.certs().join("ca.pem"),
                None,
                &[],
            )
            .unwrap()
        } else {
            http_get(c.http, "/api/v1/findings").unwrap()
        };
        assert_eq!(s, 401, "the API needs the token too");
    }
}

#[test]
fn fleet_page_in_chromium_over_http() {
    scenario(false, None);
}

#[test]
fn fleet_page_in_chromium_over_https_with_a_token() {
    scenario(true, Some("page-s3cret"));
}

#[test]
fn fleet_page_at_3000_nodes() {
    const NODES: usize = 3_000;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store = Arc::new(NodeStore::default());
    let now = hvscope_common::clock::now_ms();
    let t0 = Instant::now();
    let sim = simulate(&store, NODES, now);
    let filled = t0.elapsed();
    let state = HttpState {
        store: store.clone(),
        metrics: Arc::new(Metrics::default()),
        remote_read: Default::default(),
        auth: None,
        liveness: Liveness::default(),
    };
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, router(state)).await });

    let t = Instant::now();
    let (s, fleet_body) = http_get(addr, "/api/v1/fleet").unwrap();
    let fleet_ms = t.elapsed().as_millis();
    assert_eq!(s, 200);
    let fleet: serde_json::Value = serde_json::from_str(&fleet_body).unwrap();
    assert_eq!(fleet["totals"]["nodes"], NODES);
    assert_eq!(
        fleet["totals"]["racks_down"], 1,
        "the last rack went silent at once"
    );
    assert_eq!(fleet["racks"][0]["down"], true, "racks down first");
    assert_eq!(fleet["totals"]["up"], NODES - RACK_SIZE);
    assert_eq!(fleet["findings"].as_array().unwrap().len(), sim.findings);
    assert!(rack_sizes(&fleet).values().all(|n| *n == RACK_SIZE));
    let findings = get_json(addr, "/api/v1/findings").unwrap();
    let findings_bytes = findings.to_string().len();
    let (_, nodes_body) = http_get(addr, "/api/v1/nodes").unwrap();
    let t = Instant::now();
    let detail = get_json(addr, "/api/v1/nodes/compute-0000").unwrap();
    let detail_ms = t.elapsed().as_millis();
    assert_eq!(detail["vms"].as_array().unwrap().len(), 2);
    assert_eq!(detail["vms"][0]["nova_name"], "web-a");
    assert_eq!(detail["vms"][0]["last_interval"]["observed_seconds"], 10.0);
    assert_eq!(
        detail["vms"][0]["last_interval"]["cpu_starved_seconds"],
        1.0
    );
    println!(
        "3000 nodes ({} series each, {} findings) filled in {filled:?}: /api/v1/fleet {} bytes in {fleet_ms} ms, \
         /api/v1/findings {findings_bytes} bytes, /api/v1/nodes {} bytes, /api/v1/nodes/<node> {detail_ms} ms",
        sim.series_per_node,
        sim.findings,
        fleet_body.len(),
        nodes_body.len(),
    );
    assert!(
        fleet_body.len() < 2 << 20,
        "fleet JSON {} bytes",
        fleet_body.len()
    );

    let Some(mut b) = Browser::launch(false) else {
        return;
    };
    let started = Instant::now();
    b.goto(&format!("http://{addr}/?refresh_ms=1000")).unwrap();
    let tiles = b
        .wait(
            "document.querySelectorAll('.node[data-node]').length >= 3000 && document.querySelectorAll('.node[data-node]').length",
            T.as_millis() as u64,
        )
        .unwrap();
    let first_paint = started.elapsed();
    assert_eq!(tiles, NODES);
    let first = b
        .eval("window.hvscope.lastRenderMs")
        .unwrap()
        .as_f64()
        .unwrap();
    // Three more polls and renders of the whole fleet.
    b.wait("window.hvscope.renders >= 4", 20_000).unwrap();
    let stats = b.eval("window.hvscope").unwrap();
    // A filter re-renders from the data in hand.
    let t = Instant::now();
    b.fill("#f-node", "compute-00").unwrap();
    let filtered = b
        .wait(
            "document.querySelectorAll('.node[data-node]').length === 100 && window.hvscope.lastRenderMs",
            10_000,
        )
        .unwrap()
        .as_f64()
        .unwrap();
    let filter_rtt = t.elapsed();
    let shot = artifacts_dir().join("fleet-page-3000-nodes.png");
    b.fill("#f-node", "").unwrap();
    b.wait(
        "document.querySelectorAll('.node[data-node]').length === 3000",
        10_000,
    )
    .unwrap();
    let top = artifacts_dir().join("fleet-page-3000-nodes-window.png");
    b.screenshot_window(&top).unwrap();
    println!("screenshot (the window): {}", top.display());
    // Long finding groups show their first 100 rows, and all on demand.
    let rows = b
        .eval("document.querySelectorAll('tr.finding').length")
        .unwrap();
    assert!(rows.as_u64().unwrap() < sim.findings as u64, "{rows}");
    b.click("button[data-more=\"critical\"]").unwrap();
    let all = b
        .wait(
            &format!(
                "document.querySelectorAll('tr.finding').length === {} && window.hvscope.lastRenderMs",
                sim.findings
            ),
            10_000,
        )
        .unwrap()
        .as_f64()
        .unwrap();
    println!("every finding row shown: render {all:.0} ms");
    b.screenshot(&shot).unwrap();
    println!(
        "3000 nodes in Chromium {}: page loaded and rendered in {first_paint:?}; render of the whole fleet {first:.0} ms first, \
         max {:.0} ms over {} renders; node filter re-render {filtered:.0} ms ({filter_rtt:?} round trip); \
         poll {} bytes; screenshot: {}",
        b.version,
        stats["maxRenderMs"].as_f64().unwrap(),
        stats["renders"],
        stats["lastBytes"],
        shot.display()
    );
    assert_eq!(stats["errors"], 0);
    assert!(
        stats["maxRenderMs"].as_f64().unwrap() < 3_000.0,
        "render too slow at 3000 nodes: {stats}"
    );
}
