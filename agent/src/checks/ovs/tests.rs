//! The OVS checks on the real capture (`tests/fixtures/ovs/`, see its SCENARIO.md for what a
//! correct checker finds) and on hand-made flows.
use super::*;
use crate::checks::{exit_code, run_all};
use crate::sources::ovs::audit::{Auditor, attached_macs};
use crate::sources::ovs::config::OvsConfig;
use crate::sources::ovs::rules::Rules;
use crate::sources::ovs::{Bridge, Ovs};
use hvscope_parse::ovs::testdata::{FLOWS_OF10, FLOWS_OF13, topology};

/// A snapshot whose br-int flows are `dump`, audited with `cfg`, over the captured topology.
fn snapshot(dump: &str, cfg: &OvsConfig) -> Snapshot {
    let topo = topology();
    let macs = attached_macs(&topo.bridges);
    let rules = Rules::compile(&cfg.rules).unwrap();
    let bridges = topo
        .bridges
        .iter()
        .map(|row| {
            let flows = (row.name == "br-int")
                .then(|| Auditor::new(row, &macs, cfg, &rules).audit_text(dump));
            Bridge::of_row(row, flows.map(std::sync::Arc::new))
        })
        .collect();
    Snapshot {
        ovs: Some(Ovs {
            ovsdb_up: true,
            ovs_version: None,
            bridges,
        }),
        ..Default::default()
    }
}

fn neutron_cfg() -> OvsConfig {
    toml::from_str("owned_cookies = ['0x9f3c6a1d2e4b7c85']").unwrap()
}

fn summary(f: &[Finding]) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = f
        .iter()
        .map(|f| {
            let what = ["port", "mac", "rule", "more_flows"]
                .iter()
                .find_map(|k| f.subject.get(*k).cloned())
                .unwrap_or_default();
            (f.check.clone(), f.subject["table"].clone(), what)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn real_capture_gives_exactly_the_scenario_findings() {
    for dump in [FLOWS_OF10, FLOWS_OF13] {
        let snap = snapshot(dump, &neutron_cfg());
        let f = run_all(&checks(), &snap);
        let s = |c: &str, t: &str, w: &str| (c.to_owned(), t.to_owned(), w.to_owned());
        assert_eq!(
            summary(&f),
            vec![
                s("ovs.flow_missing_port", "60", "37"),
                s("ovs.flow_missing_port", "71", "37"),
                s("ovs.flow_missing_port", "94", "43"),
                s("ovs.flow_stale_cookie", "60", ""),
                s("ovs.flow_stale_cookie", "71", ""),
                s("ovs.flow_unknown_mac", "60", "fa:16:3e:de:ad:01"),
                s("ovs.flow_unknown_mac", "71", "fa:16:3e:77:0c:0c"),
            ]
        );
        assert_eq!(exit_code(&f), 2);
        let out43 = f
            .iter()
            .find(|f| f.subject.get("port").is_some_and(|p| p == "43"))
            .unwrap();
        assert_eq!(out43.severity, Severity::Critical);
        assert_eq!(out43.subject["bridge"], "br-int");
        assert_eq!(out43.subject["priority"], "12");
        assert_eq!(out43.subject["cookie"], "0x9f3c6a1d2e4b7c85");
        assert!(out43.message.contains("output to 43"), "{}", out43.message);
        assert!(
            out43.message.contains("dl_dst=fa:16:3e:8b:2c:02"),
            "{}",
            out43.message
        );
        let audit = snap.ovs.as_ref().unwrap().bridges[0]
            .flows
            .as_ref()
            .unwrap();
        assert_eq!((audit.flows, audit.bad_lines), (37, 0));
        assert_eq!(audit.per_table["60"], 7);
    }
}

#[test]
fn no_owned_cookies_means_no_stale_cookie_check() {
    let snap = snapshot(FLOWS_OF10, &OvsConfig::default());
    assert!(FLOW_STALE_COOKIE.run(&snap).is_empty());
    assert_eq!(FLOW_MISSING_PORT.run(&snap).len(), 3);
}

#[test]
fn findings_are_bounded_with_a_count() {
    let mut cfg = neutron_cfg();
    cfg.max_findings_per_check = 1;
    let f = FLOW_MISSING_PORT.run(&snapshot(FLOWS_OF10, &cfg));
    assert_eq!(f.len(), 2);
    assert_eq!(f[1].subject["more_flows"], "2");
    assert!(f[1].message.contains("3 in all"), "{}", f[1].message);
}

#[test]
fn operator_rules_and_unknown_mac_scope() {
    let cfg: OvsConfig = toml::from_str(
        r#"
mac_check_bridges = []
[[rules]]
name = "output-43"
severity = "critical"
bridge = "br-int"
table = 94
actions_regex = "output:43$"
[[rules]]
name = "normal-low"
severity = "warning"
priority_max = 3
actions_contains = "NORMAL"
"#,
    )
    .unwrap();
    let snap = snapshot(FLOWS_OF13, &cfg);
    assert!(FLOW_UNKNOWN_MAC.run(&snap).is_empty());
    let f = FlowRule.run(&snap);
    let mut got: Vec<_> = f
        .iter()
        .map(|f| (f.subject["rule"].as_str(), f.severity))
        .collect();
    got.sort_by_key(|g| g.0);
    assert_eq!(
        got,
        [
            ("normal-low", Severity::Warning),
            ("normal-low", Severity::Warning),
            ("normal-low", Severity::Warning),
            ("output-43", Severity::Critical),
        ]
    );
}

#[test]
fn hand_made_flows_by_name_and_reserved_ports() {
    let dump = "\
NXST_FLOW reply (xid=0x4): flags=[more]
 cookie=0x9f3c6a1d2e4b7c85, table=0, priority=5,in_port=tap4f2b8c1e-6d actions=output:\"tap8a7d3e2f-1c\",LOCAL,IN_PORT
 cookie=0x9f3c6a1d2e4b7c85, table=0, priority=5,in_port=\"tap-gone\" actions=NORMAL
NXST_FLOW reply (xid=0x4):
 cookie=0x9f3c6a1d2e4b7c85, table=0, priority=4,dl_dst=FA:16:3E:8B:2C:02 actions=output:65534
 this line is garbage
";
    let snap = snapshot(dump, &neutron_cfg());
    let f = run_all(&checks(), &snap);
    assert_eq!(
        summary(&f),
        vec![(
            "ovs.flow_missing_port".into(),
            "0".into(),
            "tap-gone".into()
        )]
    );
    let audit = snap.ovs.as_ref().unwrap().bridges[0]
        .flows
        .as_ref()
        .unwrap();
    assert_eq!((audit.flows, audit.bad_lines), (3, 1));
}

#[test]
fn unreadable_flows_give_no_findings() {
    let mut snap = snapshot(FLOWS_OF10, &neutron_cfg());
    snap.ovs.as_mut().unwrap().bridges[0].flows = None;
    assert!(run_all(&checks(), &snap).is_empty());
}
