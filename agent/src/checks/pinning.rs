//! CPU-pinning invariants over the libvirt part of a snapshot (DESIGN.md §3):
//! `pinning.affinity_drift`, `pinning.dedicated_overlap`, `pinning.outside_dedicated_set`,
//! `pinning.numa_mismatch`. Pure functions of the snapshot.

use std::collections::{BTreeMap, BTreeSet};

use hvscope_parse::cpuset::CpuSet;
use hvscope_parse::libvirt::Domain;

use super::{Check, Finding, Severity};
use crate::snapshot::Snapshot;

use crate::sources::libvirt::{Role, Vm};

pub const AFFINITY_DRIFT: &str = "pinning.affinity_drift";
pub const DEDICATED_OVERLAP: &str = "pinning.dedicated_overlap";
pub const OUTSIDE_DEDICATED_SET: &str = "pinning.outside_dedicated_set";
pub const NUMA_MISMATCH: &str = "pinning.numa_mismatch";

/// Every pinning check id, for series that count violations per check.
pub const ALL: [&str; 4] = [
    AFFINITY_DRIFT,
    DEDICATED_OVERLAP,
    OUTSIDE_DEDICATED_SET,
    NUMA_MISMATCH,
];

/// Where libvirt places vCPU `n`: its `<vcpupin>`, else `<vcpu cpuset>`.
pub fn vcpu_pin(d: &Domain, n: u32) -> Option<&CpuSet> {
    d.cputune.vcpupin.get(&n).or(d.vcpu_cpuset.as_ref())
}

fn ids(d: &Domain) -> [(&'static str, &str); 2] {
    [
        ("domain_uuid", d.uuid.as_str()),
        ("domain_name", d.name.as_str()),
    ]
}

/// A vCPU, emulator or I/O thread may run somewhere other than the domain XML says.
pub struct AffinityDrift;

impl Check for AffinityDrift {
    fn id(&self) -> &'static str {
        AFFINITY_DRIFT
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let mut out = Vec::new();
        for vm in &snap.libvirt.vms {
            let d = &vm.domain;
            let mut emulator_drift: Vec<(u32, &CpuSet)> = Vec::new();
            let emulator_pin = d.cputune.emulatorpin.as_ref().or(d.vcpu_cpuset.as_ref());
            for t in &vm.threads {
                let Some(actual) = &t.affinity else { continue };
                let (expected, what) = match t.role {
                    Role::Vcpu(n) => (vcpu_pin(d, n), ("vcpu", n.to_string())),
                    Role::IoThread(n) => (
                        d.cputune.iothreadpin.get(&n).or(d.vcpu_cpuset.as_ref()),
                        ("iothread", n.to_string()),
                    ),
                    Role::Emulator => {
                        if emulator_pin.is_some_and(|p| p != actual) {
                            emulator_drift.push((t.tid, actual));
                        }
                        continue;
                    }
                    Role::Kernel => continue,
                };
                let Some(expected) = expected else { continue };
                if expected == actual {
                    continue;
                }
                let label = if what.0 == "vcpu" {
                    "vCPU"
                } else {
                    "I/O thread"
                };
                let [a, b] = ids(d);
                out.push(Finding::new(
                    AFFINITY_DRIFT,
                    Severity::Critical,
                    &[a, b, (what.0, &what.1)],
                    format!(
                        "{label} {} thread {} may run on CPUs {actual}; domain XML pins it to {expected}",
                        what.1, t.tid
                    ),
                ));
            }
            if let (Some(pin), false) = (emulator_pin, emulator_drift.is_empty()) {
                let tids: Vec<String> = emulator_drift.iter().map(|(t, _)| t.to_string()).collect();
                let cpus: BTreeSet<String> =
                    emulator_drift.iter().map(|(_, c)| c.to_string()).collect();
                let [a, b] = ids(d);
                out.push(Finding::new(
                    AFFINITY_DRIFT,
                    Severity::Critical,
                    &[a, b, ("thread", "emulator")],
                    format!(
                        "emulator threads {} may run on CPUs {}; domain XML pins them to {pin}",
                        tids.join(", "),
                        cpus.into_iter().collect::<Vec<_>>().join(" / ")
                    ),
                ));
            }
        }
        out
    }
}

/// Dedicated (single-CPU) vCPUs of two domains share a host CPU.
pub struct DedicatedOverlap;

