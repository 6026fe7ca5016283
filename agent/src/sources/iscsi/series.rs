//! Series of the iSCSI source: session and connection state, LUNs, multipath paths, the block
//! device counters of `proc/diskstats`, and the collector's [`DiskRates`] over its last interval
//! (average latency, I/O rate, utilization; PromQL can derive the same from the counters).
//!
//! A node with hundreds of sessions has tens of thousands of these series, and almost none of
//! their label sets change between collections, so they are built once and kept in the
//! [`LabelCache`] the [`IscsiSource`](super::IscsiSource) hands to each state it reads: a
//! session's samples as long as it is the same (unchanged, shared) [`Session`], a device's label
//! sets as long as the devices in `proc/diskstats` are the same ones in the same order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{DiskIndex, IscsiState, Multipath, Session};
use crate::series::{Labels, Sample, SeriesBuf};
use hvscope_parse::proc::diskstats::{DiskRates, DiskStat, sector_bytes};

/// Label sets (and the samples of unchanged sessions) built by earlier calls of [`series`] for
/// earlier states of the same source. Clones share it. Each entry is checked against the state
/// before use (the same shared session, the same device name), so a stale entry is rebuilt,
/// never used. Equality ignores it: it is not part of what was read.
#[derive(Clone, Default)]
pub struct LabelCache(Arc<Mutex<Cache>>);

impl PartialEq for LabelCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for LabelCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LabelCache")
    }
}

#[derive(Default)]
struct Cache {
    /// Calls of [`series`] so far (entries not used by the last one are dropped).
    pass: u64,
    /// By the address of the shared session, which the entry holds (so the address is not
    /// reused while it is here): its samples, values included (a session does not change once
    /// read: a change is a new one).
    sessions: HashMap<usize, SessionEntry>,
    /// The multipath maps these label sets were built for, and per map its two label sets.
    multipath: Option<(Arc<Vec<Multipath>>, Vec<MultipathLabels>)>,
    /// Per device of `diskstats`, in its order: the name and the label sets of
    /// [`DEVICE_SERIES`] then [`RATE_SERIES`].
    devices: Vec<(Arc<str>, Vec<Labels>)>,
}

/// The label sets of one map's [`MULTIPATH_SERIES`].
type MultipathLabels = [Labels; 2];

struct SessionEntry {
    session: Arc<Session>,
    samples: Vec<Sample>,
    pass: u64,
}

/// Per-device counters: name, help.
const DEVICE_SERIES: [(&str, &str); 8] = [
    (
        "hvscope_disk_reads_completed_total",
        "Reads completed (proc/diskstats).",
    ),
    (
        "hvscope_disk_writes_completed_total",
        "Writes completed (proc/diskstats).",
    ),
    ("hvscope_disk_read_bytes_total", "Bytes read."),
    ("hvscope_disk_written_bytes_total", "Bytes written."),
    (
        "hvscope_disk_io_completed_seconds_total",
        "Time spent by completed I/Os of every kind (rate / rate of ios = average latency).",
    ),
    (
        "hvscope_disk_ios_completed_total",
        "I/Os completed of every kind (reads, writes, discards, flushes).",
    ),
    (
        "hvscope_disk_io_time_seconds_total",
        "Time with at least one I/O in flight (rate = utilisation).",
    ),
    ("hvscope_disk_ios_in_flight", "I/Os in flight now."),
];

/// Per-device rates over the collector's last interval: name, help.
const RATE_SERIES: [(&str, &str); 3] = [
    (
        "hvscope_disk_io_latency_seconds",
        "Average time per I/O completed in the last collection interval (absent when none completed).",
    ),
    (
        "hvscope_disk_ios_per_second",
        "I/Os completed per second over the last collection interval.",
    ),
    (
        "hvscope_disk_utilization_ratio",
        "Fraction of the last collection interval with I/O in flight (0..1).",
    ),
];

