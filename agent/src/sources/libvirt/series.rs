//! Series of the libvirt source. Per VM the only identifying label is `domain_uuid`; nova's
//! metadata is exported once per VM as `hvscope_vm_info` (never copied onto every series: that
//! multiplies cardinality), and pinning as values, never CPU masks as labels.

use super::vm::{Libvirt, Role};
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

/// Per-vNIC traffic from the host's view of each VM's tap device, named from the VM's side:
/// what the tap transmits, the VM receives (as libvirt's `domifstat` reports it).
pub fn nic_series(l: &Libvirt, net: &[crate::sources::sys::net::Interface], out: &mut SeriesBuf) {
    // (metric, help, index into sys::net::STATS of the tap counter)
    const MAP: [(&str, &str, usize); 6] = [
        (
            "hvscope_vm_network_receive_bytes_total",
            "Bytes the VM received on this vNIC.",
            1,
        ),
        (
            "hvscope_vm_network_transmit_bytes_total",
            "Bytes the VM sent on this vNIC.",
            0,
        ),
        (
            "hvscope_vm_network_receive_packets_total",
            "Packets the VM received on this vNIC.",
            3,
        ),
        (
            "hvscope_vm_network_transmit_packets_total",
            "Packets the VM sent on this vNIC.",
            2,
        ),
        (
            "hvscope_vm_network_receive_drops_total",
            "Packets for the VM dropped on this vNIC.",
            7,
        ),
        (
            "hvscope_vm_network_transmit_drops_total",
            "Packets from the VM dropped on this vNIC.",
            6,
        ),
    ];
    for vm in &l.vms {
        for nic in &vm.domain.nics {
            let Some(dev) = &nic.target_dev else { continue };
            let Some(iface) = net.iter().find(|i| &i.name == dev) else {
                continue;
            };
            let labels = [
                ("domain_uuid", vm.domain.uuid.as_str()),
                ("interface", dev.as_str()),
                ("mac", nic.mac.as_str()),
            ];
            for (name, help, i) in MAP {
                if let Some(v) = iface.stats[i] {
                    out.push(name, help, &labels, v as f64);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::libvirt::Vm;
    use crate::sources::sys::net::Interface;
    use hvscope_parse::libvirt::model::{Domain, Nic};

    #[test]
    fn tap_counters_are_seen_from_the_vm() {
        let d = Domain {
            uuid: "u1".into(),
            nics: vec![Nic {
                mac: "fa:16:3e:00:00:01".into(),
                target_dev: Some("tap1".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let l = Libvirt {
            present: true,
            vms: vec![Vm {
                domain: std::sync::Arc::new(d),
                threads: vec![],
                rss_bytes: None,
                swap_bytes: None,
                cpu_seconds: None,
                cgroup: None,
                cgroup_v2_dir: None,
            }],
            nova: None,
        };
        let tap = Interface {
            name: "tap1".into(),
            stats: [
                Some(10),
                Some(20),
                Some(1),
                Some(2),
                None,
                None,
                Some(3),
                Some(4),
            ],
            ..Default::default()
        };
        let mut out = SeriesBuf::default();
        nic_series(&l, &[tap], &mut out);
        let get = |n: &str| {
            out.samples
                .iter()
                .find(|s| s.labels.name() == n)
                .unwrap()
                .value
        };
        assert_eq!(get("hvscope_vm_network_receive_bytes_total"), 20.0);
        assert_eq!(get("hvscope_vm_network_transmit_bytes_total"), 10.0);
        assert_eq!(get("hvscope_vm_network_receive_drops_total"), 4.0);
        assert_eq!(out.samples[0].labels.get("interface"), Some("tap1"));
    }
}
