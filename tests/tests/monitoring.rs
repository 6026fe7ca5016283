//! The shipped monitoring (`monitoring/`), checked with the real tools: `promtool check rules`
//! and `promtool test rules` (Prometheus 2.42) on the alert and SLO rules, including copies
//! broken on purpose that the unit tests must reject; `amtool check-config` and a real
//! Alertmanager 0.25 for the example configuration's inhibition; `tsc` against
//! `@grafana/schema`'s `Dashboard` for the dashboards (installed by `tests/run` with `npm ci` in
//! `monitoring/grafana`), again with a broken copy that must fail. Plus static cross-checks:
//! every alert is unit-tested firing and not firing, every check id the agent has is alerted on,
//! every series a rule or a panel names is one the agent or aggregator emits (or a recording
//! rule records). Without a tool a test skips loudly; under CI (`CI=true`) it fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hvscope_testkit::grafana::{panel_queries, substitute, variables};
use hvscope_testkit::rules::{
    WEBHOOK_PLACEHOLDER, alert_names, alertmanager_for_tests, record_names, shorten_for,
};
use hvscope_testkit::{TempDir, alertmanager::Alertmanager, in_ci, repo, tool, wait_for};
use serde_json::{Value, json};

const RULES: &str = "monitoring/prometheus/hvscope.rules.yml";
const RULE_TESTS: &str = "monitoring/prometheus/hvscope.rules.test.yml";
const ALERTMANAGER: &str = "monitoring/alertmanager/alertmanager.yml";
const GRAFANA: &str = "monitoring/grafana";
const DASHBOARDS: [&str; 2] = ["hvscope-fleet.json", "hvscope-node.json"];

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// Runs `bin args` in `dir`; (success, stdout + stderr).
fn run(bin: &Path, args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn promtool() -> Option<PathBuf> {
    tool(&["promtool"], "prometheus")
}

/// `promtool test rules` on `tests` beside `rules` (both written into a fresh directory).
fn promtool_test(promtool: &Path, tag: &str, rules: &str, tests: &str) -> (bool, String) {
    let dir = TempDir::new(tag);
    std::fs::write(dir.join("hvscope.rules.yml"), rules).unwrap();
    std::fs::write(dir.join("hvscope.rules.test.yml"), tests).unwrap();
    run(
        promtool,
        &["test", "rules", "hvscope.rules.test.yml"],
        &dir.0,
    )
}

#[test]
fn rules_pass_promtool_check() {
    let Some(promtool) = promtool() else { return };
    let (ok, out) = run(&promtool, &["check", "rules", RULES], &repo());
    assert!(ok && out.contains("SUCCESS"), "{out}");
}

#[test]
fn rules_pass_their_promtool_unit_tests() {
    let Some(promtool) = promtool() else { return };
    let dir = repo().join("monitoring/prometheus");
    let (ok, out) = run(
        &promtool,
        &["test", "rules", "hvscope.rules.test.yml"],
        &dir,
    );
    assert!(ok && out.contains("SUCCESS"), "{out}");
}

/// Each mutation breaks one thing the unit tests are there for; each must make them fail.
#[test]
fn promtool_unit_tests_reject_broken_rules() {
    let Some(promtool) = promtool() else { return };
    let rules = read(RULES);
    let tests = read(RULE_TESTS);
    let mutations = [
        (
            "rack alert on the wrong value",
            "expr: hvscope_rack_down == 1",
            "expr: hvscope_rack_down == 2",
        ),
        (
            "node alert without the rack label the inhibition keys on",
            "expr: hvscope_node_up == 0",
            "expr: max without (rack) (hvscope_node_up) == 0",
        ),
        (
            "pinning warnings dropped",
            r#"check=~"pinning[.].+", severity=~"warning|critical""#,
            r#"check=~"pinning[.].+", severity="critical""#,
        ),
        (
            "unknown findings at the wrong severity",
            "severity: warning\n        annotations:\n          summary: \"{{ $labels.check }} cannot",
            "severity: critical\n        annotations:\n          summary: \"{{ $labels.check }} cannot",
        ),
        ("another SLO target", "vector(0.99)", "vector(0.999)"),
        (
            "annotation without the VM's name",
            "{{ $labels.domain_name }} ({{ $labels.domain_uuid }}){{ end }}{{ if $labels.vcpu }}",
            "({{ $labels.domain_uuid }}){{ end }}{{ if $labels.vcpu }}",
        ),
    ];
    for (what, from, to) in mutations {
        assert_eq!(
            rules.matches(from).count(),
            1,
            "{what}: {from:?} once in {RULES}"
        );
        let (ok, out) = promtool_test(&promtool, "rules-broken", &rules.replace(from, to), &tests);
        assert!(!ok, "{what}: the unit tests still pass:\n{out}");
        assert!(out.contains("FAILED"), "{what}: {out}");
    }
}

/// Every `for:` shortened to 0s (as the end-to-end test does): the rules still load and an
/// alert fires at the first evaluation that sees its condition.
#[test]
fn rules_with_every_for_shortened_fire_at_once() {
    let Some(promtool) = promtool() else { return };
    let rules = read(RULES);
    let short = shorten_for(&rules, "0s");
    let fors = |s: &str| {
        s.lines()
            .filter(|l| l.trim_start().starts_with("for: "))
            .count()
    };
    assert!(fors(&rules) >= 20, "the rules have their pending durations");
    assert_eq!(fors(&short), short.matches("for: 0s").count());
    assert_eq!(fors(&short), fors(&rules));
    let test = r#"
rule_files: [hvscope.rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'hvscope_node_up{node="n1",rack="r1"}'
        values: '0x3'
    promql_expr_test:
      - expr: ALERTS{alertstate="firing"}
        eval_time: 0m
        exp_samples:
          - labels: 'ALERTS{alertname="HvscopeNodeDown",alertstate="firing",node="n1",rack="r1",severity="critical"}'
            value: 1
"#;
    let (ok, out) = promtool_test(&promtool, "rules-short", &short, test);
    assert!(ok, "{out}");
    // The same test on the rules as shipped: NodeDown is only pending at 0m.
    let (ok, out) = promtool_test(&promtool, "rules-long", &rules, test);
    assert!(!ok, "{out}");
}

/// For each alert name, whether the unit tests expect it firing somewhere and quiet somewhere.
fn tested_alerts(tests: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut fired, mut quiet) = (BTreeSet::new(), BTreeSet::new());
    let lines: Vec<&str> = tests.lines().map(str::trim).collect();
    for (i, l) in lines.iter().enumerate() {
        let Some(rest) = l.split("alertname: ").nth(1) else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if l.contains("exp_alerts: []") || lines.get(i + 1) == Some(&"exp_alerts: []") {
            quiet.insert(name);
        } else if lines.get(i + 1) == Some(&"exp_alerts:")
            && lines
                .get(i + 2)
                .is_some_and(|n| n.starts_with("- exp_labels:"))
        {
            fired.insert(name);
        }
    }
    (fired, quiet)
}

#[test]
fn every_alert_is_tested_firing_and_not_firing_and_every_record_its_value() {
    let rules = read(RULES);
    let tests = read(RULE_TESTS);
    let alerts = alert_names(&rules);
    assert!(alerts.len() >= 20, "{alerts:?}");
    let (fired, quiet) = tested_alerts(&tests);
    for a in &alerts {
        assert!(
            fired.contains(a),
            "{a} is never tested firing in {RULE_TESTS}"
        );
        assert!(
            quiet.contains(a),
            "{a} is never tested not firing in {RULE_TESTS}"
        );
    }
    for r in record_names(&rules) {
        assert!(
            tests.contains(&format!("- expr: {r}\n")),
            "recording rule {r} has no promql_expr_test of its value"
        );
    }
    // The liveness pair must reach Alertmanager from one evaluation: same group, same `for:`.
    let group_of = |alert: &str| {
        let at = rules.find(&format!("- alert: {alert}\n")).unwrap();
        let group = rules[..at].rfind("- name: ").unwrap();
        let for_line = rules[at..]
            .lines()
            .find(|l| l.trim_start().starts_with("for: "))
            .unwrap();
        (group, for_line.trim().to_owned())
    };
    assert_eq!(group_of("HvscopeNodeDown"), group_of("HvscopeRackDown"));
}

#[test]
fn every_check_id_of_the_agent_has_a_tested_alert() {
    let config = hvscope_agent::config::Config::default();
    let ids: Vec<&str> = hvscope_agent::checks::configured(&config)
        .iter()
        .map(|c| c.id())
        .collect();
    assert!(ids.len() >= 15, "{ids:?}");
    let tests = read(RULE_TESTS);
    for id in ids {
        assert!(
            tests.contains(&format!("check: {id},")),
            "check {id}: no unit-tested alert carries it (add it to a family in {RULES})"
        );
    }
    // Unreadable sources are HvscopeSourceUnknown's (hvscope_agent_source_up); the finding that
    // mirrors them must not raise HvscopeCheckUnknown too.
    let unknown = hvscope_agent::checks::SOURCE_UNKNOWN;
    assert!(tests.contains(&format!("check=\"{unknown}\"")));
    assert!(!tests.contains(&format!("check: {unknown},")));
}

/// The `hvscope_*` series names the agent and the aggregator emit (their string literals), plus
/// `hvscope_finding`, which the contract of issue 15 has the aggregator build.
fn emitted_series() -> BTreeSet<String> {
    let mut names = BTreeSet::from(["hvscope_finding".to_owned()]);
    let mut stack: Vec<PathBuf> = ["agent/src", "aggregator/src", "common/src"]
        .iter()
        .map(|d| repo().join(d))
        .collect();
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if p.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&p).unwrap();
            for part in text.split("\"hvscope_").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if part[name.len()..].starts_with('"') {
                    names.insert(format!("hvscope_{name}"));
                }
            }
        }
    }
    names
}

