//! `hvscope_vm_disk_delayed_seconds_total`: the seconds in which a VM's disk I/O was slow.
//!
//! # Definition
//! The accumulator is fed `proc/diskstats` readings at a fine period (1 s intended; any period
//! works) with, for each live VM, the host block devices its disks open (from the iSCSI join:
//! the multipath `dm-N` or the SCSI `sdX`). For each interval between two consecutive readings
//! of length `dt`:
//! - a device is **delayed** when I/Os completed in the interval and their average time
//!   (Δ ms spent by completed I/Os / Δ I/Os completed, reads + writes + discards + flushes) is
//!   above `threshold_ms`; or when no I/O completed while I/O was in flight at both readings
//!   (requests stuck on a blocked device);
//! - a VM is **observed** for `dt` when at least one of its devices has both readings with
//!   counters that did not go backwards, and **delayed** for `dt` when any observed device of
//!   it is delayed;
//! - intervals longer than `max_gap_ms` (the sampler stalled) or not advancing are not counted:
//!   neither observed nor delayed, so a stall never inflates the SLI.
//!
//! `delayed / observed` over a window is the fraction of time the VM's disk was slow; the
//! counters start at 0 when a VM first appears and are dropped when it disappears.
//!
//! # Wiring
//! The collection loop owns one `DiskDelaySli::new(config.iscsi.delay_threshold_ms, 5_000)`. A
//! 1 s ticker calls [`DiskDelaySli::sample`] with `now_ms()`, the collector's one reading of
//! `proc/diskstats` for that sample ([`DiskstatsFile`](crate::sources::proc::files::DiskstatsFile)) and
//! the [`vm_devices`] of the latest snapshot's join (disk → device changes at collection pace,
//! not per second); every collection appends [`DiskDelaySli::series`] to its batch.

use std::collections::BTreeMap;

use crate::series::SeriesBuf;
use crate::sources::iscsi::join::{Backing, DiskMapping};
use hvscope_parse::proc::diskstats::{DiskStat, delta};

/// One VM and the host devices behind its disks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmDevices {
    pub uuid: String,
    pub name: String,
    pub devices: Vec<String>,
}

/// The VMs of a join, each with the devices of its kernel-iSCSI disks.
pub fn vm_devices(maps: &[DiskMapping]) -> Vec<VmDevices> {
    let mut out: Vec<VmDevices> = Vec::new();
    for m in maps {
        let Backing::Kernel { device, .. } = &m.backing else {
            continue;
        };
        match out.iter_mut().find(|v| v.uuid == m.domain_uuid) {
            Some(v) if !v.devices.contains(device) => v.devices.push(device.clone()),
            Some(_) => {}
            None => out.push(VmDevices {
                uuid: m.domain_uuid.clone(),
                name: m.domain_name.clone(),
                devices: vec![device.clone()],
            }),
        }
    }
    out
}

/// Counters of one VM, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct VmDiskSli {
    pub observed_secs: f64,
    pub delayed_secs: f64,
}

/// The accumulator. Holds the previous reading of the sampled devices and one counter pair per
/// live VM: bounded by the devices and VMs of the last sample.
#[derive(Debug)]
pub struct DiskDelaySli {
    threshold_ms: f64,
    max_gap_ms: i64,
    prev: Option<(i64, Vec<DiskStat>)>,
    vms: BTreeMap<String, (String, VmDiskSli)>,
}

impl DiskDelaySli {
    /// An accumulator with latency threshold `threshold_ms` that ignores intervals longer than
    /// `max_gap_ms`.
    pub fn new(threshold_ms: f64, max_gap_ms: i64) -> Self {
        Self {
            threshold_ms,
            max_gap_ms,
            prev: None,
            vms: BTreeMap::new(),
        }
    }

    /// Feeds one reading taken at `now_ms`.
    pub fn sample(&mut self, now_ms: i64, stats: &[DiskStat], vms: &[VmDevices]) {
        self.vms
            .retain(|uuid, _| vms.iter().any(|v| &v.uuid == uuid));
        for v in vms {
            let e = self.vms.entry(v.uuid.clone()).or_default();
            e.0.clone_from(&v.name);
        }
        if let Some((t, prev)) = &self.prev {
            let dt = now_ms.saturating_sub(*t);
            if dt > 0 && dt <= self.max_gap_ms {
                for v in vms {
                    let (observed, delayed) = self.judge(prev, stats, &v.devices, dt as u64);
                    let c = &mut self.vms.get_mut(&v.uuid).expect("inserted above").1;
                    if observed {
                        c.observed_secs += dt as f64 / 1000.0;
                        if delayed {
                            c.delayed_secs += dt as f64 / 1000.0;
                        }
                    }
                }
            }
        }
        let keep: Vec<DiskStat> = stats
            .iter()
            .filter(|s| vms.iter().any(|v| v.devices.iter().any(|d| **d == *s.name)))
            .cloned()
            .collect();
        self.prev = Some((now_ms, keep));
    }

    fn judge(&self, prev: &[DiskStat], cur: &[DiskStat], devs: &[String], dt: u64) -> (bool, bool) {
        let (mut observed, mut delayed) = (false, false);
        for d in devs {
            let (Some(p), Some(c)) = (
                prev.iter().find(|s| *s.name == **d),
                cur.iter().find(|s| *s.name == **d),
            ) else {
                continue;
            };
            let Some(r) = delta(p, c, dt) else { continue };
            observed = true;
            let slow = r
                .avg_latency_secs
                .is_some_and(|l| l * 1000.0 > self.threshold_ms);
            let stuck = r.completed == 0 && p.in_flight > 0 && c.in_flight > 0;
            delayed |= slow || stuck;
        }
        (observed, delayed)
    }

    /// The counters of VM `uuid`.
    pub fn get(&self, uuid: &str) -> Option<VmDiskSli> {
        self.vms.get(uuid).map(|(_, c)| *c)
    }

    /// `hvscope_vm_disk_delayed_seconds_total` and its denominator
    /// `hvscope_vm_disk_observed_seconds_total`, per VM.
    pub fn series(&self, out: &mut SeriesBuf) {
        for (uuid, (_, c)) in &self.vms {
            series(uuid, c, out);
        }
    }
}

/// The disk-delay series of one VM (labelled by `domain_uuid` only, like every per-VM series;
/// the name is in `hvscope_vm_info`).
pub fn series(uuid: &str, c: &VmDiskSli, out: &mut SeriesBuf) {
    let l = [("domain_uuid", uuid)];
    out.push(
        "hvscope_vm_disk_delayed_seconds_total",
        "Seconds in which the VM's disk I/O latency was above the threshold (or I/O was stuck).",
        &l,
        c.delayed_secs,
    );
    out.push(
        "hvscope_vm_disk_observed_seconds_total",
        "Seconds in which the VM's disk latency was observed (denominator of the disk delay SLI).",
        &l,
        c.observed_secs,
    );
}

#[cfg(test)]
mod tests;
