//! The dirty-flow judgement of one flow, applied while the dump streams by: an [`Auditor`]
//! (what the bridge has, what the config owns) folds each flow into a [`FlowAudit`] of counts
//! and at most `max_findings_per_check` examples per check, so no flow is kept after it passed.
//! The audit is part of the source's output (100k flows are never held); the checks in
//! `checks::ovs` turn it into findings.

use std::collections::{BTreeMap, HashSet};

use hvscope_parse::ovs::actions::{PortRef, exact_macs, in_port, output_ports};
use hvscope_parse::ovs::flow::{Flow, Table};
use hvscope_parse::ovs::ovsdb::BridgeRow;
use serde::Serialize;

use super::config::{OvsConfig, RuleSeverity, parse_cookie};
use super::rules::Rules;

/// Longest flow text kept in an example.
const MAX_FLOW_TEXT: usize = 400;

/// One dirty flow, kept as an example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirtyFlow {
    pub table: String,
    pub priority: u32,
    pub cookie: String,
    /// Subject key naming what is wrong (`port`, `mac`, `rule`, or empty).
    pub key: &'static str,
    /// Its value (`43`, `fa:16:3e:de:ad:01`, the rule's name…).
    pub value: String,
    /// Why, in words.
    pub why: String,
    /// The flow as dump-flows printed it (shortened).
    pub flow: String,
}

/// Dirty flows of one kind on one bridge: a count and the first examples.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Dirty {
    pub count: u64,
    pub examples: Vec<DirtyFlow>,
}

impl Dirty {
    fn add(&mut self, max: usize, make: impl FnOnce() -> DirtyFlow) {
        self.count += 1;
        if self.examples.len() < max {
            self.examples.push(make());
        }
    }
}

/// Flows matched by one operator rule on one bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleHits {
    /// The rule's severity, as configured (the finding's).
    pub severity: RuleSeverity,
    pub dirty: Dirty,
}

/// What one pass over a bridge's flows found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FlowAudit {
    pub flows: u64,
    /// Flows per table (table number, or name under `--names`).
    pub per_table: BTreeMap<String, u64>,
    /// Lines of the dump that were not flows (reported, not fatal).
    pub bad_lines: u64,
    /// Wall time of the dump and audit, seconds.
    pub dump_seconds: f64,
    pub missing_port: Dirty,
    pub stale_cookie: Dirty,
    pub unknown_mac: Dirty,
    /// Operator rules, by name (every configured rule has an entry).
    pub rules: BTreeMap<String, RuleHits>,
}

/// Judges the flows of one bridge.
pub struct Auditor<'c> {
    ofports: HashSet<u32>,
    names: HashSet<String>,
    macs: &'c HashSet<String>,
    owned: HashSet<u64>,
    mac_prefix: String,
    check_macs: bool,
    max: usize,
    bridge: String,
    rules: &'c Rules,
}

/// The attached MACs of every interface of `bridges`, as [`Auditor::new`] takes them.
pub fn attached_macs(bridges: &[BridgeRow]) -> HashSet<String> {
    bridges
        .iter()
        .flat_map(|b| b.interfaces.iter())
        .filter_map(|i| i.neutron.attached_mac.clone())
        .collect()
}

impl<'c> Auditor<'c> {
    /// An auditor for `bridge`; `macs` are the attached MACs of every interface (lower case).
    pub fn new(
        bridge: &BridgeRow,
        macs: &'c HashSet<String>,
        cfg: &OvsConfig,
        rules: &'c Rules,
    ) -> Self {
        Self {
            ofports: bridge
                .interfaces
                .iter()
                .filter_map(|i| i.ofport.and_then(|p| u32::try_from(p).ok()))
                .collect(),
            names: bridge.interfaces.iter().map(|i| i.name.clone()).collect(),
            macs,
            owned: cfg
                .owned_cookies
                .iter()
                .filter_map(|c| parse_cookie(c))
                .collect(),
            mac_prefix: cfg.vm_mac_prefix.to_ascii_lowercase(),
            check_macs: cfg.mac_check_bridges.contains(&bridge.name),
            max: cfg.max_findings_per_check,
            bridge: bridge.name.clone(),
            rules,
        }
    }

    /// An empty audit with an entry per configured rule.
    pub fn start(&self) -> FlowAudit {
        FlowAudit {
            rules: self.rules.empty_hits(),
            ..FlowAudit::default()
        }
    }

    /// The audit of a whole `ovs-ofctl dump-flows` text (a line that does not parse counts
    /// as bad, as on the live path).
    pub fn audit_text(&self, dump: &str) -> FlowAudit {
        let mut audit = self.start();
        let mut s = hvscope_parse::ovs::stream::FlowStream::new(dump.as_bytes());
        while let Some(f) = s.next_flow() {
            match f {
                Ok(f) => self.observe(&mut audit, &f),
                Err(_) => audit.bad_lines += 1,
            }
        }
        audit
    }

