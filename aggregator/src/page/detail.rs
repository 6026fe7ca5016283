//! One node in detail (`GET /api/v1/nodes/{node}`): its VMs with their nova names and the
//! per-VM SLIs over the last interval and the last hour, iSCSI sessions, OVS bridges, required
//! daemons, root filesystem fill and source health. Everything comes from the latest value of
//! the node's series (the node view) except the SLI windows, which read the counters' samples
//! from the TSDB.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Liveness;
use super::fleet::{is_up, rack_of};
use crate::labels::{MatchKind, Matcher};
use crate::nodes::{FindingView, NodeView, SeriesView};
use crate::tsdb::{Db, xor};

/// The SLI window called "the hour".
pub const HOUR_MS: i64 = 3_600_000;

/// The SLI counters, seconds (DESIGN.md §3 "Per-VM SLIs").
const SLI_COUNTERS: [&str; 5] = [
    "hvscope_vm_observed_seconds_total",
    "hvscope_vm_cpu_starved_seconds_total",
    "hvscope_vm_memory_stalled_seconds_total",
    "hvscope_vm_disk_observed_seconds_total",
    "hvscope_vm_disk_delayed_seconds_total",
];

/// Growth of the SLI counters over one window, seconds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct SliWindow {
    /// Length of the window the counters cover (first to last sample), seconds.
    pub span_seconds: f64,
    pub observed_seconds: f64,
    pub cpu_starved_seconds: f64,
    pub memory_stalled_seconds: f64,
    pub disk_observed_seconds: f64,
    pub disk_delayed_seconds: f64,
}

/// A VM.
#[derive(Debug, Serialize)]
pub struct VmDetail {
    pub domain_uuid: String,
    pub domain_name: String,
    pub nova_name: String,
    pub state: String,
    pub flavor: String,
    pub project_name: String,
    /// Between the last two samples of the counters; `None` before two.
    pub last_interval: Option<SliWindow>,
    /// Over the last hour (or as much of it as is stored).
    pub last_hour: Option<SliWindow>,
}

/// An iSCSI session.
#[derive(Debug, Serialize)]
pub struct SessionDetail {
    pub session: String,
    pub target: String,
    pub portal: String,
    pub state: String,
    pub up: Option<bool>,
}

/// An OVS bridge.
#[derive(Debug, Serialize)]
pub struct BridgeDetail {
    pub bridge: String,
    pub flows: f64,
    pub dirty_flows: f64,
}

/// The root filesystem.
#[derive(Debug, Serialize)]
pub struct RootfsDetail {
    pub size_bytes: f64,
    pub avail_bytes: f64,
    /// Share of bytes used (size - avail), percent.
    pub fill_percent: f64,
    pub inode_fill_percent: Option<f64>,
}

/// `GET /api/v1/nodes/{node}`.
#[derive(Debug, Serialize)]
pub struct NodeDetail {
    pub node: String,
    pub rack: String,
    pub up: bool,
    pub connected: bool,
    pub last_seen_ms: i64,
    pub agent_version: String,
    pub image_version: String,
    pub boot_id: String,
    pub labels: BTreeMap<String, String>,
    pub findings: Vec<FindingView>,
    pub vms: Vec<VmDetail>,
    pub iscsi_sessions: Vec<SessionDetail>,
    /// `hvscope_ovs_up`; `None` when the node sends no OVS series.
    pub ovs_up: Option<bool>,
    pub ovs_bridges: Vec<BridgeDetail>,
    /// Required daemons and whether one runs.
    pub daemons: BTreeMap<String, bool>,
    pub rootfs: Option<RootfsDetail>,
    /// `hvscope_agent_source_up` per source part.
    pub sources: BTreeMap<String, bool>,
}

fn name(s: &SeriesView) -> &str {
    s.labels.get("__name__").map_or("", String::as_str)
}

fn label(s: &SeriesView, k: &str) -> String {
    s.labels.get(k).cloned().unwrap_or_default()
}

/// The growth of a counter over `samples` (time order), a decrease counted as a reset.
fn growth(samples: &[(i64, f64)]) -> f64 {
    let mut total = 0.0;
    for w in samples.windows(2) {
        let (a, b) = (w[0].1, w[1].1);
        total += if b >= a { b - a } else { b };
    }
    total
}

type Pick = fn(&[(i64, f64)]) -> &[(i64, f64)];

fn last_two(s: &[(i64, f64)]) -> &[(i64, f64)] {
    &s[s.len().saturating_sub(2)..]
}

