//! The shipped Prometheus rules (`monitoring/prometheus/hvscope.rules.yml`) as tests use them:
//! with every `for:` shortened, so an end-to-end test sees an alert fire within seconds. The
//! rules file keeps to one convention that makes this safe: a line whose first non-blank text is
//! `for: ` is a rule's pending duration and nothing else (README, "Alerts and dashboards").
//! Likewise the example Alertmanager configuration (`monitoring/alertmanager/alertmanager.yml`)
//! with the tests' webhook and short group timings.

/// The receiver URL `monitoring/alertmanager/alertmanager.yml` ships, for tests to replace.
pub const WEBHOOK_PLACEHOLDER: &str = "http://127.0.0.1:9/hvscope-webhook";

/// The Alertmanager example `config` with its webhook URL replaced by `webhook_url`, every
/// `group_wait:` set to `group_wait` and every `group_interval:` and `repeat_interval:` to
/// `interval` (routing and inhibition untouched).
pub fn alertmanager_for_tests(
    config: &str,
    webhook_url: &str,
    group_wait: &str,
    interval: &str,
) -> String {
    let mut out = String::with_capacity(config.len());
    for line in config.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let indent = body.len() - body.trim_start().len();
        let key = body[indent..].split(':').next().unwrap_or("");
        let value = match key {
            "group_wait" => Some(group_wait),
            "group_interval" | "repeat_interval" => Some(interval),
            _ => None,
        };
        match value {
            Some(v) if !body[indent..].starts_with('#') => {
                out.push_str(&format!("{}{key}: {v}", &body[..indent]));
                out.push_str(&line[body.len()..]);
            }
            _ => out.push_str(&line.replace(WEBHOOK_PLACEHOLDER, webhook_url)),
        }
    }
    out
}

/// `rules` with the value of every `for:` key replaced by `to` (e.g. `"0s"`, `"2s"`),
/// indentation kept; comment lines and every other line are left as they are.
pub fn shorten_for(rules: &str, to: &str) -> String {
    let mut out = String::with_capacity(rules.len());
    for line in rules.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let indent = body.len() - body.trim_start().len();
        if body[indent..].starts_with("for: ") {
            out.push_str(&body[..indent]);
            out.push_str("for: ");
            out.push_str(to);
            out.push_str(&line[body.len()..]);
        } else {
            out.push_str(line);
        }
    }
    out
}

/// The `alert:` names of a rules file, in order, each once.
pub fn alert_names(rules: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for l in rules.lines() {
        if let Some(n) = l.trim_start().strip_prefix("- alert: ") {
            let n = n.trim().to_owned();
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names
}

/// The `record:` names of a rules file, in order, each once.
pub fn record_names(rules: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for l in rules.lines() {
        if let Some(n) = l.trim_start().strip_prefix("- record: ") {
            let n = n.trim().to_owned();
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = "groups:\n  - name: g\n    rules:\n      # for: 5m in a comment stays\n      - alert: A\n        expr: up == 0\n        for: 5m\n        labels: {severity: critical}\n      - alert: B\n        expr: up == 2\n        annotations:\n          summary: 'wait for: 1h'\n      - alert: A\n        expr: up == 3\n        for: 1h\n      - record: r:up:sum\n        expr: sum(up)\n";

    #[test]
    fn every_for_key_and_nothing_else_is_shortened() {
        let s = shorten_for(RULES, "0s");
        assert_eq!(s.matches("for: 0s").count(), 2, "{s}");
        assert!(!s.contains("for: 5m\n") && !s.contains("for: 1h\n"), "{s}");
        assert!(s.contains("# for: 5m in a comment stays"));
        assert!(s.contains("summary: 'wait for: 1h'"));
        assert!(s.contains("\n        for: 0s\n"), "indentation kept: {s}");
        assert_eq!(s.lines().count(), RULES.lines().count());
        assert_eq!(
            shorten_for("x\r\n  for: 1m\r\n", "2s"),
            "x\r\n  for: 2s\r\n"
        );
    }

    #[test]
    fn alertmanager_example_gets_the_tests_webhook_and_timings() {
        let am = "route:\n  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 4h\n  routes:\n    - matchers: ['alertname=\"X\"']\n      repeat_interval: 1h\n# group_wait: 30s stays\nreceivers:\n  - name: r\n    webhook_configs:\n      - url: http://127.0.0.1:9/hvscope-webhook\n";
        let s = alertmanager_for_tests(am, "http://127.0.0.1:5000/hook", "1s", "2s");
        assert!(
            s.contains("  group_wait: 1s\n  group_interval: 2s\n  repeat_interval: 2s\n"),
            "{s}"
        );
        assert!(s.contains("\n      repeat_interval: 2s\n"), "{s}");
        assert!(s.contains("# group_wait: 30s stays"));
        assert!(
            s.contains("- url: http://127.0.0.1:5000/hook\n") && !s.contains(WEBHOOK_PLACEHOLDER)
        );
        assert_eq!(s.lines().count(), am.lines().count());
    }

    #[test]
    fn names_of_alerts_and_records() {
        assert_eq!(alert_names(RULES), ["A", "B"]);
        assert_eq!(record_names(RULES), ["r:up:sum"]);
    }
}
