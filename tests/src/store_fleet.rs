//! A simulated fleet in one process, for the page's scale test: N nodes in an in-process [`NodeStore`], each fed
//! two batches through the store's own apply path (as the ingest service does) whose series
//! and findings are the agent's real output on the repository's fixtures (`tests/golden/`):
//! every node carries the series of `libvirt-kvm-2vm-drift` (two nova VMs, host, daemons,
//! sources) plus the four SLI counters per VM; one node in 20 has that fixture's pinning
//! findings, one in 50 the failed iSCSI session of `iscsi-guest-failed` (with its series). Racks
//! of 40 nodes; the last rack went silent at once (rack down).

use std::collections::BTreeMap;

use hvscope_aggregator::nodes::NodeStore;
use hvscope_proto::v1::{Batch, Finding, Hello, Label, SeriesDef, Severity};

/// Nodes per simulated rack.
pub const RACK_SIZE: usize = 40;

/// One series of a text exposition: labels (`__name__` included) and value.
pub type Sample = (Vec<(String, String)>, f64);

/// Parses the sample lines of a Prometheus text exposition (as the agent's golden copies are).
pub fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("sample line has a value");
        let value: f64 = value.parse().expect("sample value");
        let (name, rest) = match series.split_once('{') {
            Some((n, r)) => (n, r.strip_suffix('}').expect("closing brace")),
            None => (series, ""),
        };
        let mut labels = vec![("__name__".to_owned(), name.to_owned())];
        let mut rest = rest;
        while let Some((k, r)) = rest.split_once("=\"") {
            let mut v = String::new();
            let mut chars = r.char_indices();
            let mut end = r.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(if n == 'n' { '\n' } else { n });
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => v.push(c),
                }
            }
            labels.push((k.trim_start_matches(',').to_owned(), v));
            rest = &r[end..];
        }
        out.push((labels, value));
    }
    out
}

