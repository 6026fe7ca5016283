//! Open findings as series, pure: each batch's complete set of findings becomes
//! `hvscope_finding{node, rack…, check, severity, <subject keys>} 1`, so that a Prometheus alert
//! rule carries the exact subject into Alertmanager.
//!
//! - Subject keys become label names, sanitised to Prometheus' `[a-zA-Z_][a-zA-Z0-9_]*`; a key
//!   that would collide with a label the series already has (`node`, the hello's static labels,
//!   `check`, `severity`, `folded`, `__name__`) or that starts with `__` is prefixed `subject_`.
//!   Values are cut at [`MAX_VALUE_BYTES`].
//! - A subject key `more_<what>` counts findings the agent folded itself (OVS: flows beyond the
//!   examples it names): the label says `"true"` and the count is the series' value, so the
//!   label set does not change with the count.
//! - Per node and check at most `max_per_check` findings get their own series; the rest of each
//!   (check, severity) is one series with `folded="true"` whose value is how many it stands for.
//!   Findings that had their own series in the previous batch keep it before new ones get one,
//!   so a new finding never moves an alerting one into the fold.
//!
//! Clearing is the caller's: a series of the previous batch that this one lacks gets a stale
//! marker ([`super::STALE_NAN`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use hvscope_proto::v1::{Finding, Severity};

use crate::labels::Labels;

/// Name of the finding series.
pub const FINDING: &str = "hvscope_finding";
/// Longest label value kept from a subject, bytes (cut at a character boundary).
pub const MAX_VALUE_BYTES: usize = 256;
/// Most subject keys kept per finding (the agent's checks use at most six).
pub const MAX_SUBJECT_KEYS: usize = 16;
/// Default bound per node and check id.
pub const DEFAULT_MAX_PER_CHECK: usize = 20;

/// A finding's identity: its check and its subject as sent (sorted pairs).
pub type FindingKey = (String, Vec<(String, String)>);

/// The identity of `f`.
pub fn key(f: &Finding) -> FindingKey {
    let mut subject: Vec<(String, String)> = f
        .subject
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    subject.sort();
    (f.check.clone(), subject)
}

/// The label value of a severity.
pub fn severity_name(s: i32) -> &'static str {
    match Severity::try_from(s) {
        Ok(Severity::Ok) => "ok",
        Ok(Severity::Warning) => "warning",
        Ok(Severity::Critical) => "critical",
        Ok(Severity::Unknown) => "unknown",
        _ => "unspecified",
    }
}

/// `name` as a Prometheus label name: characters outside `[a-zA-Z0-9_]` become `_`, a leading
/// digit (or an empty name) gets a `_` in front.
pub fn sanitize_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn cut(value: &str) -> String {
    if value.len() <= MAX_VALUE_BYTES {
        return value.to_owned();
    }
    let mut end = MAX_VALUE_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}

const OWN: [&str; 4] = ["__name__", "check", "severity", "folded"];

/// The series of one batch's findings and the keys of the findings that got their own series.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FindingSeries {
    /// Label sets (sorted) with their value.
    pub series: Vec<(Labels, f64)>,
    /// Findings shown with their own series (pass them back as `shown_before` next batch).
    pub shown: HashSet<FindingKey>,
}

