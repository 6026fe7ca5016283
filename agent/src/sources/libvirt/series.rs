//! Series of the libvirt source. Per VM the only identifying label is `domain_uuid`; nova's
//! metadata is exported once per VM as `hvscope_vm_info` (never copied onto every series: that
//! multiplies cardinality), and pinning as values, never CPU masks as labels.

use super::reader::{Libvirt, Role};
use crate::series::SeriesBuf;

/// Adds the libvirt series of a snapshot.
pub fn series(l: &Libvirt, out: &mut SeriesBuf) {
    out.push(
        "hvscope_libvirt_present",
        "1 when libvirt's QEMU runtime directory exists on this host.",
        &[],
        if l.present { 1.0 } else { 0.0 },
    );
    out.push(
        "hvscope_libvirt_domains",
        "Running or paused domains read from libvirt's status files.",
        &[],
        l.vms.len() as f64,
    );
    for vm in &l.vms {
        let d = &vm.domain;
        let u = [("domain_uuid", d.uuid.as_str())];
        let nova = d.nova.clone().unwrap_or_default();
        let mut info = vec![
            ("domain_uuid", d.uuid.as_str()),
            ("domain_name", d.name.as_str()),
            ("state", d.state.as_str()),
            ("nova_name", nova.name.as_str()),
            ("flavor", nova.flavor.name.as_str()),
        ];
        let opt = [
            ("project_id", &nova.project_id),
            ("project_name", &nova.project_name),
            ("user_id", &nova.user_id),
            ("user_name", &nova.user_name),
            ("root_type", &nova.root_type),
            ("created", &nova.creation_time),
        ];
        for (k, v) in &opt {
            if let Some(v) = v {
                info.push((k, v.as_str()));
            }
        }
        out.push(
            "hvscope_vm_info",
            "A running VM and its nova metadata (value 1).",
            &info,
            1.0,
        );
        out.push("hvscope_vm_vcpus", "vCPUs of the VM.", &u, d.vcpus as f64);
        out.push(
            "hvscope_vm_memory_bytes",
            "Memory configured for the VM.",
            &u,
            d.memory_bytes as f64,
        );
        if let Some(v) = vm.rss_bytes {
            out.push(
                "hvscope_vm_rss_bytes",
                "Resident memory of the VM's QEMU process.",
                &u,
                v as f64,
            );
        }
        if let Some(v) = vm.swap_bytes {
            out.push(
                "hvscope_vm_swap_bytes",
                "Swapped-out memory of the VM's QEMU process.",
                &u,
                v as f64,
            );
        }
        if let Some(v) = vm.cpu_seconds {
            out.push(
                "hvscope_vm_cpu_seconds_total",
                "CPU time of the VM's QEMU process (all threads).",
                &u,
                v,
            );
        }
        if let Some(cg) = &vm.cgroup {
            let figures = [
                (
                    "hvscope_vm_cgroup_cpu_seconds_total",
                    "CPU time charged to the VM's cgroup.",
                    cg.cpu_usage_seconds,
                ),
                (
                    "hvscope_vm_cgroup_cpu_throttled_seconds_total",
                    "Time the VM's cgroup was throttled by its CPU quota.",
                    cg.cpu_throttled_seconds,
                ),
                (
                    "hvscope_vm_cgroup_memory_bytes",
                    "Memory charged to the VM's cgroup.",
                    cg.memory_bytes.map(|v| v as f64),
                ),
                (
                    "hvscope_vm_cgroup_memory_limit_bytes",
                    "Memory limit of the VM's cgroup.",
                    cg.memory_limit_bytes.map(|v| v as f64),
                ),
                (
                    "hvscope_vm_cgroup_io_read_bytes_total",
                    "Bytes read by the VM's cgroup.",
                    cg.io_read_bytes.map(|v| v as f64),
                ),
                (
                    "hvscope_vm_cgroup_io_written_bytes_total",
                    "Bytes written by the VM's cgroup.",
                    cg.io_written_bytes.map(|v| v as f64),
                ),
            ];
            for (name, help, v) in figures {
                if let Some(v) = v {
                    out.push(name, help, &u, v);
                }
            }
            let psi = [
                ("cpu", &cg.cpu_pressure),
                ("memory", &cg.memory_pressure),
                ("io", &cg.io_pressure),
            ];
            for (resource, p) in psi {
                if let Some(p) = p {
                    out.push(
                        "hvscope_vm_pressure_stalled_seconds_total",
                        "PSI 'some' stall time of the VM's cgroup, per resource.",
                        &[("domain_uuid", d.uuid.as_str()), ("resource", resource)],
                        p.some.total_seconds,
                    );
                }
            }
        }
        for t in &vm.threads {
            let Role::Vcpu(n) = t.role else { continue };
            let n = n.to_string();
            let l = [("domain_uuid", d.uuid.as_str()), ("vcpu", n.as_str())];
            if let Some(s) = t.sched {
                out.push(
                    "hvscope_vm_vcpu_seconds_total",
                    "Time the vCPU thread ran on a host CPU.",
                    &l,
                    s.run_ns as f64 / 1e9,
                );
                out.push(
                    "hvscope_vm_vcpu_wait_seconds_total",
                    "Time the vCPU was runnable but waited for a host CPU (libvirt's vcpu.N.delay; steal felt by the guest).",
                    &l,
                    s.wait_ns as f64 / 1e9,
                );
            }
            let pin = d.cputune.vcpupin.get(&n.parse().unwrap_or(u32::MAX));
            out.push(
                "hvscope_vm_vcpu_pinned",
                "1 when <cputune> pins this vCPU to exactly one host CPU (dedicated), else 0.",
                &l,
                if pin.and_then(|p| p.single()).is_some() {
                    1.0
                } else {
                    0.0
                },
            );
            if let Some(cpu) = pin.and_then(|p| p.single()) {
                out.push(
                    "hvscope_vm_vcpu_pinned_cpu",
                    "The host CPU a dedicated vCPU is pinned to.",
                    &l,
                    cpu as f64,
                );
            }
        }
    }
}
