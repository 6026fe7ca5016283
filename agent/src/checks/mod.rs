//! Checks: invariants over one collected [`Snapshot`], each a small type with a check id
//! (DESIGN.md §3) and a pure `run`. A part of the snapshot that could not be read yields an
//! `unknown` finding, never a violation and never "fine".

pub mod host;
pub mod iscsi;
pub mod net;
pub mod ovs;
#[cfg(test)]
pub(crate) mod testtree;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::snapshot::Snapshot;

pub mod pinning;

/// Severity of a finding, in the Nagios plugin sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Warning,
    Critical,
    /// A source could not be read: the invariant could not be checked.
    Unknown,
}

impl Severity {
    /// Rank for "worst first": critical, unknown, warning, ok.
    pub fn rank(self) -> u8 {
        match self {
            Severity::Critical => 3,
            Severity::Unknown => 2,
            Severity::Warning => 1,
            Severity::Ok => 0,
        }
    }

    /// Upper-case name, as `check --format text` prints it.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Ok => "OK",
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
            Severity::Unknown => "UNKNOWN",
        }
    }

    /// The protocol's enum value.
    pub fn to_proto(self) -> hvscope_proto::v1::Severity {
        use hvscope_proto::v1::Severity as P;
        match self {
            Severity::Ok => P::Ok,
            Severity::Warning => P::Warning,
            Severity::Critical => P::Critical,
            Severity::Unknown => P::Unknown,
        }
    }
}

/// One finding (DESIGN.md §3 JSON shape; `subject` values are strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: String,
    pub severity: Severity,
    pub subject: BTreeMap<String, String>,
    pub message: String,
}

/// Check id of the finding emitted for an unreadable source.
pub const SOURCE_UNKNOWN: &str = "agent.source_unknown";

impl Finding {
    /// A finding of `check` with `subject` pairs.
    pub fn new(
        check: &str,
        severity: Severity,
        subject: &[(&str, &str)],
        message: impl Into<String>,
    ) -> Self {
        Self {
            check: check.to_owned(),
            severity,
            subject: subject
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            message: message.into(),
        }
    }

