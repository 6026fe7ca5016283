//! Operator rules (`ovs.flow_rule`) from `[[ovs.rules]]`, compiled once: every condition given
//! must hold for a flow to match.

use std::collections::BTreeMap;

use hvscope_parse::ovs::flow::{Flow, Table};
use regex::Regex;

use super::audit::{Dirty, RuleHits};
use super::config::{FlowRuleConfig, RuleSeverity, parse_cookie};

#[derive(Debug)]
struct Rule {
    name: String,
    severity: RuleSeverity,
    bridge: Option<String>,
    table: Option<u8>,
    priority_min: u32,
    priority_max: u32,
    cookie: Option<u64>,
    match_contains: Option<String>,
    match_regex: Option<Regex>,
    actions_contains: Option<String>,
    actions_regex: Option<Regex>,
}

/// The compiled rules.
#[derive(Debug, Default)]
pub struct Rules(Vec<Rule>);

fn regex(rule: &str, field: &str, re: &Option<String>) -> Result<Option<Regex>, String> {
    re.as_deref()
        .map(|r| Regex::new(r).map_err(|e| format!("ovs rule {rule:?}: {field}: {e}")))
        .transpose()
}

impl Rules {
    /// Compiles `[[ovs.rules]]`; refuses empty or duplicate names, bad regexes or cookies,
    /// and rules without any condition (which would match every flow).
    pub fn compile(cfgs: &[FlowRuleConfig]) -> Result<Self, String> {
        let mut out = Vec::with_capacity(cfgs.len());
        for c in cfgs {
            let n = &c.name;
            if n.trim().is_empty() {
                return Err("ovs rule with an empty name".into());
            }
            if out.iter().any(|r: &Rule| r.name == *n) {
                return Err(format!("ovs rule {n:?} defined twice"));
            }
            let cookie = match &c.cookie {
                Some(s) => Some(
                    parse_cookie(s).ok_or_else(|| format!("ovs rule {n:?}: bad cookie {s:?}"))?,
                ),
                None => None,
            };
            let has_condition = c.table.is_some()
                || c.priority_min.is_some()
                || c.priority_max.is_some()
                || cookie.is_some()
                || c.match_contains.is_some()
                || c.match_regex.is_some()
                || c.actions_contains.is_some()
                || c.actions_regex.is_some();
            if !has_condition {
                return Err(format!(
                    "ovs rule {n:?} has no condition: it would match every flow"
                ));
            }
            out.push(Rule {
                name: n.clone(),
                severity: c.severity,
                bridge: c.bridge.clone(),
                table: c.table,
                priority_min: c.priority_min.unwrap_or(0),
                priority_max: c.priority_max.unwrap_or(u32::MAX),
                cookie,
                match_contains: c.match_contains.clone(),
                match_regex: regex(n, "match_regex", &c.match_regex)?,
                actions_contains: c.actions_contains.clone(),
                actions_regex: regex(n, "actions_regex", &c.actions_regex)?,
            });
        }
        Ok(Self(out))
    }

    /// An empty entry per rule, so a rule that matched nothing still shows as 0.
    pub fn empty_hits(&self) -> BTreeMap<String, RuleHits> {
        self.0
            .iter()
            .map(|r| {
                let hits = RuleHits {
                    severity: r.severity,
                    dirty: Dirty::default(),
                };
                (r.name.clone(), hits)
            })
            .collect()
    }

    /// Names of the rules `f` (on `bridge`) matches.
    pub fn matching<'r>(
        &'r self,
        bridge: &'r str,
        f: &'r Flow<'_>,
    ) -> impl Iterator<Item = &'r str> + 'r {
        self.0
            .iter()
            .filter(move |r| r.matches(bridge, f))
            .map(|r| r.name.as_str())
    }
}

impl Rule {
    fn matches(&self, bridge: &str, f: &Flow<'_>) -> bool {
        self.bridge.as_deref().is_none_or(|b| b == bridge)
            && self.table.is_none_or(|t| f.table == Table::Id(t))
            && (self.priority_min..=self.priority_max).contains(&f.priority)
            && self.cookie.is_none_or(|c| c == f.cookie)
            && self
                .match_contains
                .as_deref()
                .is_none_or(|s| f.matches.contains(s))
            && self
                .match_regex
                .as_ref()
                .is_none_or(|r| r.is_match(f.matches))
            && self
                .actions_contains
                .as_deref()
                .is_none_or(|s| f.actions.contains(s))
            && self
                .actions_regex
                .as_ref()
                .is_none_or(|r| r.is_match(f.actions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hvscope_parse::ovs::flow::{Line, parse_line};

    fn rules(toml_text: &str) -> Result<Rules, String> {
        #[derive(serde::Deserialize)]
        struct W {
            rules: Vec<FlowRuleConfig>,
        }
        Rules::compile(&toml::from_str::<W>(toml_text).unwrap().rules)
    }

    #[test]
    fn every_condition_must_hold() {
        let r = rules(
            r#"
[[rules]]
name = "flood"
severity = "critical"
bridge = "br-int"
actions_regex = "(^|,)FLOOD($|,)"
[[rules]]
name = "t60-high"
severity = "warning"
table = 60
priority_min = 100
cookie = "0x5b21e0c4a9d3f176"
match_contains = "in_port="
"#,
        )
        .unwrap();
        let line = " cookie=0x5b21e0c4a9d3f176, duration=1s, table=60, n_packets=0, n_bytes=0, priority=100,in_port=37 actions=FLOOD";
        let Line::Flow(f) = parse_line(line).unwrap() else {
            panic!()
        };
        let names: Vec<_> = r.matching("br-int", &f).collect();
        assert_eq!(names, ["flood", "t60-high"]);
        let names: Vec<_> = r.matching("br-tun", &f).collect();
        assert_eq!(names, ["t60-high"]);
        let Line::Flow(g) = parse_line("table=60, priority=99,in_port=1 actions=drop").unwrap()
        else {
            panic!()
        };
        assert_eq!(r.matching("br-int", &g).count(), 0);
        assert_eq!(r.empty_hits()["flood"].severity, RuleSeverity::Critical);
    }

    #[test]
    fn bad_rules_are_refused() {
        let e = rules("[[rules]]\nname='x'\nseverity='warning'\n")
            .err()
            .unwrap();
        assert!(e.contains("no condition"), "{e}");
        let e = rules("[[rules]]\nname='x'\nseverity='warning'\nmatch_regex='('\n")
            .err()
            .unwrap();
        assert!(e.contains("match_regex"), "{e}");
        let e = rules("[[rules]]\nname='x'\nseverity='warning'\ncookie='0xzz'\n")
            .err()
            .unwrap();
        assert!(e.contains("cookie"), "{e}");
        let two = "[[rules]]\nname='x'\nseverity='warning'\ntable=1\n";
        let e = rules(&format!("{two}{two}")).err().unwrap();
        assert!(e.contains("twice"), "{e}");
    }
}