/// The series names (`hvscope_…`) and recorded names (`level:metric:op`) in `text`.
fn names_in(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut series, mut recorded) = (BTreeSet::new(), BTreeSet::new());
    for tok in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
        let parts: Vec<&str> = tok.split(':').collect();
        if parts.len() == 3 && parts.iter().all(|p| !p.is_empty()) {
            recorded.insert(tok.to_owned());
        } else if parts.len() == 1 && tok.starts_with("hvscope_") {
            series.insert(tok.to_owned());
        }
    }
    (series, recorded)
}

#[test]
fn rules_and_dashboards_name_only_series_that_exist() {
    let emitted = emitted_series();
    assert!(emitted.contains("hvscope_node_up") && emitted.contains("hvscope_vm_info"));
    let rules = read(RULES);
    let records: BTreeSet<String> = record_names(&rules).into_iter().collect();
    let uncommented: Vec<&str> = rules
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let mut texts = vec![(RULES.to_owned(), uncommented.join("\n"))];
    for d in DASHBOARDS {
        let json: Value = serde_json::from_str(&read(&format!("{GRAFANA}/{d}"))).unwrap();
        let vars = [("rack", ".*"), ("node", "n1"), ("datasource", "prometheus")];
        let mut exprs: Vec<String> = panel_queries(&json, &vars)
            .unwrap_or_else(|e| panic!("{d}: {e}"))
            .into_iter()
            .map(|q| q.expr)
            .collect();
        for (name, _, query) in variables(&json) {
            exprs.push(substitute(&query, &vars).unwrap_or_else(|e| panic!("{d} ${name}: {e}")));
        }
        assert!(exprs.len() >= 10, "{d}: {exprs:?}");
        texts.push((d.to_owned(), exprs.join("\n")));
    }
    for (what, text) in texts {
        let (series, recorded) = names_in(&text);
        for s in series {
            assert!(
                emitted.contains(&s),
                "{what} names {s}, which nothing emits"
            );
        }
        for r in recorded {
            assert!(
                records.contains(&r),
                "{what} names {r}, which no rule records"
            );
        }
    }
}

