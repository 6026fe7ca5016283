//! Open vSwitch: bridges, ports and interfaces from OVSDB (`<root>/run/openvswitch/db.sock`,
//! JSON-RPC), and each bridge's OpenFlow table from its management socket
//! `<root>/run/openvswitch/<bridge>.mgmt`, read by the agent's own OpenFlow client
//! ([`openflow`], the default) or by `ovs-ofctl dump-flows` ([`ofctl`], `flows_via = "ofctl"`),
//! judged flow by flow while it streams ([`audit`], with the operator [`rules`];
//! `checks::ovs` turns the audits into findings). Both paths hand the audit the same flow
//! text. A dead ovsdb-server makes `ovs.ovsdb` unknown; a dead or hung ovs-vswitchd (or
//! `ovs-ofctl`) makes `ovs.flows.<bridge>` unknown after its timeout; the rest is unaffected.
//! The flow lines, the OpenFlow messages and the OVSDB messages are parsed by
//! `hvscope_parse::ovs`; here are the sockets ([`client`], [`openflow`]) and the child process
//! ([`ofctl`]).

pub mod audit;
pub mod client;
pub mod config;
pub mod monitor;
pub mod ofctl;
pub mod openflow;
pub mod rules;
mod series;

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use hvscope_parse::ovs::ovsdb::{BridgeRow, Interface};
use tracing::{debug, warn};

pub use self::series::series;
use crate::io::{FdBudget, Holder, HostRoot, REFRESH};
use crate::sources::{Context, Source, SourceError};
use audit::{Auditor, FlowAudit};
use client::OvsdbClient;
use config::{FlowsVia, OvsConfig};
use monitor::FlowMonitor;
use ofctl::Ofctl;
use openflow::OpenFlow;
use rules::Rules;

/// Source name of the OVSDB query.
pub const SOURCE_OVSDB: &str = "ovs.ovsdb";

/// Source name of one bridge's flow dump.
pub fn flows_source(bridge: &str) -> String {
    format!("ovs.flows.{bridge}")
}

/// One bridge: its interfaces and, when its flows were read, the audit of them.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Bridge {
    pub name: String,
    pub datapath_type: String,
    /// Shared with the OVSDB topology they come from.
    pub interfaces: Arc<[Interface]>,
    /// `None` when the flows were not dumped (bridge not selected, or unreadable: see errors).
    /// Shared with the flow monitor's kept audit while the table is unchanged.
    pub flows: Option<Arc<FlowAudit>>,
}

impl Bridge {
    /// The bridge of an OVSDB row, with its flows' audit (if they were dumped).
    pub fn of_row(
        row: &hvscope_parse::ovs::ovsdb::BridgeRow,
        flows: Option<Arc<FlowAudit>>,
    ) -> Self {
        Self {
            name: row.name.clone(),
            datapath_type: row.datapath_type.clone(),
            interfaces: row.interfaces.clone(),
            flows,
        }
    }
}

/// What was read of Open vSwitch.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Ovs {
    /// OVSDB answered (bridges and interfaces are known).
    pub ovsdb_up: bool,
    pub ovs_version: Option<String>,
    pub bridges: Vec<Bridge>,
}

/// The OVS source: its configuration with the operator rules compiled once.
#[derive(Debug)]
pub struct OvsSource {
    cfg: OvsConfig,
    /// The compiled `[[ovs.rules]]`, or why they do not compile (reported as `ovs.config`
    /// every collection in which OVSDB answers, as a one-shot collection would).
    rules: Result<Rules, String>,
    /// Per bridge with a flow monitor (`flow_monitor`): the subscription and the last audit.
    watched: HashMap<String, Watched>,
    /// The connection to ovsdb-server with its monitor, kept between collections.
    ovsdb: OvsdbClient,
}

/// A bridge whose flow table is watched for changes instead of dumped every collection.
#[derive(Debug)]
struct Watched {
    monitor: FlowMonitor,
    audit: Arc<FlowAudit>,
    /// [`signature`] of what the audit judged against.
    sig: u64,
    /// Collections since the dump.
    reused: u32,
}

impl OvsSource {
    /// A source reading what `cfg` says.
    pub fn new(cfg: OvsConfig) -> Self {
        let rules = Rules::compile(&cfg.rules);
        Self {
            cfg,
            rules,
            watched: HashMap::new(),
            ovsdb: OvsdbClient::monitoring(),
        }
    }
}