/// The series for `findings` of one node. `base` holds the node's own labels (`node` and the
/// hello's static labels, sorted or not); `shown_before` the previous batch's `shown`.
pub fn series(
    findings: &[Finding],
    base: &[(String, String)],
    max_per_check: usize,
    shown_before: &HashSet<FindingKey>,
) -> FindingSeries {
    let mut by_check: BTreeMap<&str, Vec<(FindingKey, &Finding)>> = BTreeMap::new();
    for f in findings {
        by_check.entry(&f.check).or_default().push((key(f), f));
    }
    let taken: HashSet<&str> = base.iter().map(|(n, _)| n.as_str()).chain(OWN).collect();
    let mut out = FindingSeries::default();
    // Two findings may map to one label set (keys that sanitise alike, a value cut short, a
    // duplicate from the agent): one series, its values summed.
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut push = |out: &mut FindingSeries, labels: Vec<(String, String)>, v: f64| {
        let labels = Labels::from_pairs(&labels);
        match index.get(&labels) {
            Some(&i) => out.series[i].1 += v,
            None => {
                index.insert(labels.clone(), out.series.len());
                out.series.push((labels, v));
            }
        }
    };
    for (check, mut list) in by_check {
        // Shown last time first, then the rest; each part in key order (stable).
        list.sort_by(|a, b| {
            let (sa, sb) = (shown_before.contains(&a.0), shown_before.contains(&b.0));
            sb.cmp(&sa).then_with(|| a.0.cmp(&b.0))
        });
        list.dedup_by(|a, b| a.0 == b.0);
        let mut folded: BTreeMap<&'static str, f64> = BTreeMap::new();
        for (i, (k, f)) in list.into_iter().enumerate() {
            let severity = severity_name(f.severity);
            if i >= max_per_check {
                *folded.entry(severity).or_default() += 1.0;
                continue;
            }
            let mut labels: Vec<(String, String)> = base.to_vec();
            labels.push(("__name__".into(), FINDING.into()));
            labels.push(("check".into(), check.to_owned()));
            labels.push(("severity".into(), severity.to_owned()));
            let mut value = 1.0;
            for (name, v) in k.1.iter().take(MAX_SUBJECT_KEYS) {
                let mut name = sanitize_name(name);
                if name.starts_with("__") || taken.contains(name.as_str()) {
                    name.insert_str(0, "subject_");
                }
                if name.starts_with("more_") {
                    value = v.parse::<f64>().ok().filter(|n| *n >= 1.0).unwrap_or(1.0);
                    labels.push((name, "true".into()));
                } else {
                    labels.push((name, cut(v)));
                }
            }
            labels.sort();
            labels.dedup_by(|a, b| a.0 == b.0);
            push(&mut out, labels, value);
            out.shown.insert(k);
        }
        for (severity, n) in folded {
            let mut labels: Vec<(String, String)> = base.to_vec();
            labels.push(("__name__".into(), FINDING.into()));
            labels.push(("check".into(), check.to_owned()));
            labels.push(("severity".into(), severity.to_owned()));
            labels.push(("folded".into(), "true".into()));
            labels.sort();
            push(&mut out, labels, n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hvscope_proto::v1::Label;

    fn finding(check: &str, sev: Severity, subject: &[(&str, &str)]) -> Finding {
        Finding {
            check: check.into(),
            severity: sev as i32,
            subject: subject
                .iter()
                .map(|(n, v)| Label {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
            message: "m".into(),
        }
    }

    fn base() -> Vec<(String, String)> {
        vec![("node".into(), "n1".into()), ("rack".into(), "r1".into())]
    }

    fn get<'a>(l: &'a Labels, name: &str) -> Option<&'a str> {
        l.get(name)
    }

    #[test]
    fn a_drift_becomes_one_series_with_its_subject() {
        let f = [finding(
            "pinning.affinity_drift",
            Severity::Critical,
            &[
                ("domain_uuid", "u-1"),
                ("domain_name", "web-a"),
                ("vcpu", "1"),
            ],
        )];
        let s = series(&f, &base(), 20, &HashSet::new());
        assert_eq!(s.series.len(), 1);
        let (l, v) = &s.series[0];
        assert_eq!(*v, 1.0);
        let names: Vec<&str> = l.pairs().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "__name__",
                "check",
                "domain_name",
                "domain_uuid",
                "node",
                "rack",
                "severity",
                "vcpu"
            ]
        );
        assert_eq!(get(l, "__name__"), Some(FINDING));
        assert_eq!(get(l, "severity"), Some("critical"));
        assert_eq!(get(l, "vcpu"), Some("1"));
        assert_eq!(s.shown.len(), 1);
    }

    #[test]
    fn names_are_sanitised_and_collisions_prefixed() {
        let f = [finding(
            "x.y",
            Severity::Warning,
            &[
                ("node", "claimed"),
                ("rack", "r9"),
                ("check", "c"),
                ("__name__", "evil"),
                ("0day", "a"),
                ("mount-point", "/"),
                ("", "e"),
                ("__x", "y"),
            ],
        )];
        let s = series(&f, &base(), 20, &HashSet::new());
        let l = &s.series[0].0;
        assert_eq!(get(l, "node"), Some("n1"));
        assert_eq!(get(l, "rack"), Some("r1"));
        assert_eq!(get(l, "check"), Some("x.y"));
        assert_eq!(get(l, "__name__"), Some(FINDING));
        assert_eq!(get(l, "subject_node"), Some("claimed"));
        assert_eq!(get(l, "subject_rack"), Some("r9"));
        assert_eq!(get(l, "subject_check"), Some("c"));
        assert_eq!(get(l, "subject___name__"), Some("evil"));
        assert_eq!(get(l, "_0day"), Some("a"));
        assert_eq!(get(l, "mount_point"), Some("/"));
        assert_eq!(get(l, "_"), Some("e"));
        assert_eq!(get(l, "subject___x"), Some("y"));
        for (n, _) in l.pairs() {
            assert!(
                n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !n.starts_with(|c: char| c.is_ascii_digit()),
                "{n}"
            );
        }
        let mut sorted = l.to_vec();
        sorted.sort();
        assert_eq!(l.to_vec(), sorted);
    }

    #[test]
    fn long_values_are_cut_on_a_char_boundary() {
        let long = "é".repeat(200);
        let f = [finding("c", Severity::Warning, &[("k", &long)])];
        let s = series(&f, &base(), 20, &HashSet::new());
        let v = get(&s.series[0].0, "k").unwrap();
        assert!(v.len() <= MAX_VALUE_BYTES && v.len() >= MAX_VALUE_BYTES - 1);
        assert!(long.starts_with(v));
    }

    #[test]
    fn more_keys_are_counts_not_label_values() {
        let f = [finding(
            "ovs.flow_stale_cookie",
            Severity::Warning,
            &[("bridge", "br-int"), ("more_flows", "17")],
        )];
        let s = series(&f, &base(), 20, &HashSet::new());
        assert_eq!(get(&s.series[0].0, "more_flows"), Some("true"));
        assert_eq!(s.series[0].1, 17.0);
        let g = [finding(
            "ovs.flow_stale_cookie",
            Severity::Warning,
            &[("bridge", "br-int"), ("more_flows", "18")],
        )];
        let t = series(&g, &base(), 20, &s.shown);
        assert_eq!(t.series[0].0, s.series[0].0, "no churn with the count");
        assert_eq!(t.series[0].1, 18.0);
        let bad = [finding("c", Severity::Warning, &[("more_x", "lots")])];
        assert_eq!(series(&bad, &base(), 20, &HashSet::new()).series[0].1, 1.0);
    }

    fn many(n: usize, sev: Severity) -> Vec<Finding> {
        (0..n)
            .map(|i| {
                let s = format!("session{i:03}");
                finding("iscsi.session_down", sev, &[("session", &s)])
            })
            .collect()
    }

    #[test]
    fn the_bound_folds_the_rest_per_severity() {
        let mut f = many(25, Severity::Critical);
        f.push(finding(
            "iscsi.session_down",
            Severity::Warning,
            &[("session", "session999")],
        ));
        f.push(finding(
            "host.daemon_down",
            Severity::Critical,
            &[("daemon", "iscsid")],
        ));
        let s = series(&f, &base(), 20, &HashSet::new());
        let of_check = |c: &str| {
            s.series
                .iter()
                .filter(|(l, _)| get(l, "check") == Some(c))
                .collect::<Vec<_>>()
        };
        let iscsi = of_check("iscsi.session_down");
        assert_eq!(iscsi.len(), 20 + 2, "20 own, one folded per severity");
        let folded: Vec<(&str, f64)> = iscsi
            .iter()
            .filter(|(l, _)| get(l, "folded") == Some("true"))
            .map(|(l, v)| (get(l, "severity").unwrap(), *v))
            .collect();
        assert_eq!(folded, [("critical", 5.0), ("warning", 1.0)]);
        assert_eq!(of_check("host.daemon_down").len(), 1);
        assert_eq!(s.shown.len(), 21);
        let total: f64 = iscsi.iter().map(|(_, v)| v).sum();
        assert_eq!(total, 26.0, "every finding counted once");
    }

    #[test]
    fn findings_shown_before_keep_their_series() {
        let first = many(20, Severity::Critical);
        let s = series(&first, &base(), 20, &HashSet::new());
        // A new finding that sorts first arrives: the 20 shown keep theirs, it is folded.
        let mut next = first.clone();
        next.push(finding(
            "iscsi.session_down",
            Severity::Critical,
            &[("session", "session-")],
        ));
        let t = series(&next, &base(), 20, &s.shown);
        assert_eq!(t.shown, s.shown);
        let before: HashSet<&Labels> = s.series.iter().map(|(l, _)| l).collect();
        assert!(
            t.series
                .iter()
                .filter(|(l, _)| get(l, "folded").is_none())
                .all(|(l, _)| before.contains(l))
        );
        // One clears: the new one takes its place.
        let u = series(&next[1..], &base(), 20, &t.shown);
        assert_eq!(u.series.len(), 20);
        assert!(u.series.iter().all(|(l, _)| get(l, "folded").is_none()));
    }

    #[test]
    fn duplicates_and_colliding_keys_make_one_series() {
        let a = finding("c", Severity::Warning, &[("a-b", "1")]);
        let b = finding("c", Severity::Warning, &[("a_b", "1")]);
        let s = series(&[a.clone(), a, b], &base(), 20, &HashSet::new());
        assert_eq!(s.series.len(), 1);
        assert_eq!(
            s.series[0].1, 2.0,
            "a twice is one finding; b maps to its labels"
        );
    }

    #[test]
    fn no_findings_no_series() {
        let s = series(&[], &base(), 20, &HashSet::new());
        assert!(s.series.is_empty() && s.shown.is_empty());
    }
}
