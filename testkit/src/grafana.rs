//! Grafana dashboards (the JSON model of `monitoring/grafana/*.json`) as tests use them: every
//! panel target's PromQL `expr` with the dashboard's template variables (`$rack`, `${node}`,
//! `[[node]]`, `${node:regex}`) and Grafana's built-ins (`$__rate_interval`, `$__interval`,
//! `$__range`…) substituted, ready to send to a real Prometheus. Rows are walked into (collapsed
//! rows keep their panels inside), hidden targets (`"hide": true`) are left out, and a `$name`
//! no value was given for is an error, so a typo in a variable cannot pass as a query that
//! happens to return nothing. `$1` and other all-digit names are left alone, as Grafana does
//! (they are `label_replace` references).

use serde_json::Value;

/// Values the built-in variables get unless the caller gives others: the shortest windows a
/// test with a few seconds of data can still compute a rate over.
pub const BUILTINS: &[(&str, &str)] = &[
    ("__rate_interval", "1m"),
    ("__interval", "15s"),
    ("__interval_ms", "15000"),
    ("__range", "1h"),
    ("__range_s", "3600"),
    ("__range_ms", "3600000"),
];

/// One query of one panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelQuery {
    /// The panel's title (rows included: "Row / Panel").
    pub panel: String,
    /// The target's `refId`.
    pub ref_id: String,
    /// The PromQL expression with every variable substituted.
    pub expr: String,
}

/// Every visible target's `expr` of every panel of `dashboard`, with `vars` (name, value) and
/// then [`BUILTINS`] substituted. Errors name the panel and the variable or field at fault.
pub fn panel_queries(dashboard: &Value, vars: &[(&str, &str)]) -> Result<Vec<PanelQuery>, String> {
    let panels = dashboard
        .get("panels")
        .and_then(Value::as_array)
        .ok_or("not a dashboard: no \"panels\" array")?;
    let mut out = Vec::new();
    walk(panels, "", vars, &mut out)?;
    Ok(out)
}

fn walk(
    panels: &[Value],
    prefix: &str,
    vars: &[(&str, &str)],
    out: &mut Vec<PanelQuery>,
) -> Result<(), String> {
    for p in panels {
        let title = p.get("title").and_then(Value::as_str).unwrap_or("");
        let title = if prefix.is_empty() {
            title.to_owned()
        } else {
            format!("{prefix} / {title}")
        };
        if let Some(inner) = p.get("panels").and_then(Value::as_array) {
            walk(inner, &title, vars, out)?;
        }
        for t in p
            .get("targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if t.get("hide").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let ref_id = t
                .get("refId")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let expr = t
                .get("expr")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("panel {title:?} target {ref_id:?}: no \"expr\" string"))?;
            let expr = substitute(expr, vars)
                .map_err(|e| format!("panel {title:?} target {ref_id:?}: {e}"))?;
            out.push(PanelQuery {
                panel: title.clone(),
                ref_id,
                expr,
            });
        }
    }
    Ok(())
}

