//! iSCSI invariants (DESIGN.md §3): sessions down, VM disks without a session, orphan sessions,
//! degraded multipath devices. Pure functions over the initiator state and the live domains.
//!
//! Severity of `iscsi.session_down`: critical when a live domain's disk uses the session, and
//! also when the domains are not known (the libvirt source is unavailable: a down session may be
//! under a VM, so it is not downgraded on a guess); warning when the domains are known and none
//! uses it (a leaked or spare session: it still needs attention, nothing is failing I/O for a VM).
//! `iscsi.disk_without_session` is for disks with *no* session or device behind them at all; a
//! disk whose session exists but is down is reported once, as `iscsi.session_down` naming the
//! domain. `iscsi.orphan_session` and `iscsi.disk_without_session` need the domains and are not
//! evaluated without them.

use hvscope_parse::libvirt::Domain;

use super::{Check, Finding, Severity};
use crate::snapshot::Snapshot;
use crate::sources::iscsi::join::{self, Backing, DiskMapping};
use crate::sources::iscsi::{DiskIndex, IscsiConfig, IscsiState, Multipath, Session};

pub const SESSION_DOWN: &str = "iscsi.session_down";
pub const DISK_WITHOUT_SESSION: &str = "iscsi.disk_without_session";
pub const ORPHAN_SESSION: &str = "iscsi.orphan_session";
pub const PATH_DEGRADED: &str = "iscsi.path_degraded";

/// The live domains of a snapshot; `None` (unknown) where libvirt is absent or a domain's status
/// file could not be read — a session used only by that domain would look orphaned.
pub fn snapshot_domains(snap: &Snapshot) -> Option<Vec<&Domain>> {
    let unreadable = snap.errors.iter().any(|e| e.source.starts_with("libvirt"));
    (snap.libvirt.present && !unreadable)
        .then(|| snap.libvirt.vms.iter().map(|v| &*v.domain).collect())
}

/// All iSCSI findings of `st` given the domains (`None`: unknown).
pub fn findings(st: &IscsiState, domains: Option<&[Domain]>, cfg: &IscsiConfig) -> Vec<Finding> {
    let maps = domains.map(|d| join::join(st, d)).unwrap_or_default();
    let mut out = session_down(st, domains.is_some(), &maps);
    if domains.is_some() {
        out.extend(disk_without_session(&maps));
        if cfg.report_orphans {
            out.extend(orphan_sessions(st, &maps, cfg));
        }
    }
    out.extend(path_degraded(st, cfg));
    out
}

fn users<'a>(maps: &'a [DiskMapping], session: &str) -> Vec<&'a DiskMapping> {
    join::used_sessions(maps)
        .filter(|(_, s)| *s == session)
        .map(|(m, _)| m)
        .collect()
}

fn session_subject(s: &Session) -> Vec<(&'static str, &str)> {
    vec![
        ("session", s.name.as_str()),
        ("target", s.target.as_str()),
        ("portal", s.portal().unwrap_or("")),
    ]
}

/// `iscsi.session_down`: sessions not `LOGGED_IN`, or with a connection not `up`.
pub fn session_down(st: &IscsiState, domains_known: bool, maps: &[DiskMapping]) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in st
        .sessions
        .iter()
        .filter(|s| s.error.is_none() && !s.is_up())
    {
        let used = users(maps, &s.name);
        let severity = if used.is_empty() && domains_known {
            Severity::Warning
        } else {
            Severity::Critical
        };
        let state = s.state.map_or("?", |x| x.as_str());
        let mut msg = format!("{} to {} is {state}", s.name, s.target);
        for c in &s.connections {
            msg.push_str(&format!(
                ", {} {}",
                c.name,
                c.state.map_or("?", |x| x.as_str())
            ));
        }
        if s.connections.is_empty() {
            msg.push_str(", no connection");
        }
        let disks: Vec<String> = s
            .luns
            .iter()
            .filter_map(|l| {
                Some(format!(
                    "{} {}",
                    l.block.as_ref()?,
                    l.state.as_deref().unwrap_or("?")
                ))
            })
            .collect();
        if !disks.is_empty() {
            msg.push_str(&format!("; disks: {}", disks.join(", ")));
        }
        if s.state == Some(crate::sources::iscsi::sysfs::SessionState::Free) {
            msg.push_str("; recovery timed out: I/O to its disks fails");
        }
        let mut subject = session_subject(s);
        let disk_names: Vec<&str> = s.disks().collect();
        let disk_list = disk_names.join(",");
        if !disk_list.is_empty() {
            subject.push(("disks", &disk_list));
        }
        if let Some(first) = used.first() {
            subject.push(("domain_uuid", &first.domain_uuid));
            subject.push(("domain_name", &first.domain_name));
            let vms: Vec<String> = used
                .iter()
                .map(|m| format!("{} {}", m.domain_name, m.disk))
                .collect();
            msg.push_str(&format!("; used by {}", vms.join(", ")));
        }
        out.push(Finding::new(SESSION_DOWN, severity, &subject, msg));
    }
    out
}