/// The findings of an agent JSON document (`snapshot --format json`).
pub fn parse_findings(json: &serde_json::Value) -> Vec<Finding> {
    json["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .map(|f| Finding {
            check: f["check"].as_str().unwrap_or_default().to_owned(),
            severity: match f["severity"].as_str() {
                Some("critical") => Severity::Critical,
                Some("warning") => Severity::Warning,
                Some("unknown") => Severity::Unknown,
                _ => Severity::Ok,
            } as i32,
            subject: f["subject"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| Label {
                            name: k.clone(),
                            value: v.as_str().unwrap_or_default().to_owned(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            message: f["message"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(hvscope_testkit::repo().join("tests/golden").join(name))
        .unwrap_or_else(|e| panic!("tests/golden/{name}: {e}"))
}

/// What was simulated.
#[derive(Debug, Default)]
pub struct Simulated {
    pub nodes: usize,
    pub series_per_node: usize,
    pub findings: usize,
}

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

/// Fills `store` with `nodes` nodes as of `now_ms` (see the module doc).
pub fn simulate(store: &NodeStore, nodes: usize, now_ms: i64) -> Simulated {
    let base = parse_exposition(&golden("libvirt-kvm-2vm-drift.prom"));
    let iscsi = parse_exposition(&golden("iscsi-guest-failed.prom"));
    let drift: serde_json::Value =
        serde_json::from_str(&golden("libvirt-kvm-2vm-drift.json")).expect("golden json");
    let failed: serde_json::Value =
        serde_json::from_str(&golden("iscsi-guest-failed.json")).expect("golden json");
    let pinning: Vec<Finding> = parse_findings(&drift)
        .into_iter()
        .filter(|f| f.check.starts_with("pinning."))
        .collect();
    let session: Vec<Finding> = parse_findings(&failed)
        .into_iter()
        .filter(|f| f.check.starts_with("iscsi."))
        .collect();
    let uuids: Vec<String> = base
        .iter()
        .filter(|(l, _)| l[0].1 == "hvscope_vm_info")
        .filter_map(|(l, _)| {
            l.iter()
                .find(|(k, _)| k == "domain_uuid")
                .map(|x| x.1.clone())
        })
        .collect();
    let racks = nodes.div_ceil(RACK_SIZE);
    let mut sim = Simulated {
        nodes,
        ..Default::default()
    };
    for i in 0..nodes {
        let name = format!("compute-{i:04}");
        let rack = format!("rack-{:02}", i / RACK_SIZE);
        let silent = i / RACK_SIZE == racks - 1 && racks > 1;
        let hello = Hello {
            agent_version: "0.1.0".into(),
            boot_id: format!("boot-{i}"),
            image_version: "2026.11.3".into(),
            labels: vec![label("rack", &rack), label("az", "az1")],
            claimed_node: name.clone(),
            started_ms: now_ms - 3_600_000,
        };
        let t0 = now_ms - if silent { 130_000 } else { 10_000 };
        store.open_stream(&name, &hello, t0 - 1);
        let mut series: Vec<Sample> = base.clone();
        if i % 50 == 7 {
            series.extend(iscsi.iter().cloned());
        }
        let mut findings = Vec::new();
        if i % 20 == 0 {
            findings.extend(pinning.iter().cloned());
        }
        if i % 50 == 7 {
            findings.extend(session.iter().cloned());
        }
        sim.findings += findings.len();
        let counters = [
            "hvscope_vm_observed_seconds_total",
            "hvscope_vm_cpu_starved_seconds_total",
            "hvscope_vm_memory_stalled_seconds_total",
            "hvscope_vm_disk_observed_seconds_total",
            "hvscope_vm_disk_delayed_seconds_total",
        ];
        let first_sli = series.len();
        for u in &uuids {
            for c in counters {
                series.push((
                    vec![
                        ("__name__".to_owned(), c.to_owned()),
                        ("domain_uuid".to_owned(), u.clone()),
                    ],
                    0.0,
                ));
            }
        }
        sim.series_per_node = sim.series_per_node.max(series.len());
        let defs: Vec<SeriesDef> = series
            .iter()
            .enumerate()
            .map(|(id, (labels, _))| SeriesDef {
                id: id as u64 + 1,
                labels: labels.iter().map(|(k, v)| label(k, v)).collect(),
            })
            .collect();
        for (seq, t) in [(1u64, t0 - 10_000), (2, t0)] {
            let samples: Vec<(u64, f64)> = series
                .iter()
                .enumerate()
                .map(|(id, (_, v))| {
                    // SLI counters: 10 s observed per batch, a starved second on drift nodes.
                    let v = if id >= first_sli {
                        let k = (id - first_sli) % counters.len();
                        let step = seq as f64;
                        match k {
                            0 | 3 => 10.0 * step,
                            1 if i % 20 == 0 => step,
                            _ => 0.0,
                        }
                    } else {
                        *v
                    };
                    (id as u64 + 1, v)
                })
                .collect();
            let batch = Batch {
                seq,
                timestamp_ms: t,
                defs: if seq == 1 { defs.clone() } else { Vec::new() },
                findings: findings.clone(),
                ..Default::default()
            };
            store.apply(&name, &batch, &samples, true, t);
        }
        if silent {
            store.close_stream(&name, t0 + (i % RACK_SIZE) as i64 * 100);
        }
    }
    sim
}

/// Number of nodes per rack in a fleet JSON (`/api/v1/fleet`), keyed by rack.
pub fn rack_sizes(fleet: &serde_json::Value) -> BTreeMap<String, usize> {
    fleet["racks"]
        .as_array()
        .expect("racks")
        .iter()
        .map(|r| {
            (
                r["rack"].as_str().unwrap_or_default().to_owned(),
                r["nodes"].as_array().map_or(0, Vec::len),
            )
        })
        .collect()
}