fn all(s: &[(i64, f64)]) -> &[(i64, f64)] {
    s
}

/// The SLI windows of each VM of `node`, keyed by domain uuid, from the counters' samples in
/// `db` up to `latest_ms`.
pub fn sli_windows(
    db: &Db,
    node: &str,
    latest_ms: i64,
) -> BTreeMap<String, (Option<SliWindow>, Option<SliWindow>)> {
    let matchers = [
        Matcher::new(MatchKind::Equal, "node", node),
        Matcher::new(
            MatchKind::Regex,
            "__name__",
            "hvscope_vm_(observed|cpu_starved|memory_stalled|disk_observed|disk_delayed)_seconds_total",
        ),
    ];
    let Ok(matchers) = matchers.into_iter().collect::<Result<Vec<_>, _>>() else {
        return BTreeMap::new();
    };
    let mut per_vm: BTreeMap<String, [Vec<(i64, f64)>; 5]> = BTreeMap::new();
    let selected = match db.select(&matchers, latest_ms - HOUR_MS, latest_ms) {
        Ok(s) => s,
        Err(error) => {
            tracing::warn!(%error, "node page: the head's chunk files could not be read");
            return BTreeMap::new();
        }
    };
    for sel in selected {
        let get = |k: &str| sel.labels.get(k).map(str::to_owned);
        let (Some(metric), Some(uuid)) = (get("__name__"), get("domain_uuid")) else {
            continue;
        };
        let Some(i) = SLI_COUNTERS.iter().position(|c| *c == metric) else {
            continue;
        };
        let mut samples: Vec<(i64, f64)> = sel
            .chunks
            .iter()
            .filter_map(|c| xor::decode(&c.data).ok())
            .flatten()
            .filter(|(t, v)| *t >= latest_ms - HOUR_MS && *t <= latest_ms && v.is_finite())
            .collect();
        samples.sort_by_key(|s| s.0);
        per_vm.entry(uuid).or_default()[i] = samples;
    }
    per_vm
        .into_iter()
        .map(|(uuid, counters)| {
            let window = |pick: Pick| {
                let obs = pick(&counters[0]);
                if obs.len() < 2 {
                    return None;
                }
                let g = |i: usize| growth(pick(&counters[i]));
                Some(SliWindow {
                    span_seconds: (obs[obs.len() - 1].0 - obs[0].0) as f64 / 1000.0,
                    observed_seconds: g(0),
                    cpu_starved_seconds: g(1),
                    memory_stalled_seconds: g(2),
                    disk_observed_seconds: g(3),
                    disk_delayed_seconds: g(4),
                })
            };
            (uuid, (window(last_two), window(all)))
        })
        .collect()
}