#[test]
fn alertmanager_example_passes_amtool_check_config() {
    let Some(amtool) = tool(&["amtool"], "prometheus-alertmanager") else {
        return;
    };
    let (ok, out) = run(&amtool, &["check-config", ALERTMANAGER], &repo());
    assert!(
        ok && out.contains("SUCCESS") && out.contains("2 inhibit rules"),
        "{out}"
    );
    let shipped = read(ALERTMANAGER);
    assert!(shipped.contains(WEBHOOK_PLACEHOLDER));
    // As the end-to-end tests run it: their webhook, short timings; still valid.
    let short = alertmanager_for_tests(&shipped, "http://127.0.0.1:5000/hook", "1s", "2s");
    assert!(!short.contains("30s") && short.contains("http://127.0.0.1:5000/hook"));
    let dir = TempDir::new("am-short");
    std::fs::write(dir.join("am.yml"), &short).unwrap();
    let (ok, out) = run(&amtool, &["check-config", "am.yml"], &dir.0);
    assert!(ok && out.contains("2 inhibit rules"), "{out}");
}

/// `(alertname, node, rack) -> inhibited` as the running Alertmanager reports it.
fn inhibition(am: &Alertmanager) -> Vec<(String, String, String, bool)> {
    let mut v: Vec<_> = am
        .alerts()
        .iter()
        .map(|a| {
            let l = |k: &str| a["labels"][k].as_str().unwrap_or("").to_owned();
            let inhibited = a["status"]["inhibitedBy"]
                .as_array()
                .is_some_and(|v| !v.is_empty());
            (l("alertname"), l("node"), l("rack"), inhibited)
        })
        .collect();
    v.sort();
    v
}