/// Appends the series of `st`. Sessions that could not be read emit nothing (they are an
/// unknown source part, not a down session).
pub fn series(st: &IscsiState, out: &mut SeriesBuf) {
    out.samples.reserve(
        st.sessions.len() * 8
            + st.multipath.len() * 2
            + st.diskstats.len() * DEVICE_SERIES.len()
            + st.rates.len() * RATE_SERIES.len(),
    );
    let mut cache = st.labels.0.lock().unwrap_or_else(|p| p.into_inner());
    cache.pass += 1;
    let pass = cache.pass;
    let mut used = 0;
    for s in st.sessions.iter().filter(|s| s.error.is_none()) {
        let key = Arc::as_ptr(s) as usize;
        let e = match cache.sessions.get_mut(&key) {
            Some(e) if Arc::ptr_eq(&e.session, s) => e,
            _ => {
                let mut buf = SeriesBuf::default();
                session_series(s, &mut buf);
                cache.sessions.insert(
                    key,
                    SessionEntry {
                        session: Arc::clone(s),
                        samples: buf.samples,
                        pass,
                    },
                );
                cache.sessions.get_mut(&key).expect("just inserted")
            }
        };
        e.pass = pass;
        used += 1;
        out.samples.extend(e.samples.iter().cloned());
    }
    if cache.sessions.len() > used {
        cache.sessions.retain(|_, e| e.pass == pass);
    }

    let index = DiskIndex::new(st);
    let fresh = !matches!(&cache.multipath, Some((m, _)) if Arc::ptr_eq(m, &st.multipath));
    if fresh {
        let labels = st
            .multipath
            .iter()
            .map(|m| {
                let l = [
                    ("device", m.device.as_str()),
                    ("name", m.name.as_deref().unwrap_or("")),
                ];
                [
                    Labels::new(MULTIPATH_SERIES[0].0, &l),
                    Labels::new(MULTIPATH_SERIES[1].0, &l),
                ]
            })
            .collect();
        cache.multipath = Some((Arc::clone(&st.multipath), labels));
    }
    if let Some((_, labels)) = &cache.multipath {
        for (m, [paths, active]) in st.multipath.iter().zip(labels) {
            out.push_labels(paths, MULTIPATH_SERIES[0].1, m.slaves.len() as f64);
            out.push_labels(active, MULTIPATH_SERIES[1].1, index.active_paths(m) as f64);
        }
    }

    let same_devices = cache.devices.len() == st.diskstats.len()
        && cache
            .devices
            .iter()
            .zip(&st.diskstats)
            .all(|((n, _), d)| *n == d.name);
    if !same_devices {
        cache.devices = st
            .diskstats
            .iter()
            .map(|d| {
                let l = [("device", &*d.name)];
                let labels = DEVICE_SERIES
                    .iter()
                    .chain(&RATE_SERIES)
                    .map(|(name, _)| Labels::new(name, &l))
                    .collect();
                (d.name.clone(), labels)
            })
            .collect();
    }
    for (d, (_, labels)) in st.diskstats.iter().zip(&cache.devices) {
        for ((_, help), (l, v)) in DEVICE_SERIES
            .iter()
            .zip(labels.iter().zip(device_values(d)))
        {
            out.push_labels(l, help, v);
        }
    }
    // The rates are of devices of `diskstats`, in its order.
    let mut next = 0;
    for r in &st.rates {
        match cache.devices[next..].iter().position(|(n, _)| *n == r.name) {
            Some(i) => {
                next += i;
                push_rates(r, Some(&cache.devices[next].1[DEVICE_SERIES.len()..]), out);
            }
            None => push_rates(r, None, out),
        }
    }
}

/// Multipath series: name, help.
const MULTIPATH_SERIES: [(&str, &str); 2] = [
    (
        "hvscope_iscsi_multipath_paths",
        "Paths (slave devices) of a device-mapper device.",
    ),
    (
        "hvscope_iscsi_multipath_active_paths",
        "Paths of a device-mapper device whose LUN is running under a session that is up.",
    ),
];

/// The values of [`DEVICE_SERIES`] for `d`.
fn device_values(d: &DiskStat) -> [f64; 8] {
    let ms = |v: u64| v as f64 / 1000.0;
    [
        d.reads as f64,
        d.writes as f64,
        sector_bytes(d.read_sectors) as f64,
        sector_bytes(d.write_sectors) as f64,
        ms(d.ios_ms()),
        d.ios() as f64,
        ms(d.io_ms),
        d.in_flight as f64,
    ]
}

/// The series of one session that could be read.
fn session_series(s: &Session, out: &mut SeriesBuf) {
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

/// Appends the collector's per-device rates over its last interval.
pub fn rate_series(rates: &[DiskRates], out: &mut SeriesBuf) {
    for r in rates {
        push_rates(r, None, out);
    }
}

/// The [`RATE_SERIES`] of `r`, with the label sets kept for its device when given.
fn push_rates(r: &DiskRates, kept: Option<&[Labels]>, out: &mut SeriesBuf) {
    let values = [r.avg_latency_secs, Some(r.iops), Some(r.utilisation)];
    for (i, ((name, help), v)) in RATE_SERIES.iter().zip(values).enumerate() {
        let Some(v) = v else { continue };
        match kept.and_then(|k| k.get(i)) {
            Some(l) => out.push_labels(l, help, v),
            None => out.push(name, help, &[("device", &*r.name)], v),
        }
    }
}
