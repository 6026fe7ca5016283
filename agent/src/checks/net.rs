//! Uplink checks: `net.uplink_down` (one uplink lost carrier: WARNING) and
//! `net.uplinks_all_down` (every uplink did: CRITICAL, the node is cut off).

use super::{Check, Finding, Severity};
use crate::config::NetConfig;
use crate::snapshot::Snapshot;
use crate::sources::sys::net::Interface;

/// Which interfaces are uplinks, resolved against one snapshot.
#[derive(Debug, Clone, Default)]
pub struct Uplinks {
    pub config: NetConfig,
}

/// The uplinks of `ifs` under `config`, as (name, found): configured names, the members of
/// configured bonds, or (neither configured) the members of every bond.
pub fn resolve(config: &NetConfig, ifs: &[Interface]) -> Vec<(String, Option<Interface>)> {
    let find = |n: &str| ifs.iter().find(|i| i.name == n).cloned();
    let mut names: Vec<String> = config.uplinks.clone();
    let bonds: Vec<&Interface> = if config.uplinks.is_empty() && config.uplink_bonds.is_empty() {
        ifs.iter().filter(|i| i.bond_members.is_some()).collect()
    } else {
        config
            .uplink_bonds
            .iter()
            .filter_map(|b| ifs.iter().find(|i| &i.name == b))
            .collect()
    };
    for b in bonds {
        names.extend(b.bond_members.iter().flatten().cloned());
    }
    names.dedup();
    names
        .into_iter()
        .map(|n| {
            let i = find(&n);
            (n, i)
        })
        .collect()
}

fn state(i: &Option<Interface>) -> String {
    match i {
        None => "does not exist".into(),
        Some(i) => match i.carrier {
            Some(false) => format!("has no carrier (operstate {})", i.operstate),
            None => format!("is administratively down (operstate {})", i.operstate),
            Some(true) => format!("is operationally {}", i.operstate),
        },
    }
}

impl Uplinks {
    /// Findings of both ids, or an unknown one when the interfaces could not be read.
    fn findings(&self, snap: &Snapshot, want_all: bool) -> Vec<Finding> {
        let configured = !self.config.uplinks.is_empty() || !self.config.uplink_bonds.is_empty();
        let Some(ifs) = &snap.host.net else {
            // sys.net unreadable is its own unknown finding; a tree without /sys/class/net
            // cannot tell whether configured uplinks are up.
            let absent = !snap.errors.iter().any(|e| e.source == "sys.net");
            return if configured && absent && want_all {
                vec![Finding::new(
                    UplinksAllDown::ID,
                    Severity::Unknown,
                    &[],
                    "uplinks configured but no /sys/class/net below the host root",
                )]
            } else {
                Vec::new()
            };
        };
        let mut missing_bond = Vec::new();
        for b in &self.config.uplink_bonds {
            let has_members =
                |i: &Interface| i.bond_members.as_ref().is_some_and(|m| !m.is_empty());
            if !ifs.iter().any(|i| &i.name == b && has_members(i)) {
                missing_bond.push(b.clone());
            }
        }
        let uplinks = resolve(&self.config, ifs);
        let down: Vec<&(String, Option<Interface>)> = uplinks
            .iter()
            .filter(|(_, i)| !i.as_ref().is_some_and(Interface::link_up))
            .collect();
        if want_all {
            let mut out = Vec::new();
            if !uplinks.is_empty() && down.len() == uplinks.len() {
                let names: Vec<&str> = uplinks.iter().map(|(n, _)| n.as_str()).collect();
                let list = names.join(",");
                out.push(Finding::new(
                    UplinksAllDown::ID,
                    Severity::Critical,
                    &[("interfaces", &list)],
                    format!(
                        "all {} uplinks are down ({list}): the node is cut off",
                        uplinks.len()
                    ),
                ));
            } else if uplinks.is_empty() && !missing_bond.is_empty() {
                let list = missing_bond.join(",");
                out.push(Finding::new(
                    UplinksAllDown::ID,
                    Severity::Critical,
                    &[("interfaces", &list)],
                    format!("configured uplink bond {list} does not exist, is not a bond or has no members"),
                ));
            }
            return out;
        }
        if down.len() == uplinks.len() {
            return Vec::new(); // reported once, as net.uplinks_all_down
        }
        down.iter()
            .map(|(n, i)| {
                Finding::new(
                    UplinkDown::ID,
                    Severity::Warning,
                    &[("interface", n)],
                    format!(
                        "uplink {n} {}; {} of {} uplinks still up",
                        state(i),
                        uplinks.len() - down.len(),
                        uplinks.len()
                    ),
                )
            })
            .collect()
    }
}

/// `net.uplink_down`: some but not all uplinks are down.
#[derive(Debug, Clone, Default)]
pub struct UplinkDown(pub Uplinks);

impl UplinkDown {
    pub const ID: &'static str = "net.uplink_down";
}

impl Check for UplinkDown {
    fn id(&self) -> &'static str {
        Self::ID
    }
    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        self.0.findings(snap, false)
    }
}

/// `net.uplinks_all_down`: every uplink is down.
#[derive(Debug, Clone, Default)]
pub struct UplinksAllDown(pub Uplinks);

impl UplinksAllDown {
    pub const ID: &'static str = "net.uplinks_all_down";
}

impl Check for UplinksAllDown {
    fn id(&self) -> &'static str {
        Self::ID
    }
    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        self.0.findings(snap, true)
    }
}

#[cfg(test)]
mod tests;