/// The example's inhibition, in a real Alertmanager, over one alert of every name the rules
/// have: a rack alert mutes everything of its rack (node alerts included), a node alert mutes
/// the rest of its node but not itself, and nothing else is muted.
#[test]
fn alertmanager_inhibition_makes_a_rack_outage_one_alert() {
    let config = read(ALERTMANAGER).replace(WEBHOOK_PLACEHOLDER, "http://127.0.0.1:9/none");
    let Some(am) = Alertmanager::start("am-inhibit", &config) else {
        return;
    };
    let names = alert_names(&read(RULES));
    let alert = |name: &str, node: &str, rack: &str| {
        let mut labels = json!({"alertname": name, "severity": "critical"});
        if !node.is_empty() {
            labels["node"] = json!(node);
        }
        if !rack.is_empty() {
            labels["rack"] = json!(rack);
        }
        json!({"labels": labels})
    };
    // r1: rack down (n1, n2 inside); r2: n3 down, n4 fine; plus alerts of no node or rack.
    let mut alerts = vec![
        alert("HvscopeRackDown", "", "r1"),
        alert("HvscopeNodeDown", "n1", "r1"),
        alert("HvscopeNodeDown", "n2", "r1"),
        alert("HvscopeNodeDown", "n3", "r2"),
    ];
    for n in names
        .iter()
        .filter(|n| !n.ends_with("RackDown") && !n.ends_with("NodeDown"))
    {
        for (node, rack) in [("n1", "r1"), ("n3", "r2"), ("n4", "r2"), ("", "")] {
            alerts.push(alert(n, node, rack));
        }
    }
    am.post_alerts(&Value::Array(alerts.clone()));
    let expect = |rack_down: bool| {
        let mut v: Vec<(String, String, String, bool)> = alerts
            .iter()
            .map(|a| {
                let l = |k: &str| a["labels"][k].as_str().unwrap_or("").to_owned();
                let (name, node, rack) = (l("alertname"), l("node"), l("rack"));
                let by_rack = rack_down && rack == "r1" && name != "HvscopeRackDown";
                let down = |n: &str| n == "n3" || (!rack_down && (n == "n1" || n == "n2"));
                let by_node =
                    down(&node) && !name.ends_with("NodeDown") && !name.ends_with("RackDown");
                (name, node, rack, by_rack || by_node)
            })
            .filter(|(name, _, _, _)| rack_down || name != "HvscopeRackDown")
            .collect();
        v.sort();
        v
    };
    let want = expect(true);
    let got = wait_for(Duration::from_secs(10), || {
        let got = inhibition(&am);
        (got == want).then_some(got)
    });
    assert!(got.is_some(), "want {want:#?}\ngot {:#?}", inhibition(&am));
    // Exactly one alert of rack r1 is left to notify: the rack's.
    let r1: Vec<_> = want.iter().filter(|a| a.2 == "r1" && !a.3).collect();
    assert_eq!(r1.len(), 1, "{r1:?}");
    // The rack comes back but its nodes stay down: each node alert speaks for its node again.
    let mut resolved = alert("HvscopeRackDown", "", "r1");
    resolved["endsAt"] = json!("2000-01-01T00:00:00Z");
    am.post_alerts(&json!([resolved]));
    let want = expect(false);
    let got = wait_for(Duration::from_secs(10), || {
        let got = inhibition(&am);
        (got == want).then_some(got)
    });
    assert!(got.is_some(), "want {want:#?}\ngot {:#?}", inhibition(&am));
}

