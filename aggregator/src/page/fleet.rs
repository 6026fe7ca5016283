//! The fleet summary (`GET /api/v1/fleet`, what the page polls) and the open findings
//! (`GET /api/v1/findings`), built purely from the node store's JSON view: racks with their
//! nodes (up or silent since when), whole racks down first, and every open finding with its node
//! and rack, worst first.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Liveness;
use crate::nodes::liveness::{NodeState, racks_down};
use crate::nodes::{FindingView, NodeView};

/// Longest filter value accepted in a query (400 beyond).
pub const MAX_FILTER_BYTES: usize = 256;

/// A node as the page lists it.
#[derive(Debug, Serialize)]
pub struct NodeSummary {
    pub node: String,
    /// A stream is open and the node was heard from within the staleness window.
    pub up: bool,
    pub connected: bool,
    /// When the node was last heard from (ms); "silent since" when not up.
    pub last_seen_ms: i64,
    pub agent_version: String,
    pub image_version: String,
    pub critical: usize,
    pub warning: usize,
    pub unknown: usize,
}

/// A rack and its nodes.
#[derive(Debug, Serialize)]
pub struct RackSummary {
    /// The hello's `rack` label; `""` for nodes without one.
    pub rack: String,
    /// Every node (two or more) silent at once: `hvscope_rack_down{rack}` is 1.
    pub down: bool,
    pub up: usize,
    pub nodes: Vec<NodeSummary>,
}

/// One open finding with where it is. `since_ms` and any later field of the node view's
/// finding come along as they are.
#[derive(Debug, Serialize)]
pub struct FindingEntry {
    pub node: String,
    pub rack: String,
    #[serde(flatten)]
    pub finding: FindingView,
}

/// Counts over the fleet.
#[derive(Debug, Default, Serialize)]
pub struct Totals {
    pub racks: usize,
    pub racks_down: usize,
    pub nodes: usize,
    pub up: usize,
    pub critical: usize,
    pub warning: usize,
    pub unknown: usize,
}

/// `GET /api/v1/fleet`.
#[derive(Debug, Serialize)]
pub struct FleetView {
    pub generated_ms: i64,
    pub stale_after_ms: i64,
    pub totals: Totals,
    /// Racks down first, then by name.
    pub racks: Vec<RackSummary>,
    /// Worst first (critical, warning, unknown), then by check, node, subject.
    pub findings: Vec<FindingEntry>,
}

/// `GET /api/v1/findings`.
#[derive(Debug, Serialize)]
pub struct FindingsView {
    pub generated_ms: i64,
    pub findings: Vec<FindingEntry>,
}

/// Filters of `GET /api/v1/findings` (each optional, all must hold).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingsQuery {
    /// Exact rack.
    pub rack: Option<String>,
    /// Exact node.
    pub node: Option<String>,
    /// Exact check id, or a prefix ending in `.` (`pinning.`).
    pub check: Option<String>,
    /// Comma-separated severities (`critical,warning`).
    pub severity: Option<String>,
}

/// A filter the API refuses (400).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("filter {name} is {len} bytes, over the {MAX_FILTER_BYTES}-byte limit")]
    TooLong { name: &'static str, len: usize },
    #[error("unknown severity {0:?} (critical, warning, unknown)")]
    Severity(String),
}

/// [`FindingsQuery`] checked.
#[derive(Debug, Default)]
pub struct Filter {
    rack: Option<String>,
    node: Option<String>,
    check: Option<String>,
    severities: Option<Vec<String>>,
}

