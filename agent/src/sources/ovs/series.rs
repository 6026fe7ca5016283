//! Series of the OVS source: `hvscope_ovs_up`, flows per bridge and table, dirty flows per
//! bridge and check (alert at ≥ 1), interface counters and link state carrying the domain uuid
//! of the VM behind the interface.

use super::{Ovs, SOURCE_OVSDB, domain_uuid, flows_source};
use crate::series::SeriesBuf;
use crate::sources::SourceError;

/// `Interface.statistics` keys exported as counters, with their metric names.
const COUNTERS: [(&str, &str); 8] = [
    ("rx_bytes", "hvscope_ovs_interface_receive_bytes_total"),
    ("rx_packets", "hvscope_ovs_interface_receive_packets_total"),
    ("rx_dropped", "hvscope_ovs_interface_receive_drops_total"),
    ("rx_errors", "hvscope_ovs_interface_receive_errors_total"),
    ("tx_bytes", "hvscope_ovs_interface_transmit_bytes_total"),
    ("tx_packets", "hvscope_ovs_interface_transmit_packets_total"),
    ("tx_dropped", "hvscope_ovs_interface_transmit_drops_total"),
    ("tx_errors", "hvscope_ovs_interface_transmit_errors_total"),
];

/// The series of `ovs`; `errors` are the snapshot's (to tell what was unknown).
pub fn series(ovs: &Ovs, errors: &[SourceError], out: &mut SeriesBuf) {
    let failed = |s: &str| errors.iter().any(|e| e.source == s);
    let any_failed = errors.iter().any(|e| e.source.starts_with("ovs."));
    out.push(
        "hvscope_ovs_up",
        "1 when OVSDB and every selected bridge's flows were read this collection.",
        &[],
        if ovs.ovsdb_up && !any_failed {
            1.0
        } else {
            0.0
        },
    );
    let src_help = "1 when a source part was read this collection, 0 when it could not be.";
    let up = |ok: bool| if ok { 1.0 } else { 0.0 };
    out.push(
        "hvscope_agent_source_up",
        src_help,
        &[("source", SOURCE_OVSDB)],
        up(ovs.ovsdb_up),
    );
    for b in &ovs.bridges {
        let br = b.name.as_str();
        let source = flows_source(br);
        if b.flows.is_some() || failed(&source) {
            out.push(
                "hvscope_agent_source_up",
                src_help,
                &[("source", &source)],
                up(b.flows.is_some()),
            );
        }
        if let Some(a) = &b.flows {
            for (table, n) in &a.per_table {
                out.push(
                    "hvscope_ovs_flows",
                    "OpenFlow flows in a bridge's table.",
                    &[("bridge", br), ("table", table)],
                    *n as f64,
                );
            }
            let dirty_help = "Flows of a bridge that a dirty-flow check reports (alert at >= 1).";
            let rules: u64 = a.rules.values().map(|h| h.dirty.count).sum();
            for (check, n) in [
                ("ovs.flow_missing_port", a.missing_port.count),
                ("ovs.flow_stale_cookie", a.stale_cookie.count),
                ("ovs.flow_unknown_mac", a.unknown_mac.count),
                ("ovs.flow_rule", rules),
            ] {
                let l = [("bridge", br), ("check", check)];
                out.push("hvscope_ovs_dirty_flows", dirty_help, &l, n as f64);
            }
            for (rule, h) in &a.rules {
                out.push(
                    "hvscope_ovs_rule_flows",
                    "Flows of a bridge matching an operator rule (ovs.flow_rule).",
                    &[("bridge", br), ("rule", rule)],
                    h.dirty.count as f64,
                );
            }
            out.push(
                "hvscope_ovs_flow_dump_duration_seconds",
                "Wall time of the last ovs-ofctl dump-flows of a bridge, audit included.",
                &[("bridge", br)],
                a.dump_seconds,
            );
            out.push(
                "hvscope_ovs_flow_bad_lines",
                "Lines of the last dump-flows output that could not be parsed.",
                &[("bridge", br)],
                a.bad_lines as f64,
            );
        }
        for i in b.interfaces.iter() {
            let ofport = i.ofport.map(|p| p.to_string()).unwrap_or_default();
            let mut ids: Vec<(&str, &str)> = vec![("bridge", br), ("interface", &i.name)];
            if let Some(d) = domain_uuid(i) {
                ids.push(("domain_uuid", d));
            }
            let mut info = ids.clone();
            info.extend([("port", i.port.as_str()), ("type", i.kind.as_str())]);
            info.push(("ofport", &ofport));
            let n = &i.neutron;
            for (k, v) in [("iface_id", &n.iface_id), ("attached_mac", &n.attached_mac)] {
                if let Some(v) = v {
                    info.push((k, v));
                }
            }
            out.push(
                "hvscope_ovs_interface_info",
                "An OVS interface: bridge, port, type, OpenFlow port, Neutron port and VM.",
                &info,
                1.0,
            );
            if let Some(state) = &i.link_state {
                out.push(
                    "hvscope_ovs_interface_link_up",
                    "1 when OVSDB reports the interface's link up.",
                    &ids,
                    up(state == "up"),
                );
            }
            for (key, name) in COUNTERS {
                if let Some(v) = i.statistics.get(key) {
                    out.push(
                        name,
                        "Interface counter from OVSDB statistics.",
                        &ids,
                        *v as f64,
                    );
                }
            }
        }
    }
}