    fn port_exists(&self, p: &PortRef<'_>) -> bool {
        match p {
            PortRef::Number(n) => self.ofports.contains(n),
            PortRef::Name(n) => self.names.contains(n.as_ref()),
            PortRef::Reserved => true,
        }
    }

    /// Folds one flow into `audit`.
    pub fn observe(&self, audit: &mut FlowAudit, f: &Flow<'_>) {
        audit.flows += 1;
        let mut digits = [0u8; 3];
        let table: &str = match f.table {
            Table::Id(n) => u8_str(n, &mut digits),
            Table::Name(n) => n,
        };
        match audit.per_table.get_mut(table) {
            Some(n) => *n += 1,
            None => {
                audit.per_table.insert(table.to_owned(), 1);
            }
        }
        let example = |key: &'static str, value: String, why: String| DirtyFlow {
            table: table.to_owned(),
            priority: f.priority,
            cookie: format!("{:#x}", f.cookie),
            key,
            value,
            why,
            flow: flow_text(f),
        };
        // (how the flow uses the port, the port); text is only made for a kept example, so a
        // table of 100k dirty flows costs no allocation per flow
        let mut missing: Option<(&str, PortRef<'_>)> = None;
        if let Some(p) = in_port(f).filter(|p| !self.port_exists(p)) {
            missing = Some(("in_port", p));
        }
        output_ports(f.actions, &mut |p| {
            if missing.is_none() && !self.port_exists(&p) {
                missing = Some(("output to", p));
            }
        });
        if let Some((how, port)) = missing {
            audit.missing_port.add(self.max, || {
                let why = format!(
                    "{how} {port}: no interface on {} has that OpenFlow port",
                    self.bridge
                );
                example("port", port.to_string(), why)
            });
        }
        if !self.owned.is_empty() && !self.owned.contains(&f.cookie) {
            audit.stale_cookie.add(self.max, || {
                let why = format!(
                    "cookie {:#x} is not owned by any configured agent",
                    f.cookie
                );
                example("", String::new(), why)
            });
        }
        if self.check_macs {
            let mut unknown: Option<(&str, &str)> = None;
            let prefix = self.mac_prefix.as_bytes();
            exact_macs(f, &mut |field, mac| {
                let vm_side = mac.len() >= prefix.len()
                    && mac.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix);
                if unknown.is_some() || !vm_side {
                    return;
                }
                let known = if mac.bytes().any(|b| b.is_ascii_uppercase()) {
                    self.macs.contains(&mac.to_ascii_lowercase())
                } else {
                    self.macs.contains(mac)
                };
                if !known {
                    unknown = Some((field, mac));
                }
            });
            if let Some((field, mac)) = unknown {
                audit.unknown_mac.add(self.max, || {
                    let mac = mac.to_ascii_lowercase();
                    let why = format!("{field}={mac}: no interface's attached-mac is {mac}");
                    example("mac", mac, why)
                });
            }
        }
        for name in self.rules.matching(&self.bridge, f) {
            if let Some(h) = audit.rules.get_mut(name) {
                h.dirty.add(self.max, || {
                    let why = format!("matches operator rule {name:?}");
                    example("rule", name.to_owned(), why)
                });
            }
        }
    }
}

/// `n` in decimal, written into `buf`.
fn u8_str(n: u8, buf: &mut [u8; 3]) -> &str {
    let (h, t, o) = (n / 100, n / 10 % 10, n % 10);
    let start = if h > 0 {
        0
    } else if t > 0 {
        1
    } else {
        2
    };
    *buf = [b'0' + h, b'0' + t, b'0' + o];
    std::str::from_utf8(&buf[start..]).unwrap_or("?")
}

/// The flow in dump-flows' words, shortened to `MAX_FLOW_TEXT` bytes.
pub fn flow_text(f: &Flow<'_>) -> String {
    let table = match f.table {
        Table::Id(n) => n.to_string(),
        Table::Name(n) => n.to_owned(),
    };
    let mut s = format!(
        "cookie={:#x}, table={table}, {} actions={}",
        f.cookie, f.matches, f.actions
    );
    if s.len() > MAX_FLOW_TEXT {
        let mut cut = MAX_FLOW_TEXT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_numbers_in_decimal() {
        let mut b = [0u8; 3];
        for n in [0u8, 7, 10, 60, 99, 100, 254, 255] {
            assert_eq!(super::u8_str(n, &mut b), n.to_string());
        }
    }
}