/// What a bridge's audit depends on besides its flows: its ports (names and numbers) and the
/// node's VM MACs.
fn signature(row: &BridgeRow, macs: &HashSet<String>) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    row.name.hash(&mut h);
    for i in row.interfaces.iter() {
        (&i.name, i.ofport).hash(&mut h);
    }
    // the set's order is arbitrary: combine per-MAC hashes without order
    let mut set = 0u64;
    for m in macs {
        let mut hm = std::hash::DefaultHasher::new();
        m.hash(&mut hm);
        set = set.wrapping_add(hm.finish());
    }
    set.hash(&mut h);
    h.finish()
}

impl Source for OvsSource {
    type Output = Option<Ovs>;
    /// Its unknowns (`ovs.ovsdb`, `ovs.flows.<bridge>`, `ovs.config`) are reported through errors
    /// and findings, without `source_up` series.
    const PARTS: &'static [&'static str] = &[];

    fn collect(&mut self, cx: &Context<'_>, errors: &mut Vec<SourceError>) -> Option<Ovs> {
        let rules = self.rules.as_ref().map_err(String::as_str);
        let watch = self.cfg.flow_monitor.then_some((&mut self.watched, cx.fds));
        read(cx.root, &self.cfg, rules, errors, watch, &mut self.ovsdb)
    }
}

/// Reads OVS below `root` once, compiling the rules of `cfg`; see [`OvsSource`].
pub fn collect(root: &HostRoot, cfg: &OvsConfig, errors: &mut Vec<SourceError>) -> Option<Ovs> {
    let rules = Rules::compile(&cfg.rules);
    read(
        root,
        cfg,
        rules.as_ref().map_err(String::as_str),
        errors,
        None,
        &mut OvsdbClient::default(),
    )
}

/// Reads OVS below `root`. `None` when OVS is disabled, or absent (no `run/openvswitch`
/// directory) and not required. A present directory without a working `db.sock` (ovsdb-server
/// died) is unknown, not absent. Rules that do not compile are an `ovs.config` error, and no
/// rule applies.
fn read(
    root: &HostRoot,
    cfg: &OvsConfig,
    rules: Result<&Rules, &str>,
    errors: &mut Vec<SourceError>,
    mut watch: Option<(&mut HashMap<String, Watched>, &FdBudget)>,
    db: &mut OvsdbClient,
) -> Option<Ovs> {
    if !cfg.enabled || (!cfg.required && !root.path("run/openvswitch").is_dir()) {
        return None;
    }
    let sock = root.path("run/openvswitch/db.sock");
    let timeout = Duration::from_millis(cfg.ovsdb_timeout_ms);
    let topo = match db.topology(&sock, timeout) {
        Ok(t) => t,
        Err(e) => {
            errors.push(SourceError::new(SOURCE_OVSDB, e));
            return Some(Ovs::default());
        }
    };
    let none = Rules::default();
    let rules = rules.unwrap_or_else(|e| {
        errors.push(SourceError::new("ovs.config", e));
        &none
    });
    let macs = audit::attached_macs(&topo.bridges);
    let timeout = Duration::from_millis(cfg.flows_timeout_ms);
    let reader = match cfg.flows_via {
        FlowsVia::OpenFlow => FlowReader::OpenFlow(OpenFlow {
            timeout,
            ..OpenFlow::default()
        }),
        FlowsVia::Ofctl => FlowReader::Ofctl(Ofctl {
            path: cfg.ofctl_path.clone(),
            protocols: Some(cfg.ofctl_protocols.clone()).filter(|p| !p.is_empty()),
            timeout,
        }),
    };
    for wanted in &cfg.bridges {
        if !topo.bridges.iter().any(|b| b.name == *wanted) {
            errors.push(SourceError::new(
                flows_source(wanted),
                format!("bridge {wanted} is not in OVSDB"),
            ));
        }
    }
    let mut bridges = Vec::with_capacity(topo.bridges.len());
    for row in &topo.bridges {
        let selected = cfg.bridges.is_empty() || cfg.bridges.contains(&row.name);
        let flows = if !selected {
            None
        } else if let Some((watched, fds)) = watch.as_mut() {
            watched_dump(root, &reader, row, &macs, cfg, rules, errors, watched, fds)
        } else {
            dump(root, &reader, row, &macs, cfg, rules, errors).map(Arc::new)
        };
        bridges.push(Bridge::of_row(row, flows));
    }
    if let Some((watched, _)) = watch {
        // bridges gone or no longer selected: their subscriptions end
        watched.retain(|name, _| bridges.iter().any(|b| b.name == *name && b.flows.is_some()));
    }
    Some(Ovs {
        ovsdb_up: true,
        ovs_version: topo.ovs_version.clone(),
        bridges,
    })
}