/// `node check/check.mjs [files]` in `monitoring/grafana`, or `None` when node or the npm
/// packages are missing (loud outside CI, failing under CI).
fn grafana_check(files: &[&Path]) -> Option<(bool, String)> {
    let node = tool(&["node", "nodejs"], "nodejs")?;
    let dir = repo().join(GRAFANA);
    if !dir.join("node_modules/@grafana/schema").is_dir()
        || !dir.join("node_modules/typescript").is_dir()
    {
        let msg = format!(
            "{}/node_modules is missing: run `npm ci` there (tests/run does)",
            dir.display()
        );
        assert!(!in_ci(), "{msg}");
        eprintln!("SKIPPED: {msg}");
        return None;
    }
    let mut args = vec!["check/check.mjs".to_owned()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Some(run(&node, &args, &dir))
}

#[test]
fn dashboards_fit_grafanas_dashboard_model() {
    let Some((ok, out)) = grafana_check(&[]) else {
        return;
    };
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("ok: {} dashboard(s)", DASHBOARDS.len())),
        "{out}"
    );
    for d in DASHBOARDS {
        let json: Value = serde_json::from_str(&read(&format!("{GRAFANA}/{d}"))).unwrap();
        let names: Vec<String> = variables(&json).into_iter().map(|v| v.0).collect();
        assert!(
            names.contains(&"datasource".to_owned()) && names.contains(&"rack".to_owned()),
            "{d}: {names:?}"
        );
    }
}

/// A field of the wrong type, and a field the model does not have, must each fail the check.
#[test]
fn dashboard_check_rejects_a_wrong_field_type_and_an_unknown_field() {
    let json: Value = serde_json::from_str(&read(&format!("{GRAFANA}/{}", DASHBOARDS[0]))).unwrap();
    let dir = TempDir::new("grafana-broken");
    let mut wrong_type = json.clone();
    wrong_type["panels"][1]["gridPos"]["h"] = json!("4");
    let mut unknown = json.clone();
    unknown["panels"][1]["gridpos"] = json!({"h": 4});
    let mut bad_expr = json;
    bad_expr["panels"][1]["targets"][0]["expr"] = json!(5);
    for (what, v, error) in [
        ("gridPos.h a string", wrong_type, "TS2322"),
        ("unknown field gridpos", unknown, "TS2353"),
        ("expr a number", bad_expr, "TS2322"),
    ] {
        let f = dir.join("broken.json");
        std::fs::write(&f, v.to_string()).unwrap();
        let Some((ok, out)) = grafana_check(&[&f]) else {
            return;
        };
        assert!(!ok, "{what}: the check passed: {out}");
        assert!(out.contains(error), "{what}: {out}");
    }
}

/// Every dashboard query (and the PromQL inside each `query_result()` variable), variables
/// substituted, parsed by promtool as the expression of a recording rule; a query with a syntax
/// error must fail the same way.
#[test]
fn dashboard_queries_are_valid_promql() {
    let Some(promtool) = promtool() else { return };
    let vars = [("rack", ".*"), ("node", "n1"), ("datasource", "prometheus")];
    let mut exprs = Vec::new();
    for d in DASHBOARDS {
        let json: Value = serde_json::from_str(&read(&format!("{GRAFANA}/{d}"))).unwrap();
        for q in panel_queries(&json, &vars).unwrap() {
            exprs.push((format!("{d}: {} {}", q.panel, q.ref_id), q.expr));
        }
        for (name, kind, query) in variables(&json) {
            if kind != "query" {
                continue;
            }
            let inner = query
                .strip_prefix("query_result(")
                .and_then(|q| q.strip_suffix(')'))
                .unwrap_or_else(|| panic!("{d} ${name}: not a query_result(): {query}"));
            exprs.push((format!("{d}: ${name}"), substitute(inner, &vars).unwrap()));
        }
    }
    let rules = |exprs: &[(String, String)]| {
        let mut y = String::from("groups:\n  - name: dashboards\n    rules:\n");
        for (i, (what, e)) in exprs.iter().enumerate() {
            y.push_str(&format!(
                "      # {what}\n      - record: dashboard:query_{i}:check\n        expr: {}\n",
                Value::String(e.clone())
            ));
        }
        y
    };
    let check = |yaml: String| {
        let dir = TempDir::new("dash-promql");
        std::fs::write(dir.join("q.yml"), yaml).unwrap();
        run(&promtool, &["check", "rules", "q.yml"], &dir.0)
    };
    let (ok, out) = check(rules(&exprs));
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("{} rules found", exprs.len())),
        "{out}"
    );
    let mut broken = exprs.clone();
    broken[0].1.push_str(" by (");
    let (ok, out) = check(rules(&broken));
    assert!(!ok, "a broken query passed: {out}");
}
