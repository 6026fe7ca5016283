//! Per-VM service-level indicators: counters that grow by the seconds in which a VM was
//! degraded, with a denominator (DESIGN.md §3). They are sampled more often than batches are
//! sent (default every second) so that short stalls are not averaged away.
//!
//! Exact definitions, per pair of consecutive samples of one running VM taken `dt` seconds
//! apart (`0 < dt ≤ 3 × sample interval`; a longer gap — the agent was stopped or starved — is
//! not counted and only starts a new baseline):
//! - `hvscope_vm_observed_seconds_total` += `dt`.
//! - `hvscope_vm_cpu_starved_seconds_total` += `dt` when the vCPU wait ratio
//!   `Σ Δ(schedstat wait of the VM's vCPU threads) / (vCPUs × dt)` exceeds
//!   `cpu_wait_ratio` (default 0.10): the VM's vCPUs spent more than 10 % of their capacity
//!   runnable but waiting for a host CPU (libvirt's `vcpu.N.delay`, steal as the guest feels it).
//! - `hvscope_vm_memory_stalled_seconds_total` += `dt` when the memory stall ratio
//!   `Δ(some total of memory.pressure) / dt` exceeds `memory_stall_ratio` (default 0.10), read
//!   from the VM's cgroup v2 `memory.pressure` when the host has it, else from the host's
//!   `/proc/pressure/memory` (then every VM on the host is charged the host's stall). While the
//!   host's total stands still no VM's can move, so the sampler then reuses each VM's last
//!   total instead of reading its `memory.pressure` ([`memory_quiet`]).
//!
//! Counters that go backwards (a restarted VM, a recreated cgroup) start a new baseline.

pub mod disk_delay;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::series::SeriesBuf;
use crate::sources::libvirt::VmSample;

/// Thresholds and cadence (the `[sli]` config section).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliConfig {
    /// Milliseconds between SLI samples (100..=10000).
    #[serde(default = "default_sample_interval_ms")]
    pub sample_interval_ms: u64,
    /// vCPU wait ratio above which a second counts as CPU-starved.
    #[serde(default = "default_ratio")]
    pub cpu_wait_ratio: f64,
    /// Memory stall ratio (PSI `some`) above which a second counts as memory-stalled.
    #[serde(default = "default_ratio")]
    pub memory_stall_ratio: f64,
}

fn default_sample_interval_ms() -> u64 {
    1000
}
fn default_ratio() -> f64 {
    0.10
}

impl Default for SliConfig {
    fn default() -> Self {
        Self {
            sample_interval_ms: default_sample_interval_ms(),
            cpu_wait_ratio: default_ratio(),
            memory_stall_ratio: default_ratio(),
        }
    }
}

/// Whether the host's memory PSI `some` total (µs) did not move between two samples. A task
/// stalled on memory in any cgroup is a stalled task of the whole system, so every cgroup's
/// `some` total grows by at most the host's: when the host's stands still, every VM's does,
/// and the sampler need not read them. Unknown either side: not quiet.
pub fn memory_quiet(prev_host_us: Option<u64>, host_us: Option<u64>) -> bool {
    matches!((prev_host_us, host_us), (Some(a), Some(b)) if a == b)
}

/// The counters of one VM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SliTotals {
    pub observed_seconds: f64,
    pub cpu_starved_seconds: f64,
    pub memory_stalled_seconds: f64,
}

#[derive(Debug, Clone, Copy)]
struct Prev {
    t: f64,
    wait_ns: u64,
    mem_us: Option<u64>,
    host_mem_us: Option<u64>,
}

/// One VM's counters, its last reading, and the sample that last saw it.
#[derive(Debug, Default)]
struct VmSli {
    totals: SliTotals,
    prev: Option<Prev>,
    seen: u64,
}

/// SLI state of every VM (bounded by the VMs present at the last sample).
#[derive(Debug, Default)]
pub struct Sli {
    config: SliConfig,
    vms: HashMap<Arc<str>, VmSli>,
    /// Samples recorded so far (marks which VMs the last one saw).
    round: u64,
}

impl Sli {
    /// An empty state with `config`.
    pub fn new(config: SliConfig) -> Self {
        Self {
            config,
            vms: HashMap::new(),
            round: 0,
        }
    }