/// A bridge's audit: the last one while its flow monitor reports no change (and its ports and
/// the VM MACs are the same, and fewer than [`REFRESH`] collections passed), else a dump, with
/// a new subscription made first so that a change during the dump is seen next time.
#[allow(clippy::too_many_arguments)]
fn watched_dump(
    root: &HostRoot,
    reader: &FlowReader,
    row: &BridgeRow,
    macs: &HashSet<String>,
    cfg: &OvsConfig,
    rules: &Rules,
    errors: &mut Vec<SourceError>,
    watched: &mut HashMap<String, Watched>,
    fds: &FdBudget,
) -> Option<Arc<FlowAudit>> {
    let sig = signature(row, macs);
    if let Some(w) = watched.get_mut(&row.name) {
        if w.sig == sig && w.reused + 1 < REFRESH.collections() && !w.monitor.changed() {
            w.reused += 1;
            return Some(w.audit.clone());
        }
        debug!(bridge = %row.name, reused = w.reused, "flow table changed: dumping it again");
    }
    watched.remove(&row.name);
    let mgmt = root.path(format!("run/openvswitch/{}.mgmt", row.name));
    let timeout = Duration::from_millis(cfg.flows_timeout_ms);
    let monitor = fds
        .grant(Holder::Ovs)
        .map(|lease| FlowMonitor::open(&mgmt, timeout, lease));
    let audit = Arc::new(dump(root, reader, row, macs, cfg, rules, errors)?);
    match monitor {
        Some(Ok(monitor)) => {
            watched.insert(
                row.name.clone(),
                Watched {
                    monitor,
                    audit: audit.clone(),
                    sig,
                    reused: 0,
                },
            );
        }
        Some(Err(error)) => {
            debug!(%error, bridge = %row.name, "no flow monitor: dumped every collection")
        }
        None => debug!(bridge = %row.name, "no fd for a flow monitor: dumped every collection"),
    }
    Some(audit)
}

/// The configured way of reading a bridge's flows.
enum FlowReader {
    OpenFlow(OpenFlow),
    Ofctl(Ofctl),
}

/// Dumps and audits one bridge's flows; `None` (with an error) when they cannot be read.
fn dump(
    root: &HostRoot,
    reader: &FlowReader,
    row: &BridgeRow,
    macs: &HashSet<String>,
    cfg: &OvsConfig,
    rules: &Rules,
    errors: &mut Vec<SourceError>,
) -> Option<FlowAudit> {
    let mgmt = root.path(format!("run/openvswitch/{}.mgmt", row.name));
    let auditor = Auditor::new(row, macs, cfg, rules);
    let mut audit = auditor.start();
    let mut first_bad = None;
    let started = std::time::Instant::now();
    let mut bad = |audit: &mut FlowAudit, e: String| {
        audit.bad_lines += 1;
        first_bad.get_or_insert(e);
    };
    let r: Result<u64, String> = match reader {
        FlowReader::OpenFlow(of) => of
            .dump_flows(&mgmt, &mut |f| match f {
                Ok(f) => auditor.observe(&mut audit, &f),
                Err(e) => bad(&mut audit, e.to_string()),
            })
            .map(|st| {
                if st.unknown > 0 {
                    debug!(bridge = %row.name, unknown = st.unknown,
                        "flows with fields or actions the decoder does not know");
                }
                st.bytes
            })
            .map_err(|e| e.to_string()),
        FlowReader::Ofctl(ofctl) => {
            let target = format!("unix:{}", mgmt.display());
            ofctl
                .dump_flows(&target, &mut |f| match f {
                    Ok(f) => auditor.observe(&mut audit, &f),
                    Err(e) => bad(&mut audit, e.to_string()),
                })
                .map(|st| st.bytes)
                .map_err(|e| e.to_string())
        }
    };
    if let Some(error) = first_bad {
        // one line per bridge and collection, however many lines were bad
        warn!(%error, bridge = %row.name, bad_lines = audit.bad_lines, "undecodable flows");
    }
    match r {
        Ok(bytes) => {
            audit.dump_seconds = started.elapsed().as_secs_f64();
            debug!(bridge = %row.name, flows = audit.flows, bytes,
                secs = audit.dump_seconds, "flows dumped and audited");
            Some(audit)
        }
        Err(e) => {
            errors.push(SourceError::new(flows_source(&row.name), e));
            None
        }
    }
}

/// The domain uuid an interface belongs to (Neutron `vm-uuid`, libvirt `vm-id`).
pub fn domain_uuid(i: &Interface) -> Option<&str> {
    i.neutron.vm_uuid.as_deref()
}

#[cfg(test)]
mod tests;