/// `iscsi.disk_without_session`: a live domain's iSCSI disk with no device or session behind it.
pub fn disk_without_session(maps: &[DiskMapping]) -> Vec<Finding> {
    maps.iter()
        .filter_map(|m| {
            let Backing::Missing {
                reason,
                target,
                portal,
            } = &m.backing
            else {
                return None;
            };
            let mut subject = vec![
                ("domain_uuid", m.domain_uuid.as_str()),
                ("domain_name", m.domain_name.as_str()),
                ("disk", m.disk.as_str()),
            ];
            if let Some(t) = target {
                subject.push(("target", t));
            }
            if let Some(p) = portal {
                subject.push(("portal", p));
            }
            Some(Finding::new(
                DISK_WITHOUT_SESSION,
                Severity::Critical,
                &subject,
                format!("{} disk {}: {reason}", m.domain_name, m.disk),
            ))
        })
        .collect()
}

/// `iscsi.orphan_session`: logged in, and no live domain's disk uses it.
pub fn orphan_sessions(st: &IscsiState, maps: &[DiskMapping], cfg: &IscsiConfig) -> Vec<Finding> {
    st.sessions
        .iter()
        .filter(|s| {
            s.error.is_none()
                && s.state == Some(crate::sources::iscsi::sysfs::SessionState::LoggedIn)
        })
        .filter(|s| !cfg.ignore_targets.contains(&s.target) && users(maps, &s.name).is_empty())
        .map(|s| {
            let disks: Vec<&str> = s.disks().collect();
            Finding::new(
                ORPHAN_SESSION,
                Severity::Warning,
                &session_subject(s),
                format!(
                    "{} to {} is logged in but no running domain uses it (disks: {})",
                    s.name,
                    s.target,
                    if disks.is_empty() {
                        "none".to_owned()
                    } else {
                        disks.join(", ")
                    }
                ),
            )
        })
        .collect()
}

/// The paths `m` should have.
pub fn expected_paths(m: &Multipath, cfg: &IscsiConfig) -> usize {
    let wwid = m.uuid.as_deref().and_then(|u| u.strip_prefix("mpath-"));
    [m.name.as_deref(), wwid]
        .into_iter()
        .flatten()
        .find_map(|k| cfg.expected_paths_by_device.get(k))
        .or(cfg.expected_paths.as_ref())
        .map_or(m.slaves.len(), |n| *n as usize)
}

/// `iscsi.path_degraded`: a multipath map over iSCSI disks with fewer active paths than expected.
pub fn path_degraded(st: &IscsiState, cfg: &IscsiConfig) -> Vec<Finding> {
    let index = DiskIndex::new(st);
    st.multipath
        .iter()
        .filter(|m| m.is_multipath() || m.slaves.iter().any(|s| index.session(s).is_some()))
        .filter_map(|m| {
            let (active, expected) = (index.active_paths(m), expected_paths(m, cfg));
            (active < expected).then(|| {
                let down: Vec<&str> = m
                    .slaves
                    .iter()
                    .filter(|s| !index.path_active(s))
                    .map(String::as_str)
                    .collect();
                Finding::new(
                    PATH_DEGRADED,
                    Severity::Warning,
                    &[
                        ("device", m.device.as_str()),
                        ("name", m.name.as_deref().unwrap_or("")),
                    ],
                    format!(
                        "{} has {active} of {expected} paths active (not active: {})",
                        m.name.as_deref().unwrap_or(&m.device),
                        if down.is_empty() {
                            "missing paths".to_owned()
                        } else {
                            down.join(", ")
                        }
                    ),
                )
            })
        })
        .collect()
}

/// `iscsi.session_down`.
pub struct SessionDown;
/// `iscsi.disk_without_session`.
pub struct DiskWithoutSession;
/// `iscsi.orphan_session`, with the `[iscsi]` configuration.
pub struct OrphanSession(pub IscsiConfig);
/// `iscsi.path_degraded`, with the `[iscsi]` configuration.
pub struct PathDegraded(pub IscsiConfig);

impl Check for SessionDown {
    fn id(&self) -> &'static str {
        SESSION_DOWN
    }
    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let doms = snapshot_domains(snap);
        let maps = doms
            .as_ref()
            .map(|d| join::join_refs(&snap.iscsi, d))
            .unwrap_or_default();
        session_down(&snap.iscsi, doms.is_some(), &maps)
    }
}

impl Check for DiskWithoutSession {
    fn id(&self) -> &'static str {
        DISK_WITHOUT_SESSION
    }
    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        snapshot_domains(snap)
            .map(|d| disk_without_session(&join::join_refs(&snap.iscsi, &d)))
            .unwrap_or_default()
    }
}

impl Check for OrphanSession {
    fn id(&self) -> &'static str {
        ORPHAN_SESSION
    }
    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        match snapshot_domains(snap) {
            Some(d) if self.0.report_orphans => {
                orphan_sessions(&snap.iscsi, &join::join_refs(&snap.iscsi, &d), &self.0)
            }
            _ => Vec::new(),
        }
    }
}

impl Check for PathDegraded {
    fn id(&self) -> &'static str {
        PATH_DEGRADED
    }
    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        path_degraded(&snap.iscsi, &self.0)
    }
}

/// The iSCSI checks with their configuration.
pub fn checks(cfg: &IscsiConfig) -> Vec<Box<dyn Check>> {
    vec![
        Box::new(SessionDown),
        Box::new(DiskWithoutSession),
        Box::new(OrphanSession(cfg.clone())),
        Box::new(PathDegraded(cfg.clone())),
    ]
}

#[cfg(test)]
mod tests;
