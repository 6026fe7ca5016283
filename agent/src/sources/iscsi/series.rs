//! Series of the iSCSI source: session and connection state, LUNs, multipath paths, the block
//! device counters of `proc/diskstats`, and the collector's [`DiskRates`] over its last interval
//! (average latency, I/O rate, utilization; PromQL can derive the same from the counters).

use super::diskstats::{DiskRates, SECTOR_BYTES};
use super::{DiskIndex, IscsiState};
use crate::series::SeriesBuf;

/// Appends the series of `st`. Sessions that could not be read emit nothing (they are an
/// unknown source part, not a down session).
pub fn series(st: &IscsiState, out: &mut SeriesBuf) {
    for s in st.sessions.iter().filter(|s| s.error.is_none()) {
        let portal = s.portal().unwrap_or("");
        let state = s.state.map_or("", |st| st.as_str());
        let iface = s.iface.as_deref().unwrap_or("");
        let base = [
            ("session", s.name.as_str()),
            ("target", s.target.as_str()),
            ("portal", portal),
        ];
        out.push(
            "hvscope_iscsi_session_up",
            "1 when the iSCSI session is LOGGED_IN and all its connections are up.",
            &[
                base[0],
                base[1],
                base[2],
                ("iface", iface),
                ("host", &s.host),
            ],
            if s.is_up() { 1.0 } else { 0.0 },
        );
        out.push(
            "hvscope_iscsi_session_info",
            "iSCSI session metadata: kernel state strings and initiator.",
            &[
                base[0],
                base[1],
                base[2],
                ("state", state),
                ("target_state", s.target_state.as_deref().unwrap_or("")),
                ("initiator", s.initiator.as_deref().unwrap_or("")),
            ],
            1.0,
        );
        if let Some(t) = s.recovery_tmo_secs {
            out.push(
                "hvscope_iscsi_session_recovery_timeout_seconds",
                "Seconds a failed session queues I/O before failing it (recovery_tmo).",
                &base,
                f64::from(t),
            );
        }
        for c in &s.connections {
            out.push(
                "hvscope_iscsi_connection_up",
                "1 when the iSCSI connection state is up.",
                &[
                    base[0],
                    ("connection", c.name.as_str()),
                    ("portal", c.portal.as_deref().unwrap_or("")),
                ],
                if c.state == Some(super::sysfs::ConnState::Up) {
                    1.0
                } else {
                    0.0
                },
            );
        }
        for l in &s.luns {
            let lun = l.lun.to_string();
            out.push(
                "hvscope_iscsi_lun_running",
                "1 when the SCSI device of an iSCSI LUN is in state running.",
                &[
                    base[0],
                    base[1],
                    ("lun", lun.as_str()),
                    ("device", l.block.as_deref().unwrap_or("")),
                    ("state", l.state.as_deref().unwrap_or("")),
                ],
                if l.state.as_deref() == Some("running") {
                    1.0
                } else {
                    0.0
                },
            );
        }
    }
    let index = DiskIndex::new(st);
    for m in &st.multipath {
        let labels = [
            ("device", m.device.as_str()),
            ("name", m.name.as_deref().unwrap_or("")),
        ];
        out.push(
            "hvscope_iscsi_multipath_paths",
            "Paths (slave devices) of a device-mapper device.",
            &labels,
            m.slaves.len() as f64,
        );
        out.push(
            "hvscope_iscsi_multipath_active_paths",
            "Paths of a device-mapper device whose LUN is running under a session that is up.",
            &labels,
            index.active_paths(m) as f64,
        );
    }
    for d in &st.diskstats {
        let l = [("device", d.name.as_str())];
        let ms = |v: u64| v as f64 / 1000.0;
        let c = [
            (
                "hvscope_disk_reads_completed_total",
                "Reads completed (proc/diskstats).",
                d.reads as f64,
            ),
            (
                "hvscope_disk_writes_completed_total",
                "Writes completed (proc/diskstats).",
                d.writes as f64,
            ),
            (
                "hvscope_disk_read_bytes_total",
                "Bytes read.",
                d.read_sectors.saturating_mul(SECTOR_BYTES) as f64,
            ),
            (
                "hvscope_disk_written_bytes_total",
                "Bytes written.",
                d.write_sectors.saturating_mul(SECTOR_BYTES) as f64,
            ),
            (
                "hvscope_disk_io_completed_seconds_total",
                "Time spent by completed I/Os of every kind (rate / rate of ios = average latency).",
                ms(d.ios_ms()),
            ),
            (
                "hvscope_disk_ios_completed_total",
                "I/Os completed of every kind (reads, writes, discards, flushes).",
                d.ios() as f64,
            ),
            (
                "hvscope_disk_io_time_seconds_total",
                "Time with at least one I/O in flight (rate = utilisation).",
                ms(d.io_ms),
            ),
            (
                "hvscope_disk_ios_in_flight",
                "I/Os in flight now.",
                d.in_flight as f64,
            ),
        ];
        for (name, help, v) in c {
            out.push(name, help, &l, v);
        }
    }
    rate_series(&st.rates, out);
}

/// Appends the collector's per-device rates over its last interval.
pub fn rate_series(rates: &[DiskRates], out: &mut SeriesBuf) {
    for r in rates {
        let l = [("device", r.name.as_str())];
        if let Some(lat) = r.avg_latency_secs {
            out.push(
                "hvscope_disk_io_latency_seconds",
                "Average time per I/O completed in the last collection interval (absent when none completed).",
                &l,
                lat,
            );
        }
        out.push(
            "hvscope_disk_ios_per_second",
            "I/Os completed per second over the last collection interval.",
            &l,
            r.iops,
        );
        out.push(
            "hvscope_disk_utilization_ratio",
            "Fraction of the last collection interval with I/O in flight (0..1).",
            &l,
            r.utilisation,
        );
    }
}