/// The detail of `view` (built with its series), its SLI windows read from `db`.
pub fn detail(view: NodeView, db: &Db, now_ms: i64, live: &Liveness) -> NodeDetail {
    let series = view.series_values.as_deref().unwrap_or_default();
    let latest_ms = series
        .iter()
        .map(|s| s.timestamp_ms)
        .max()
        .unwrap_or(now_ms);
    let mut windows = sli_windows(db, &view.node, latest_ms);
    let mut vms = Vec::new();
    let mut sessions: BTreeMap<String, SessionDetail> = BTreeMap::new();
    let mut session_up: BTreeMap<String, bool> = BTreeMap::new();
    let mut bridges: BTreeMap<String, BridgeDetail> = BTreeMap::new();
    let mut daemons = BTreeMap::new();
    let mut sources = BTreeMap::new();
    let mut ovs_up = None;
    let mut fs: BTreeMap<&str, f64> = BTreeMap::new();
    for s in series {
        match name(s) {
            "hvscope_vm_info" => {
                let uuid = label(s, "domain_uuid");
                let (last_interval, last_hour) = windows.remove(&uuid).unwrap_or_default();
                vms.push(VmDetail {
                    domain_name: label(s, "domain_name"),
                    nova_name: label(s, "nova_name"),
                    state: label(s, "state"),
                    flavor: label(s, "flavor"),
                    project_name: label(s, "project_name"),
                    domain_uuid: uuid,
                    last_interval,
                    last_hour,
                });
            }
            "hvscope_iscsi_session_info" => {
                let id = label(s, "session");
                sessions.insert(
                    id.clone(),
                    SessionDetail {
                        session: id,
                        target: label(s, "target"),
                        portal: label(s, "portal"),
                        state: label(s, "state"),
                        up: None,
                    },
                );
            }
            "hvscope_iscsi_session_up" => {
                session_up.insert(label(s, "session"), s.value == 1.0);
            }
            "hvscope_ovs_up" => ovs_up = Some(s.value == 1.0),
            n @ ("hvscope_ovs_flows" | "hvscope_ovs_dirty_flows") => {
                let br = label(s, "bridge");
                let b = bridges.entry(br.clone()).or_insert_with(|| BridgeDetail {
                    bridge: br,
                    flows: 0.0,
                    dirty_flows: 0.0,
                });
                if n == "hvscope_ovs_flows" {
                    b.flows += s.value;
                } else {
                    b.dirty_flows += s.value;
                }
            }
            "hvscope_host_daemon_up" => {
                daemons.insert(label(s, "daemon"), s.value == 1.0);
            }
            "hvscope_agent_source_up" => {
                sources.insert(label(s, "source"), s.value == 1.0);
            }
            n @ ("hvscope_host_rootfs_size_bytes"
            | "hvscope_host_rootfs_avail_bytes"
            | "hvscope_host_rootfs_inodes"
            | "hvscope_host_rootfs_inodes_free") => {
                fs.insert(n.trim_start_matches("hvscope_host_rootfs_"), s.value);
            }
            _ => {}
        }
    }
    for (id, up) in session_up {
        if let Some(s) = sessions.get_mut(&id) {
            s.up = Some(up);
        }
    }
    let rootfs = match (fs.get("size_bytes"), fs.get("avail_bytes")) {
        (Some(&size), Some(&avail)) if size > 0.0 => Some(RootfsDetail {
            size_bytes: size,
            avail_bytes: avail,
            fill_percent: 100.0 * (size - avail) / size,
            inode_fill_percent: match (fs.get("inodes"), fs.get("inodes_free")) {
                (Some(&n), Some(&free)) if n > 0.0 => Some(100.0 * (n - free) / n),
                _ => None,
            },
        }),
        _ => None,
    };
    vms.sort_by(|a, b| a.domain_name.cmp(&b.domain_name));
    NodeDetail {
        rack: rack_of(&view).to_owned(),
        up: is_up(&view, now_ms, live),
        connected: view.connected,
        last_seen_ms: view.last_seen_ms,
        agent_version: view.agent_version,
        image_version: view.image_version,
        boot_id: view.boot_id,
        labels: view.labels,
        findings: view.findings,
        node: view.node,
        vms,
        iscsi_sessions: sessions.into_values().collect(),
        ovs_up,
        ovs_bridges: bridges.into_values().collect(),
        daemons,
        rootfs,
        sources,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> crate::labels::Labels {
        crate::labels::Labels::from_pairs(pairs)
    }

    #[test]
    fn counter_growth_counts_resets() {
        assert_eq!(growth(&[]), 0.0);
        assert_eq!(growth(&[(0, 5.0)]), 0.0);
        assert_eq!(growth(&[(0, 1.0), (1, 3.0), (2, 1.0), (3, 2.0)]), 4.0);
    }

    #[test]
    fn sli_windows_over_the_interval_and_the_hour() {
        let db = Db::default();
        let vm = |n: &str| labels(&[("__name__", n), ("node", "n1"), ("domain_uuid", "u1")]);
        // 2 h of samples every 10 min: observed grows 600 s per step, starved 60 s per step
        // in the second hour only.
        for step in 0..=12i64 {
            let t = step * 600_000;
            db.append_labels(&vm(SLI_COUNTERS[0]), t, step as f64 * 600.0);
            let starved = (step - 6).max(0) as f64 * 60.0;
            db.append_labels(&vm(SLI_COUNTERS[1]), t, starved);
        }
        // Another node's VM is not read.
        db.append_labels(
            &labels(&[
                ("__name__", SLI_COUNTERS[0]),
                ("node", "n2"),
                ("domain_uuid", "u2"),
            ]),
            0,
            1.0,
        );
        let w = sli_windows(&db, "n1", 12 * 600_000);
        assert_eq!(w.len(), 1);
        let (interval, hour) = w["u1"];
        let interval = interval.unwrap();
        assert_eq!(interval.span_seconds, 600.0);
        assert_eq!(interval.observed_seconds, 600.0);
        assert_eq!(interval.cpu_starved_seconds, 60.0);
        let hour = hour.unwrap();
        assert_eq!(hour.span_seconds, 3600.0);
        assert_eq!(hour.observed_seconds, 3600.0);
        assert_eq!(hour.cpu_starved_seconds, 360.0);
        assert_eq!(hour.disk_delayed_seconds, 0.0);
    }
}