impl Filter {
    /// Validates the query.
    pub fn new(q: FindingsQuery) -> Result<Self, FilterError> {
        for (name, v) in [
            ("rack", &q.rack),
            ("node", &q.node),
            ("check", &q.check),
            ("severity", &q.severity),
        ] {
            if let Some(v) = v
                && v.len() > MAX_FILTER_BYTES
            {
                return Err(FilterError::TooLong { name, len: v.len() });
            }
        }
        let severities = match q.severity.as_deref() {
            None | Some("") => None,
            Some(s) => Some(
                s.split(',')
                    .map(|v| match v.trim() {
                        x @ ("critical" | "warning" | "unknown") => Ok(x.to_owned()),
                        x => Err(FilterError::Severity(x.to_owned())),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let some = |v: Option<String>| v.filter(|v| !v.is_empty());
        Ok(Self {
            rack: some(q.rack),
            node: some(q.node),
            check: some(q.check),
            severities,
        })
    }

    fn keeps(&self, f: &FindingEntry) -> bool {
        self.rack.as_ref().is_none_or(|r| *r == f.rack)
            && self.node.as_ref().is_none_or(|n| *n == f.node)
            && self.check.as_ref().is_none_or(|c| {
                if c.ends_with('.') {
                    f.finding.check.starts_with(c.as_str())
                } else {
                    *c == f.finding.check
                }
            })
            && self
                .severities
                .as_ref()
                .is_none_or(|s| s.iter().any(|s| s == f.finding.severity))
    }
}

/// Sort rank of a severity: critical, warning, unknown, anything else.
pub fn severity_rank(s: &str) -> u8 {
    match s {
        "critical" => 0,
        "warning" => 1,
        "unknown" => 2,
        _ => 3,
    }
}

/// The node's rack label, `""` without one.
pub fn rack_of(n: &NodeView) -> &str {
    n.labels.get("rack").map_or("", String::as_str)
}

/// Whether the node counts as up at `now_ms` (the rule of `hvscope_node_up`).
pub fn is_up(n: &NodeView, now_ms: i64, live: &Liveness) -> bool {
    n.connected && now_ms.saturating_sub(n.last_seen_ms) <= live.stale_after_ms
}

fn sort_findings(v: &mut [FindingEntry]) {
    v.sort_by(|a, b| {
        (
            severity_rank(a.finding.severity),
            &a.finding.check,
            &a.node,
            &a.finding.subject,
        )
            .cmp(&(
                severity_rank(b.finding.severity),
                &b.finding.check,
                &b.node,
                &b.finding.subject,
            ))
    });
}

fn entries(nodes: Vec<NodeView>) -> (Vec<FindingEntry>, Vec<NodeView>) {
    let mut out = Vec::new();
    let mut rest = Vec::with_capacity(nodes.len());
    for mut n in nodes {
        let rack = rack_of(&n).to_owned();
        for finding in std::mem::take(&mut n.findings) {
            out.push(FindingEntry {
                node: n.node.clone(),
                rack: rack.clone(),
                finding,
            });
        }
        rest.push(n);
    }
    sort_findings(&mut out);
    (out, rest)
}

/// The open findings that `filter` keeps, worst first.
pub fn findings(nodes: Vec<NodeView>, filter: &Filter, now_ms: i64) -> FindingsView {
    let (mut findings, _) = entries(nodes);
    findings.retain(|f| filter.keeps(f));
    FindingsView {
        generated_ms: now_ms,
        findings,
    }
}

/// The fleet summary at `now_ms`.
pub fn fleet(nodes: Vec<NodeView>, now_ms: i64, live: &Liveness) -> FleetView {
    let states: Vec<NodeState> = nodes
        .iter()
        .filter(|n| n.batches > 0)
        .map(|n| NodeState {
            rack: rack_of(n).to_owned(),
            up: is_up(n, now_ms, live),
            last_seen_ms: n.last_seen_ms,
        })
        .collect();
    let down = racks_down(&states, live.rack_window_ms);
    let mut totals = Totals::default();
    let mut racks: BTreeMap<String, RackSummary> = BTreeMap::new();
    for n in &nodes {
        let rack = rack_of(n);
        let count = |s: &str| n.findings.iter().filter(|f| f.severity == s).count();
        let summary = NodeSummary {
            node: n.node.clone(),
            up: is_up(n, now_ms, live),
            connected: n.connected,
            last_seen_ms: n.last_seen_ms,
            agent_version: n.agent_version.clone(),
            image_version: n.image_version.clone(),
            critical: count("critical"),
            warning: count("warning"),
            unknown: count("unknown"),
        };
        totals.nodes += 1;
        totals.up += usize::from(summary.up);
        totals.critical += summary.critical;
        totals.warning += summary.warning;
        totals.unknown += summary.unknown;
        let r = racks.entry(rack.to_owned()).or_insert_with(|| RackSummary {
            rack: rack.to_owned(),
            down: down.get(rack).copied().unwrap_or(false),
            up: 0,
            nodes: Vec::new(),
        });
        r.up += usize::from(summary.up);
        r.nodes.push(summary);
    }
    let mut racks: Vec<RackSummary> = racks.into_values().collect();
    racks.sort_by(|a, b| (!a.down, &a.rack).cmp(&(!b.down, &b.rack)));
    totals.racks = racks.len();
    totals.racks_down = racks.iter().filter(|r| r.down).count();
    let (findings, _) = entries(nodes);
    FleetView {
        generated_ms: now_ms,
        stale_after_ms: live.stale_after_ms,
        totals,
        racks,
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(
        name: &str,
        rack: &str,
        connected: bool,
        seen: i64,
        findings: &[(&str, &'static str)],
    ) -> NodeView {
        let mut labels = BTreeMap::new();
        if !rack.is_empty() {
            labels.insert("rack".to_owned(), rack.to_owned());
        }
        NodeView {
            node: name.to_owned(),
            connected,
            last_seen_ms: seen,
            series: 0,
            findings: findings
                .iter()
                .map(|(check, severity)| FindingView {
                    check: (*check).to_owned(),
                    severity,
                    subject: BTreeMap::from([("vcpu".to_owned(), "0".to_owned())]),
                    message: "m".to_owned(),
                    since_ms: seen - 5_000,
                })
                .collect(),
            labels,
            claimed_node: String::new(),
            agent_version: "0.1.0".to_owned(),
            image_version: "img-7".to_owned(),
            boot_id: String::new(),
            last_seq: 1,
            stream_first_seq: Some(1),
            batches: 1,
            samples: 1,
            series_values: None,
        }
    }

    const LIVE: Liveness = Liveness {
        stale_after_ms: 60_000,
        rack_window_ms: 30_000,
    };

    #[test]
    fn racks_down_first_silent_nodes_and_findings_worst_first() {
        let now = 1_000_000;
        let nodes = vec![
            node(
                "a1",
                "ra",
                true,
                now - 1_000,
                &[("host.rootfs_fill", "warning")],
            ),
            node("a2", "ra", true, now - 70_000, &[]),
            node("b1", "rb", false, now - 100_000, &[]),
            node(
                "b2",
                "rb",
                false,
                now - 90_000,
                &[("pinning.affinity_drift", "critical")],
            ),
            node("c1", "", true, now, &[("agent.source_unknown", "unknown")]),
        ];
        let v = fleet(nodes, now, &LIVE);
        let racks: Vec<(&str, bool, usize)> = v
            .racks
            .iter()
            .map(|r| (r.rack.as_str(), r.down, r.up))
            .collect();
        assert_eq!(
            racks,
            vec![("rb", true, 0), ("", false, 1), ("ra", false, 1)]
        );
        assert!(!v.racks[2].nodes[1].up, "a2 silent past the stale window");
        assert_eq!(v.totals.nodes, 5);
        assert_eq!(v.totals.up, 2);
        assert_eq!(v.totals.racks_down, 1);
        let order: Vec<&str> = v
            .findings
            .iter()
            .map(|f| f.finding.check.as_str())
            .collect();
        assert_eq!(
            order,
            vec![
                "pinning.affinity_drift",
                "host.rootfs_fill",
                "agent.source_unknown"
            ]
        );
        assert_eq!(v.findings[0].node, "b2");
        assert_eq!(v.findings[0].rack, "rb");
        let json = serde_json::to_value(&v.findings[0]).unwrap();
        assert_eq!(
            json["check"], "pinning.affinity_drift",
            "finding fields are flattened"
        );
        assert_eq!(json["subject"]["vcpu"], "0");
        assert_eq!(
            json["since_ms"],
            now - 90_000 - 5_000,
            "since_ms comes along"
        );
    }

    #[test]
    fn filters_and_their_errors() {
        let now = 10;
        let nodes = || {
            vec![
                node(
                    "a1",
                    "ra",
                    true,
                    now,
                    &[
                        ("pinning.affinity_drift", "critical"),
                        ("host.daemon_down", "critical"),
                    ],
                ),
                node(
                    "b1",
                    "rb",
                    true,
                    now,
                    &[("pinning.numa_mismatch", "warning")],
                ),
            ]
        };
        let q = |rack: Option<&str>, node: Option<&str>, check: Option<&str>, sev: Option<&str>| {
            Filter::new(FindingsQuery {
                rack: rack.map(Into::into),
                node: node.map(Into::into),
                check: check.map(Into::into),
                severity: sev.map(Into::into),
            })
        };
        let n = |f: Filter| findings(nodes(), &f, now).findings.len();
        assert_eq!(n(q(None, None, None, None).unwrap()), 3);
        assert_eq!(n(q(Some("ra"), None, None, None).unwrap()), 2);
        assert_eq!(n(q(None, Some("b1"), None, None).unwrap()), 1);
        assert_eq!(n(q(None, None, Some("pinning."), None).unwrap()), 2);
        assert_eq!(n(q(None, None, Some("pinning"), None).unwrap()), 0);
        assert_eq!(n(q(None, None, None, Some("warning,critical")).unwrap()), 3);
        assert_eq!(n(q(None, None, None, Some("warning")).unwrap()), 1);
        assert_eq!(n(q(Some(""), None, None, Some("")).unwrap()), 3);
        assert_eq!(
            q(None, None, None, Some("fatal")).unwrap_err(),
            FilterError::Severity("fatal".into())
        );
        let long = "x".repeat(MAX_FILTER_BYTES + 1);
        assert!(matches!(
            q(None, Some(&long), None, None),
            Err(FilterError::TooLong { name: "node", .. })
        ));
    }
}