    /// Records one sample at `t` seconds (monotonic). VMs absent from `samples` are forgotten.
    /// A VM already known costs one lookup and no allocation.
    pub fn record(&mut self, t: f64, host_memory_stall_us: Option<u64>, samples: &[VmSample]) {
        let max_gap = 3.0 * self.config.sample_interval_ms as f64 / 1000.0;
        self.round += 1;
        let round = self.round;
        for s in samples {
            // The key is shared (`Arc`): no allocation for a VM already known.
            let vm = self.vms.entry(s.uuid.clone()).or_default();
            vm.seen = round;
            let (totals, prev) = (&mut vm.totals, &mut vm.prev);
            let cur = Prev {
                t,
                wait_ns: s.vcpu_wait_ns,
                mem_us: s.memory_stall_us,
                host_mem_us: host_memory_stall_us,
            };
            if let Some(p) = prev.replace(cur) {
                let dt = t - p.t;
                if !(dt > 0.0 && dt <= max_gap) || s.vcpu_wait_ns < p.wait_ns {
                    continue;
                }
                totals.observed_seconds += dt;
                let capacity_ns = s.vcpus.max(1) as f64 * dt * 1e9;
                if (s.vcpu_wait_ns - p.wait_ns) as f64 / capacity_ns > self.config.cpu_wait_ratio {
                    totals.cpu_starved_seconds += dt;
                }
                let stall_us = match (s.memory_stall_us, p.mem_us) {
                    (Some(now), Some(before)) => now.checked_sub(before),
                    _ => host_memory_stall_us
                        .zip(p.host_mem_us)
                        .and_then(|(n, b)| n.checked_sub(b)),
                };
                if let Some(us) = stall_us
                    && us as f64 / (dt * 1e6) > self.config.memory_stall_ratio
                {
                    totals.memory_stalled_seconds += dt;
                }
            }
        }
        self.vms.retain(|_, vm| vm.seen == round);
    }

    /// The counters of `uuid`.
    pub fn totals(&self, uuid: &str) -> Option<SliTotals> {
        self.vms.get(uuid).map(|vm| vm.totals)
    }

    /// The configuration.
    pub fn config(&self) -> &SliConfig {
        &self.config
    }
}

/// The SLI series of one VM.
pub fn series(uuid: &str, t: &SliTotals, out: &mut SeriesBuf) {
    let l = [("domain_uuid", uuid)];
    out.push(
        "hvscope_vm_observed_seconds_total",
        "Seconds the VM was observed running (the SLI denominator).",
        &l,
        t.observed_seconds,
    );
    out.push(
        "hvscope_vm_cpu_starved_seconds_total",
        "Seconds in which the VM's vCPU wait ratio exceeded the threshold.",
        &l,
        t.cpu_starved_seconds,
    );
    out.push(
        "hvscope_vm_memory_stalled_seconds_total",
        "Seconds in which memory pressure on the VM (or host) exceeded the threshold.",
        &l,
        t.memory_stalled_seconds,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_quiet_only_when_the_host_total_is_known_and_unchanged() {
        assert!(memory_quiet(Some(0), Some(0)));
        assert!(memory_quiet(Some(42), Some(42)));
        assert!(!memory_quiet(Some(42), Some(43)));
        assert!(!memory_quiet(None, Some(0)));
        assert!(!memory_quiet(Some(0), None));
        assert!(!memory_quiet(None, None));
    }

    fn s(wait_ns: u64, mem: Option<u64>) -> VmSample {
        VmSample {
            uuid: Arc::from("u"),
            vcpus: 2,
            vcpu_wait_ns: wait_ns,
            memory_stall_us: mem,
        }
    }

    #[test]
    fn short_stalls_are_counted_per_second() {
        let mut sli = Sli::new(SliConfig::default());
        sli.record(0.0, None, &[s(0, Some(0))]);
        // 1 s, 2 vCPUs: 0.3 s of wait = ratio 0.15 > 0.10 → starved.
        sli.record(1.0, None, &[s(300_000_000, Some(0))]);
        // 0.1 s of wait = 0.05 → fine; 200 ms memory stall = 0.2 → stalled.
        sli.record(2.0, None, &[s(400_000_000, Some(200_000))]);
        let t = sli.totals("u").unwrap();
        assert_eq!(t.observed_seconds, 2.0);
        assert_eq!(t.cpu_starved_seconds, 1.0);
        assert_eq!(t.memory_stalled_seconds, 1.0);
    }

    #[test]
    fn host_pressure_is_the_fallback_and_gaps_are_not_counted() {
        let mut sli = Sli::new(SliConfig::default());
        sli.record(0.0, Some(1_000), &[s(0, None)]);
        sli.record(1.0, Some(501_000), &[s(0, None)]);
        assert_eq!(sli.totals("u").unwrap().memory_stalled_seconds, 1.0);
        // 10 s gap (agent stopped): new baseline only.
        sli.record(11.0, Some(9_000_000), &[s(9_000_000_000, None)]);
        assert_eq!(sli.totals("u").unwrap().observed_seconds, 1.0);
        // counters going backwards (VM restarted): new baseline.
        sli.record(12.0, Some(9_000_000), &[s(5, None)]);
        assert_eq!(sli.totals("u").unwrap().observed_seconds, 1.0);
        sli.record(13.0, Some(9_000_000), &[s(5, None)]);
        assert_eq!(sli.totals("u").unwrap().observed_seconds, 2.0);
        // VM gone: forgotten.
        sli.record(14.0, None, &[]);
        assert!(sli.totals("u").is_none());
    }
}
