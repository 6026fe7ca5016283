//! From incident to notification, with the stock tools and the shipped files: real agents → the
//! aggregator → Prometheus 2.42 evaluating `monitoring/prometheus/hvscope.rules.yml` through
//! `remote_read` → Alertmanager 0.25 with `monitoring/alertmanager/alertmanager.yml` → a webhook
//! receiver in this test that records every notification. Only timings are shortened (every
//! rule's `for:`, Alertmanager's group_wait/group_interval, the aggregator's liveness ticks).
//!
//! - A pinning drift (a copy of the drift capture, its vCPU thread moved off its pinned CPU
//!   while the agent runs) → exactly one notification naming check, node, domain uuid and name
//!   and vCPU; put back → exactly one resolved notification.
//! - Three agents in rack r1, one in r2: all of r1 killed → exactly one notification for r1
//!   (`HvscopeRackDown`), none of `HvscopeNodeDown` for its nodes; r2's agent killed → one
//!   `HvscopeNodeDown` for it, and nothing else about that node (its open findings' alerts
//!   stay firing, inhibited, rather than all resolving).

use std::path::Path;
use std::time::{Duration, Instant};

use hvscope_e2e::Cluster;
use hvscope_testkit::alertmanager::{Alertmanager, Notification, Webhook};
use hvscope_testkit::prom::Prometheus;
use hvscope_testkit::{Proc, copy_dir, repo, rules, wait_for};
use serde_json::Value;

/// Every rule's pending duration in this test.
const FOR: &str = "2s";
/// vCPU 0 of web-a (instance-0000002a) in the drift capture.
const VCPU0: &str = "proc/25453/task/25461/status";
const DOMAIN_UUID: &str = "3b9f6d2e-8c41-4a7f-9e15-2d6c0a4b7f11";
/// How long to keep listening after an expected notification for any that should not come.
const SETTLE: Duration = Duration::from_secs(8);

/// The shipped rules with every `for:` set to [`FOR`].
fn rules_for_test(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo().join("monitoring/prometheus/hvscope.rules.yml"))
        .expect("shipped rules");
    let p = dir.join("hvscope.rules.yml");
    std::fs::write(&p, rules::shorten_for(&text, FOR)).unwrap();
    p
}

/// The shipped Alertmanager example sending to `hook`, its group timings shortened.
fn alertmanager_config(hook: &str) -> String {
    let text = std::fs::read_to_string(repo().join("monitoring/alertmanager/alertmanager.yml"))
        .expect("shipped alertmanager.yml");
    assert!(text.contains(rules::WEBHOOK_PLACEHOLDER));
    // repeat_interval stays long: a repeated notification would be counted.
    rules::alertmanager_for_tests(&text, hook, "2s", "3s")
        .replace("repeat_interval: 3s", "repeat_interval: 1h")
}

fn label<'a>(alert: &'a Value, name: &str) -> &'a str {
    alert["labels"][name].as_str().unwrap_or("")
}

/// Notifications after `since` with an alert of `status` for which `pick` holds.
fn count(hook: &Webhook, since: Instant, status: &str, pick: impl Fn(&Value) -> bool) -> usize {
    hook.all()
        .iter()
        .filter(|n| n.at >= since && n.alerts(status).into_iter().any(&pick))
        .count()
}

/// Waits for the first notification after `since` with an alert of `status` for which `pick`
/// holds; returns when it came.
fn first(
    hook: &Webhook,
    since: Instant,
    status: &str,
    pick: impl Fn(&Value) -> bool,
    what: &str,
    logs: &dyn Fn() -> String,
) -> Instant {
    wait_for(Duration::from_secs(60), || {
        hook.all()
            .into_iter()
            .find(|n| n.at >= since && n.alerts(status).into_iter().any(&pick))
            .map(|n| n.at)
    })
    .unwrap_or_else(|| panic!("no notification: {what}\n{}", logs()))
}

