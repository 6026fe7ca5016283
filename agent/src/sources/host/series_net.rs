//! Network interface series (`hvscope_net_…`), whichever of netlink or sysfs supplied the
//! facts.

use super::Host;
use super::series::b;
use crate::series::SeriesBuf;
use crate::sources::sys::net::STATS;

/// Metric names of the interface counters, in the order of [`STATS`].
const NET_STATS: [&str; 8] = [
    "hvscope_net_receive_bytes_total",
    "hvscope_net_transmit_bytes_total",
    "hvscope_net_receive_packets_total",
    "hvscope_net_transmit_packets_total",
    "hvscope_net_receive_errors_total",
    "hvscope_net_transmit_errors_total",
    "hvscope_net_receive_drops_total",
    "hvscope_net_transmit_drops_total",
];

/// Interface series (`hvscope_net_…`).
pub fn series(host: &Host, out: &mut SeriesBuf) {
    for i in host.net.iter().flatten() {
        let l = [("interface", i.name.as_str())];
        out.push(
            "hvscope_net_info",
            "Interface metadata.",
            &[("interface", &i.name), ("operstate", &i.operstate)],
            1.0,
        );
        out.push(
            "hvscope_net_up",
            "1 when the interface has carrier and is operationally up.",
            &l,
            b(i.link_up()),
        );
        if let Some(c) = i.carrier {
            out.push(
                "hvscope_net_carrier",
                "Physical link carrier (absent while the kernel cannot tell).",
                &l,
                b(c),
            );
        }
        if let Some(s) = i.speed_bps {
            out.push(
                "hvscope_net_speed_bytes_per_second",
                "Negotiated link speed.",
                &l,
                s as f64 / 8.0,
            );
        }
        if let Some(m) = i.mtu {
            out.push("hvscope_net_mtu_bytes", "MTU.", &l, m as f64);
        }
        for ((name, _), v) in NET_STATS.iter().zip(STATS).zip(i.stats) {
            if let Some(v) = v {
                out.push(
                    name,
                    "Interface counter from sysfs statistics/.",
                    &l,
                    v as f64,
                );
            }
        }
        if let Some(m) = &i.bond_members {
            out.push(
                "hvscope_net_bond_members",
                "Members enslaved to a bond.",
                &l,
                m.len() as f64,
            );
        }
        if let Some(s) = &i.bond_mii_status {
            out.push(
                "hvscope_net_bond_member_mii_up",
                "1 when the bond sees the member's MII link up.",
                &l,
                b(s == "up"),
            );
        }
    }
}