    /// The protocol's form.
    pub fn to_proto(&self) -> hvscope_proto::v1::Finding {
        hvscope_proto::v1::Finding {
            check: self.check.clone(),
            severity: self.severity.to_proto() as i32,
            subject: self
                .subject
                .iter()
                .map(|(k, v)| hvscope_proto::v1::Label {
                    name: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            message: self.message.clone(),
        }
    }

    /// One line for an operator: `CRITICAL check k=v …: message`.
    pub fn text_line(&self) -> String {
        let mut s = format!("{:<8} {}", self.severity.label(), self.check);
        for (k, v) in &self.subject {
            s.push(' ');
            s.push_str(k);
            s.push('=');
            s.push_str(v);
        }
        s.push_str(": ");
        s.push_str(&self.message);
        s
    }
}

/// An invariant over a snapshot.
pub trait Check: Send + Sync {
    /// The check id (`pinning.affinity_drift`, …); findings carry it.
    fn id(&self) -> &'static str;
    /// Findings for `snap`; empty when the invariant holds.
    fn run(&self, snap: &Snapshot) -> Vec<Finding>;
}

/// One `unknown` finding per part of the snapshot that could not be read.
pub fn unknown_findings(snap: &Snapshot) -> Vec<Finding> {
    snap.errors
        .iter()
        .map(|e| {
            Finding::new(
                SOURCE_UNKNOWN,
                Severity::Unknown,
                &[("source", &e.source)],
                format!("cannot read {}: {}", e.source, e.reason),
            )
        })
        .collect()
}

/// Runs every check plus the unknown findings, worst first (stable within a severity).
pub fn run_all(checks: &[Box<dyn Check>], snap: &Snapshot) -> Vec<Finding> {
    let mut out = unknown_findings(snap);
    for c in checks {
        out.extend(c.run(snap));
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.severity.rank()));
    out
}

/// The Nagios exit code of a set of findings: 2 if any is critical, else 3 if any is unknown,
/// else 1 if any is a warning, else 0.
pub fn exit_code(findings: &[Finding]) -> u8 {
    let has = |s| findings.iter().any(|f| f.severity == s);
    if has(Severity::Critical) {
        2
    } else if has(Severity::Unknown) {
        3
    } else if has(Severity::Warning) {
        1
    } else {
        0
    }
}

/// Series derived from a collection's findings: `hvscope_pinning_violations{check}` (alert
/// at ≥ 1) and `hvscope_findings{severity}`.
pub fn series(findings: &[Finding], out: &mut crate::series::SeriesBuf) {
    for id in pinning::ALL {
        let n = findings.iter().filter(|f| f.check == id).count();
        out.push(
            "hvscope_pinning_violations",
            "CPU-pinning findings of the last collection, per check.",
            &[("check", id)],
            n as f64,
        );
    }
    for sev in [Severity::Warning, Severity::Critical, Severity::Unknown] {
        let n = findings.iter().filter(|f| f.severity == sev).count();
        let name = sev.label().to_ascii_lowercase();
        out.push(
            "hvscope_findings",
            "Open findings of the last collection, per severity.",
            &[("severity", &name)],
            n as f64,
        );
    }
}

/// The checks configured for this agent.
pub fn configured(config: &crate::config::Config) -> Vec<Box<dyn Check>> {
    let uplinks = net::Uplinks {
        config: config.net.clone(),
    };
    let mut checks: Vec<Box<dyn Check>> = vec![
        Box::new(host::RootfsFill::new(&config.host)),
        Box::new(host::DaemonDown),
        Box::new(net::UplinkDown(uplinks.clone())),
        Box::new(net::UplinksAllDown(uplinks)),
        Box::new(pinning::AffinityDrift),
        Box::new(pinning::DedicatedOverlap),
        Box::new(pinning::OutsideDedicatedSet {
            dedicated: config.pinning.cpu_dedicated_set.clone(),
            shared: config.pinning.cpu_shared_set.clone(),
        }),
        Box::new(pinning::NumaMismatch),
    ];
    if config.ovs.enabled {
        checks.extend(ovs::checks());
    }
    checks.extend(iscsi::checks(&config.iscsi));
    checks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::SourceError;

    #[test]
    fn unknown_sources_are_unknown_not_fine() {
        let snap = Snapshot {
            errors: vec![SourceError::new("proc.stat", "proc/stat: not found")],
            ..Default::default()
        };
        let f = run_all(&[], &snap);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Unknown);
        assert_eq!(f[0].subject["source"], "proc.stat");
        assert_eq!(exit_code(&f), 3);
        assert_eq!(exit_code(&[]), 0);
    }

    #[test]
    fn worst_first_and_exit_codes() {
        let w = Finding::new("a", Severity::Warning, &[], "w");
        let c = Finding::new("b", Severity::Critical, &[("vcpu", "0")], "c");
        struct Fixed(Vec<Finding>);
        impl Check for Fixed {
            fn id(&self) -> &'static str {
                "fixed"
            }
            fn run(&self, _: &Snapshot) -> Vec<Finding> {
                self.0.clone()
            }
        }
        let checks: Vec<Box<dyn Check>> = vec![Box::new(Fixed(vec![w.clone(), c.clone()]))];
        let f = run_all(&checks, &Snapshot::default());
        assert_eq!(f[0], c);
        assert_eq!(exit_code(&f), 2);
        assert_eq!(exit_code(std::slice::from_ref(&w)), 1);
        assert_eq!(c.text_line(), "CRITICAL b vcpu=0: c");
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["severity"], "critical");
        assert_eq!(json["subject"]["vcpu"], "0");
    }
}
