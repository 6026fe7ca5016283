//! Host checks: `host.rootfs_fill` (the RAM-backed root filesystem passed its thresholds) and
//! `host.daemon_down` (a required daemon has no live process).

use super::{Check, Finding, Severity};
use crate::config::HostConfig;
use crate::snapshot::Snapshot;

/// `host.rootfs_fill`: bytes or inodes of `/` used above the warning or critical share.
#[derive(Debug, Clone)]
pub struct RootfsFill {
    pub warning_percent: f64,
    pub critical_percent: f64,
}

impl RootfsFill {
    pub const ID: &'static str = "host.rootfs_fill";

    /// From the `[host]` section.
    pub fn new(c: &HostConfig) -> Self {
        Self {
            warning_percent: c.rootfs_fill_warning_percent,
            critical_percent: c.rootfs_fill_critical_percent,
        }
    }

    fn level(&self, pct: f64) -> Option<(Severity, f64)> {
        if pct >= self.critical_percent {
            Some((Severity::Critical, self.critical_percent))
        } else if pct >= self.warning_percent {
            Some((Severity::Warning, self.warning_percent))
        } else {
            None
        }
    }
}

impl Check for RootfsFill {
    fn id(&self) -> &'static str {
        Self::ID
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        // An unreadable mount table is already an unknown finding of its own part.
        let Some(r) = &snap.host.rootfs else {
            return Vec::new();
        };
        let Some(u) = r.usage else {
            return vec![Finding::new(
                Self::ID,
                Severity::Unknown,
                &[("mount_point", "/")],
                "usage of / not measured: statvfs needs the live host root, not a fixture tree",
            )];
        };
        let kind = if r.ram_backed { "RAM-backed " } else { "" };
        let fs = &r.layout.root.fs_type;
        let mut out = Vec::new();
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        if let Some(pct) = u.bytes_used_percent()
            && let Some((sev, limit)) = self.level(pct)
        {
            out.push(Finding::new(
                Self::ID,
                sev,
                &[("mount_point", "/"), ("resource", "bytes")],
                format!(
                    "{kind}root filesystem ({fs}) {pct:.1}% full (>= {limit}%): {:.2} GiB used, {:.2} GiB available",
                    gib(u.used_bytes()),
                    gib(u.avail_bytes)
                ),
            ));
        }
        if let Some(pct) = u.inodes_used_percent()
            && let Some((sev, limit)) = self.level(pct)
        {
            out.push(Finding::new(
                Self::ID,
                sev,
                &[("mount_point", "/"), ("resource", "inodes")],
                format!(
                    "{kind}root filesystem ({fs}) uses {pct:.1}% of its inodes (>= {limit}%): {} of {} free",
                    u.inodes_free, u.inodes
                ),
            ));
        }
        out
    }
}

/// `host.daemon_down`: one finding per required daemon without a live process.
#[derive(Debug, Clone, Default)]
pub struct DaemonDown;

impl DaemonDown {
    pub const ID: &'static str = "host.daemon_down";
}

impl Check for DaemonDown {
    fn id(&self) -> &'static str {
        Self::ID
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        // The daemons were looked up at collection time with the configured list; when the
        // process list was unreadable the list is empty and `proc.processes` is unknown.
        snap.host
            .daemons
            .iter()
            .filter(|d| !d.up())
            .map(|d| {
                let alts = d.daemon.replace('|', " or ");
                Finding::new(
                    Self::ID,
                    Severity::Critical,
                    &[("daemon", &d.daemon)],
                    format!("required daemon {alts} is not running (no live process matches)"),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