impl Check for DedicatedOverlap {
    fn id(&self) -> &'static str {
        DEDICATED_OVERLAP
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        // host cpu -> {(domain uuid, name, vcpu)}: a vCPU whose XML pin is one CPU is dedicated
        // (nova's hw:cpu_policy=dedicated); it occupies its pinned CPU and, if its thread
        // actually runs on another single CPU, that one too.
        let mut by_cpu: BTreeMap<u32, BTreeSet<(&str, &str, u32)>> = BTreeMap::new();
        for vm in &snap.libvirt.vms {
            let d = &vm.domain;
            for (&n, pin) in &d.cputune.vcpupin {
                let Some(cpu) = pin.single() else { continue };
                let mut cpus = vec![cpu];
                if let Some(actual) = actual_single(vm, n) {
                    cpus.push(actual);
                }
                for c in cpus {
                    by_cpu.entry(c).or_default().insert((&d.uuid, &d.name, n));
                }
            }
        }
        by_cpu
            .into_iter()
            .filter(|(_, users)| users.iter().map(|u| u.0).collect::<BTreeSet<_>>().len() > 1)
            .map(|(cpu, users)| {
                let who: Vec<String> = users
                    .iter()
                    .map(|(uuid, name, v)| format!("{uuid} ({name}) vcpu {v}"))
                    .collect();
                Finding::new(
                    DEDICATED_OVERLAP,
                    Severity::Critical,
                    &[("cpu", &cpu.to_string())],
                    format!(
                        "host CPU {cpu} is the dedicated CPU of vCPUs of several domains: {}",
                        who.join(", ")
                    ),
                )
            })
            .collect()
    }
}

fn actual_single(vm: &Vm, vcpu: u32) -> Option<u32> {
    vm.threads
        .iter()
        .find(|t| t.role == Role::Vcpu(vcpu))
        .and_then(|t| t.affinity.as_ref())
        .and_then(CpuSet::single)
}

/// Pinned vCPUs outside nova's `cpu_dedicated_set`; emulator threads outside `cpu_shared_set`
/// (and outside the domain's own vCPU pins, where nova puts them without
/// `hw:emulator_threads_policy=share`).
pub struct OutsideDedicatedSet {
    /// From the agent config, used when the host has no readable nova.conf.
    pub dedicated: Option<CpuSet>,
    pub shared: Option<CpuSet>,
}

impl Check for OutsideDedicatedSet {
    fn id(&self) -> &'static str {
        OUTSIDE_DEDICATED_SET
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let nova = snap.libvirt.nova.as_ref();
        let dedicated = nova
            .and_then(|n| n.dedicated.as_ref())
            .or(self.dedicated.as_ref());
        let shared = nova
            .and_then(|n| n.shared.as_ref())
            .or(self.shared.as_ref());
        let mut out = Vec::new();
        for vm in &snap.libvirt.vms {
            let d = &vm.domain;
            let [a, b] = ids(d);
            if let Some(ded) = dedicated {
                for (n, pin) in &d.cputune.vcpupin {
                    if !pin.is_subset(ded) {
                        out.push(Finding::new(
                            OUTSIDE_DEDICATED_SET,
                            Severity::Warning,
                            &[a, b, ("vcpu", &n.to_string())],
                            format!(
                                "vCPU {n} is pinned to CPUs {pin}, outside cpu_dedicated_set {ded}"
                            ),
                        ));
                    }
                }
            }
            if let (Some(sh), Some(emu)) = (shared, d.cputune.emulatorpin.as_ref()) {
                let own: CpuSet = CpuSet::of(d.cputune.vcpupin.values().flat_map(|p| p.iter()));
                if !emu.is_subset(sh) && !emu.is_subset(&own) {
                    out.push(Finding::new(
                        OUTSIDE_DEDICATED_SET,
                        Severity::Warning,
                        &[a, b, ("thread", "emulator")],
                        format!("emulator threads are pinned to CPUs {emu}, outside cpu_shared_set {sh} and the domain's own vCPUs"),
                    ));
                }
            }
        }
        out
    }
}

/// `<numatune>` memory nodes do not hold the NUMA nodes of the pinned CPUs.
pub struct NumaMismatch;

impl Check for NumaMismatch {
    fn id(&self) -> &'static str {
        NUMA_MISMATCH
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        // Host CPU -> NUMA node, from the host source's sysfs topology.
        let nodes: BTreeMap<u32, u32> = snap
            .host
            .numa
            .iter()
            .flatten()
            .flat_map(|n| n.cpus.iter().map(move |c| (*c, n.node)))
            .collect();
        let mut out = Vec::new();
        if nodes.is_empty() {
            return out;
        }
        for vm in &snap.libvirt.vms {
            let d = &vm.domain;
            let Some(nt) = &d.numatune else { continue };
            let pinned = CpuSet::of(d.cputune.vcpupin.values().flat_map(|p| p.iter()));
            let cpu_nodes = CpuSet::of(pinned.iter().filter_map(|c| nodes.get(&c).copied()));
            if !cpu_nodes.is_empty() && !cpu_nodes.is_subset(&nt.nodeset) {
                let [a, b] = ids(d);
                out.push(Finding::new(
                    NUMA_MISMATCH,
                    Severity::Warning,
                    &[a, b],
                    format!(
                        "vCPUs pinned to CPUs {pinned} on NUMA nodes {cpu_nodes}, but memory is bound to nodes {} ({})",
                        nt.nodeset, nt.mode
                    ),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