fn value_of<'a>(name: &str, vars: &[(&'a str, &'a str)]) -> Option<&'a str> {
    vars.iter()
        .chain(BUILTINS)
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `text` with `$name`, `${name}`, `${name:format}` and `[[name]]` replaced by their values
/// (`vars` first, then [`BUILTINS`]); the format is ignored (values are used as given).
pub fn substitute(text: &str, vars: &[(&str, &str)]) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['$', '[']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (name, len) = if let Some(t) = tail.strip_prefix("${") {
            let end = t
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
            let inner = &t[..end];
            (inner.split([':', '.']).next().unwrap_or(""), end + 3)
        } else if let Some(t) = tail.strip_prefix("[[") {
            match t.find("]]") {
                Some(end) if t[..end].chars().all(|c| is_word(c) || c == ':') && end > 0 => {
                    (t[..end].split(':').next().unwrap_or(""), end + 4)
                }
                // `[[` that is not a variable (PromQL has none, but be exact).
                _ => ("", 0),
            }
        } else if let Some(t) = tail.strip_prefix('$') {
            let end = t.find(|c: char| !is_word(c)).unwrap_or(t.len());
            (&t[..end], end + 1)
        } else {
            ("", 0)
        };
        if len == 0 || name.is_empty() || name.chars().all(|c| c.is_ascii_digit()) {
            // Not a variable: keep the character and go on after it.
            let c = tail.chars().next().expect("non-empty");
            out.push(c);
            rest = &tail[c.len_utf8()..];
            continue;
        }
        let v = value_of(name, vars).ok_or_else(|| format!("no value for variable ${name}"))?;
        out.push_str(v);
        rest = &tail[len..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The template variables of `dashboard`: (name, type, query) for each, `query` being the
/// query string of a `query` variable (`label_values(…)`, `query_result(…)`), else empty.
pub fn variables(dashboard: &Value) -> Vec<(String, String, String)> {
    let list = dashboard
        .pointer("/templating/list")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    list.iter()
        .map(|v| {
            let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let query = match v.get("query") {
                Some(Value::String(q)) => q.clone(),
                Some(Value::Object(o)) => o
                    .get("query")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                _ => String::new(),
            };
            (s("name"), s("type"), query)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dash() -> Value {
        json!({
            "schemaVersion": 39,
            "templating": {"list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus"},
                {"name": "rack", "type": "query", "query": {"query": "query_result(max by (rack) (hvscope_node_up))", "refId": "A"}},
                {"name": "node", "type": "query", "query": "query_result(max by (node) (hvscope_node_up{rack=~\"$rack\"}))"}
            ]},
            "panels": [
                {"title": "Nodes up", "type": "stat", "targets": [
                    {"refId": "A", "expr": "sum(hvscope_node_up{rack=~\"$rack\"})"},
                    {"refId": "B", "expr": "hidden_one", "hide": true}
                ]},
                {"title": "Host", "type": "row", "collapsed": true, "panels": [
                    {"title": "CPU", "type": "timeseries", "targets": [
                        {"refId": "A", "expr": "rate(hvscope_host_cpu_seconds_total{node=\"${node}\"}[$__rate_interval])"},
                        {"refId": "B", "expr": "label_replace(hvscope_vm_info{node=\"[[node]]\", rack=~\"${rack:regex}\"}, \"vm\", \"$1\", \"domain_name\", \"(.*)\")"}
                    ]}
                ]},
                {"title": "Text", "type": "text"}
            ]
        })
    }

    #[test]
    fn every_visible_target_with_variables_substituted() {
        let q = panel_queries(&dash(), &[("rack", "r1"), ("node", "compute-1")]).unwrap();
        let got: Vec<(&str, &str, &str)> = q
            .iter()
            .map(|q| (q.panel.as_str(), q.ref_id.as_str(), q.expr.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("Nodes up", "A", "sum(hvscope_node_up{rack=~\"r1\"})"),
                (
                    "Host / CPU",
                    "A",
                    "rate(hvscope_host_cpu_seconds_total{node=\"compute-1\"}[1m])"
                ),
                (
                    "Host / CPU",
                    "B",
                    "label_replace(hvscope_vm_info{node=\"compute-1\", rack=~\"r1\"}, \"vm\", \"$1\", \"domain_name\", \"(.*)\")"
                ),
            ]
        );
    }

    #[test]
    fn caller_values_override_builtins() {
        let q = panel_queries(
            &dash(),
            &[("rack", ".+"), ("node", "n"), ("__rate_interval", "30s")],
        )
        .unwrap();
        assert!(q[1].expr.ends_with("[30s])"), "{}", q[1].expr);
        assert_eq!(q[0].expr, "sum(hvscope_node_up{rack=~\".+\"})");
    }

    #[test]
    fn a_variable_without_a_value_is_an_error_naming_panel_and_variable() {
        let e = panel_queries(&dash(), &[("rack", "r1")]).unwrap_err();
        assert!(e.contains("Host / CPU") && e.contains("$node"), "{e}");
        assert!(
            substitute("x{a=\"${rack\"", &[])
                .unwrap_err()
                .contains("unclosed")
        );
        assert!(panel_queries(&json!({"title": "x"}), &[]).is_err());
        let no_expr = json!({"panels": [{"title": "P", "targets": [{"refId": "A"}]}]});
        assert!(
            panel_queries(&no_expr, &[])
                .unwrap_err()
                .contains("no \"expr\"")
        );
    }

    #[test]
    fn what_is_not_a_variable_is_kept() {
        let vars = [("x", "1")];
        assert_eq!(
            substitute("a$ b $1 $x [[x]] [5m] [[ ]] $", &vars).unwrap(),
            "a$ b $1 1 1 [5m] [[ ]] $"
        );
        assert_eq!(substitute("${x:csv}/${x}", &vars).unwrap(), "1/1");
        assert_eq!(substitute("$xy", &[("x", "1"), ("xy", "2")]).unwrap(), "2");
    }

    #[test]
    fn template_variables_with_their_queries() {
        let v = variables(&dash());
        assert_eq!(v.len(), 3);
        assert_eq!(v[1].0, "rack");
        assert_eq!(v[1].2, "query_result(max by (rack) (hvscope_node_up))");
        assert_eq!(
            v[2].2,
            "query_result(max by (node) (hvscope_node_up{rack=~\"$rack\"}))"
        );
        assert_eq!(v[0].1, "datasource");
    }
}
