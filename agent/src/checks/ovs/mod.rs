//! Dirty OpenFlow flows (DESIGN.md §3): `ovs.flow_missing_port`, `ovs.flow_stale_cookie`,
//! `ovs.flow_unknown_mac`, `ovs.flow_rule`. The judgement of each flow happens while the dump
//! streams (in the source: [`crate::sources::ovs::audit`]), so 100k flows are never held; these
//! checks turn each bridge's [`FlowAudit`] into findings: the examples kept, plus one summary finding
//! when more flows were dirty than examples kept. A bridge whose flows could not be read has no
//! audit and yields nothing here (the snapshot's error makes it unknown).

use crate::sources::ovs::audit::{Dirty, FlowAudit};
use crate::sources::ovs::config::RuleSeverity;

use super::{Check, Finding, Severity};
use crate::snapshot::Snapshot;

/// One of the audit's fixed dirty-flow kinds, with its id and severity.
pub struct FlowCheck {
    id: &'static str,
    severity: Severity,
    dirty: fn(&FlowAudit) -> &Dirty,
}

/// `ovs.flow_missing_port`: output to, or `in_port` of, a port no interface on the bridge has.
pub const FLOW_MISSING_PORT: FlowCheck = FlowCheck {
    id: "ovs.flow_missing_port",
    severity: Severity::Critical,
    dirty: |a| &a.missing_port,
};
/// `ovs.flow_stale_cookie`: a cookie outside the configured owned set.
pub const FLOW_STALE_COOKIE: FlowCheck = FlowCheck {
    id: "ovs.flow_stale_cookie",
    severity: Severity::Warning,
    dirty: |a| &a.stale_cookie,
};
/// `ovs.flow_unknown_mac`: a VM-prefix MAC that no interface's attached-mac carries.
pub const FLOW_UNKNOWN_MAC: FlowCheck = FlowCheck {
    id: "ovs.flow_unknown_mac",
    severity: Severity::Warning,
    dirty: |a| &a.unknown_mac,
};
/// `ovs.flow_rule`: an operator rule matched.
pub struct FlowRule;

/// The four OVS checks.
pub fn checks() -> Vec<Box<dyn Check>> {
    vec![
        Box::new(FLOW_MISSING_PORT),
        Box::new(FLOW_STALE_COOKIE),
        Box::new(FLOW_UNKNOWN_MAC),
        Box::new(FlowRule),
    ]
}

fn audits(snap: &Snapshot) -> impl Iterator<Item = (&str, &FlowAudit)> {
    snap.ovs
        .iter()
        .flat_map(|o| &o.bridges)
        .filter_map(|b| Some((b.name.as_str(), b.flows.as_deref()?)))
}

fn findings(id: &str, severity: Severity, bridge: &str, d: &Dirty, out: &mut Vec<Finding>) {
    for e in &d.examples {
        let prio = e.priority.to_string();
        let mut subject = vec![
            ("bridge", bridge),
            ("table", e.table.as_str()),
            ("priority", prio.as_str()),
            ("cookie", e.cookie.as_str()),
        ];
        if !e.key.is_empty() {
            subject.push((e.key, e.value.as_str()));
        }
        out.push(Finding::new(
            id,
            severity,
            &subject,
            format!("{}: {}", e.why, e.flow),
        ));
    }
    let more = d.count.saturating_sub(d.examples.len() as u64);
    if more > 0 {
        let n = more.to_string();
        out.push(Finding::new(
            id,
            severity,
            &[("bridge", bridge), ("more_flows", n.as_str())],
            format!(
                "{more} more flows on {bridge} fail {id} ({} in all)",
                d.count
            ),
        ));
    }
}

impl Check for FlowCheck {
    fn id(&self) -> &'static str {
        self.id
    }
    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let mut out = Vec::new();
        for (bridge, a) in audits(snap) {
            findings(self.id, self.severity, bridge, (self.dirty)(a), &mut out);
        }
        out
    }
}

impl Check for FlowRule {
    fn id(&self) -> &'static str {
        "ovs.flow_rule"
    }
    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let mut out = Vec::new();
        for (bridge, a) in audits(snap) {
            for hits in a.rules.values() {
                let severity = match hits.severity {
                    RuleSeverity::Warning => Severity::Warning,
                    RuleSeverity::Critical => Severity::Critical,
                };
                findings(self.id(), severity, bridge, &hits.dirty, &mut out);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