fn describe(n: &[Notification]) -> String {
    n.iter()
        .map(|n| {
            let alerts: Vec<String> = n.body["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    format!(
                        "{} {}{{node={},rack={},check={}}}",
                        a["status"].as_str().unwrap_or(""),
                        label(a, "alertname"),
                        label(a, "node"),
                        label(a, "rack"),
                        label(a, "check")
                    )
                })
                .collect();
            alerts.join(", ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn set_vcpu0(root: &Path, cpus: &str, mask: &str) {
    let p = root.join(VCPU0);
    let text = std::fs::read_to_string(&p).unwrap();
    let out: String = text
        .lines()
        .map(|l| {
            if l.starts_with("Cpus_allowed_list:") {
                format!("Cpus_allowed_list:\t{cpus}\n")
            } else if l.starts_with("Cpus_allowed:") {
                format!("Cpus_allowed:\t{mask}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(p, out).unwrap();
}

#[test]
fn an_incident_is_one_notification_and_a_rack_outage_too() {
    let mut c = Cluster::new("alerts");
    let cfg = c.dir.join("aggregator.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(
        "[storage]\nliveness_interval_secs = 1\nnode_stale_after_secs = 3\nrack_down_window_secs = 5\n",
    );
    std::fs::write(&cfg, text).unwrap();
    c.start_aggregator();

    let hook = Webhook::start();
    let Some(am) = Alertmanager::start("alerts-am", &alertmanager_config(&hook.url())) else {
        return;
    };
    let rules = rules_for_test(&c.dir.0);
    // Prometheus re-sends firing alerts every resend delay (1 min by default); shortened so
    // that an alert evaluated before the notifier found Alertmanager (it syncs every 5 s)
    // is not held back a minute.
    let Some(prom) = Prometheus::start_with_flags(
        "alerts-prom",
        &format!(
            "global: {{evaluation_interval: 1s}}\nrule_files: [{}]\n\
             alerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['{}']}}]\n\
             remote_read:\n  - url: http://{}/api/v1/read\n    read_recent: true\n",
            rules.display(),
            am.addr,
            c.http
        ),
        &["--rules.alert.resend-delay=2s"],
    ) else {
        return;
    };
    let logs = || {
        format!(
            "--- notifications\n{}\n--- findings\n{}\n--- alerts\n{}\n--- prometheus\n{}\n--- alertmanager\n{}",
            describe(&hook.all()),
            prom.api("query?query=hvscope_finding"),
            prom.api("alerts")["alerts"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0)
                .to_string()
                + &prom.api("alertmanagers").to_string(),
            hvscope_testkit::http_get(prom.addr, "/metrics")
                .map(|r| r.1)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.starts_with("prometheus_notifications"))
                .collect::<Vec<_>>()
                .join("\n"),
            am.proc.log()
        )
    };

    // r2: one node reading the drift capture with only web-a running (no dedicated-CPU overlap
    // with the other VM) and its vCPU 0 where the XML pins it, for now.
    let root = copy_dir(
        &repo().join("agent/tests/fixtures/libvirt-kvm-2vm-drift"),
        "alerts-root",
    );
    for f in ["instance-0000002b.xml", "instance-0000002b.pid"] {
        std::fs::remove_file(root.join("run/libvirt/qemu").join(f)).unwrap();
    }
    set_vcpu0(&root, "0", "1");
    let agent = |name: &str, rack: &str, host_root: &Path| -> Proc {
        c.node_cert(name, 30);
        let cfg = c.agent_config(
            &format!("{name}.toml"),
            name,
            &format!("host_root = \"{}\"", host_root.display()),
            &format!("[labels]\nrack = \"{rack}\"\n[host]\ndaemons = []\n"),
        );
        c.start_agent(&cfg, &format!("{name}.log"))
    };
    let mut drift_node = agent("drift-node", "r2", &root);
    // r1: three nodes reading this machine (no required daemons: no findings).
    let mut r1: Vec<Proc> = ["r1-a", "r1-b", "r1-c"]
        .iter()
        .map(|n| agent(n, "r1", Path::new("/")))
        .collect();
    let all_up = wait_for(Duration::from_secs(60), || {
        let r = prom.api("query?query=sum(hvscope_node_up)");
        let v = r["result"][0]["value"][1].as_str()?.parse::<f64>().ok()?;
        (v == 4.0).then_some(())
    });
    all_up.unwrap_or_else(|| panic!("four nodes not up in Prometheus\n{}", logs()));
    let notifier_ready = wait_for(Duration::from_secs(30), || {
        let m = hvscope_testkit::http_get(prom.addr, "/metrics").ok()?.1;
        (hvscope_testkit::metric_value(&m, "prometheus_notifications_alertmanagers_discovered")
            == Some(1.0))
        .then_some(())
    });
    notifier_ready.unwrap_or_else(|| panic!("Prometheus found no Alertmanager\n{}", logs()));

    // 1. The drift: one notification with its subject.
    let is_drift = |a: &Value| {
        label(a, "check") == "pinning.affinity_drift" && label(a, "node") == "drift-node"
    };
    let incident = Instant::now();
    set_vcpu0(&root, "1", "2");
    let at = first(&hook, incident, "firing", is_drift, "pinning drift", &logs);
    println!(
        "pinning drift → notification: {:.1} s",
        (at - incident).as_secs_f64()
    );
    std::thread::sleep(SETTLE);
    assert_eq!(
        count(&hook, incident, "firing", is_drift),
        1,
        "exactly one notification for the drift\n{}",
        logs()
    );
    let n = hook
        .all()
        .into_iter()
        .find(|n| n.alerts("firing").into_iter().any(is_drift))
        .unwrap();
    let a = n
        .alerts("firing")
        .into_iter()
        .find(|a| is_drift(a))
        .unwrap()
        .clone();
    assert_eq!(label(&a, "alertname"), "HvscopePinningViolation", "{a}");
    assert_eq!(label(&a, "rack"), "r2", "{a}");
    assert_eq!(label(&a, "domain_uuid"), DOMAIN_UUID, "{a}");
    assert_eq!(label(&a, "domain_name"), "instance-0000002a", "{a}");
    assert_eq!(label(&a, "vcpu"), "0", "{a}");
    assert_eq!(label(&a, "severity"), "critical", "{a}");
    let summary = a["annotations"]["summary"].as_str().unwrap_or("");
    assert!(
        summary.contains("instance-0000002a") && summary.contains("vCPU 0"),
        "the summary names the VM and vCPU: {summary}"
    );

    // Put back: exactly one resolved notification.
    let cleared = Instant::now();
    set_vcpu0(&root, "0", "1");
    let at = first(
        &hook,
        cleared,
        "resolved",
        is_drift,
        "drift resolved",
        &logs,
    );
    println!(
        "drift cleared → resolved notification: {:.1} s",
        (at - cleared).as_secs_f64()
    );
    std::thread::sleep(SETTLE);
    assert_eq!(count(&hook, cleared, "resolved", is_drift), 1, "{}", logs());
    assert_eq!(count(&hook, incident, "firing", is_drift), 1, "{}", logs());

    // 2. Rack r1 loses every node at once: one notification, the rack's.
    let outage = Instant::now();
    for p in &mut r1 {
        p.kill();
    }
    let is_rack =
        |a: &Value| label(a, "alertname") == "HvscopeRackDown" && label(a, "rack") == "r1";
    let at = first(&hook, outage, "firing", is_rack, "rack r1 down", &logs);
    println!(
        "rack r1 killed → HvscopeRackDown notification: {:.1} s",
        (at - outage).as_secs_f64()
    );
    std::thread::sleep(SETTLE);
    assert_eq!(count(&hook, outage, "firing", is_rack), 1, "{}", logs());
    let r1_node_down =
        |a: &Value| label(a, "alertname") == "HvscopeNodeDown" && label(a, "rack") == "r1";
    assert_eq!(
        count(&hook, outage, "firing", r1_node_down),
        0,
        "no HvscopeNodeDown for r1's nodes\n{}",
        logs()
    );
    let any_r1 = |a: &Value| label(a, "rack") == "r1";
    assert_eq!(
        count(&hook, outage, "firing", any_r1) + count(&hook, outage, "resolved", any_r1),
        1,
        "the rack outage is one notification\n{}",
        logs()
    );
    // Prometheus has the node alerts firing; Alertmanager inhibited them.
    let firing =
        prom.api("query?query=ALERTS{alertname=\"HvscopeNodeDown\",alertstate=\"firing\"}");
    assert_eq!(
        firing["result"].as_array().map(Vec::len),
        Some(3),
        "{firing}"
    );

    // 3. r2's only node goes: one HvscopeNodeDown.
    let down = Instant::now();
    drift_node.kill();
    let is_node =
        |a: &Value| label(a, "alertname") == "HvscopeNodeDown" && label(a, "node") == "drift-node";
    let at = first(&hook, down, "firing", is_node, "drift-node down", &logs);
    println!(
        "drift-node killed → HvscopeNodeDown notification: {:.1} s",
        (at - down).as_secs_f64()
    );
    std::thread::sleep(SETTLE);
    assert_eq!(count(&hook, down, "firing", is_node), 1, "{}", logs());
    // Its other alerts (rootfs usage unknown on a capture) neither resolve nor repeat: quiet.
    let of_node = |a: &Value| label(a, "node") == "drift-node";
    assert_eq!(
        count(&hook, down, "firing", of_node) + count(&hook, down, "resolved", of_node),
        1,
        "a down node is one notification\n{}",
        logs()
    );
    println!("notifications:\n{}", describe(&hook.all()));
}
