//! The series of the host source (`hvscope_host_…`, `hvscope_net_…`), base units, counters
//! ending in `_total`.

use hvscope_parse::proc::stat::CPU_MODES;

use super::Host;
use crate::series::SeriesBuf;
use hvscope_parse::proc::diskstats::{seconds, sector_bytes};

/// `/proc/meminfo` keys exported, with their metric names.
const MEMINFO: [(&str, &str); 11] = [
    ("MemTotal", "hvscope_host_memory_total_bytes"),
    ("MemFree", "hvscope_host_memory_free_bytes"),
    ("MemAvailable", "hvscope_host_memory_available_bytes"),
    ("Buffers", "hvscope_host_memory_buffers_bytes"),
    ("Cached", "hvscope_host_memory_cached_bytes"),
    ("Shmem", "hvscope_host_memory_shmem_bytes"),
    ("AnonPages", "hvscope_host_memory_anon_bytes"),
    ("SwapTotal", "hvscope_host_swap_total_bytes"),
    ("SwapFree", "hvscope_host_swap_free_bytes"),
    ("Hugetlb", "hvscope_host_memory_hugetlb_bytes"),
    ("Committed_AS", "hvscope_host_memory_committed_bytes"),
];

/// `/proc/vmstat` keys exported, with their metric names.
const VMSTAT: [(&str, &str, &str); 4] = [
    (
        "pswpin",
        "hvscope_host_swap_in_pages_total",
        "Pages swapped in since boot.",
    ),
    (
        "pswpout",
        "hvscope_host_swap_out_pages_total",
        "Pages swapped out since boot.",
    ),
    (
        "pgmajfault",
        "hvscope_host_major_page_faults_total",
        "Major page faults since boot.",
    ),
    (
        "oom_kill",
        "hvscope_host_oom_kills_total",
        "Processes killed by the OOM killer since boot.",
    ),
];

pub(super) fn b(v: bool) -> f64 {
    if v { 1.0 } else { 0.0 }
}

fn cpu_series(host: &Host, out: &mut SeriesBuf) {
    let Some(stat) = &host.stat else { return };
    for (mode, secs) in CPU_MODES.iter().zip(stat.total.seconds) {
        // guest time is already counted in user/nice: exporting it as a mode would double
        // count in sum(rate(...)); it gets its own metric.
        if !mode.starts_with("guest") {
            out.push(
                "hvscope_host_cpu_seconds_total",
                "CPU time of all host CPUs together, by mode (from /proc/stat).",
                &[("mode", mode)],
                secs,
            );
        }
    }
    for (cpu, times) in &stat.per_cpu {
        let cpu = cpu.to_string();
        for (mode, secs) in CPU_MODES.iter().zip(times.seconds) {
            if !mode.starts_with("guest") {
                out.push(
                    "hvscope_host_logical_cpu_seconds_total",
                    "CPU time of one logical CPU, by mode (from /proc/stat).",
                    &[("cpu", &cpu), ("mode", mode)],
                    secs,
                );
            }
        }
    }
    out.push(
        "hvscope_host_cpu_guest_seconds_total",
        "CPU time spent running guests (included in user mode).",
        &[],
        stat.total.seconds[8] + stat.total.seconds[9],
    );
    out.push(
        "hvscope_host_cpus",
        "Online CPUs listed in /proc/stat.",
        &[],
        stat.per_cpu.len() as f64,
    );
    out.push(
        "hvscope_host_context_switches_total",
        "Context switches since boot.",
        &[],
        stat.context_switches as f64,
    );
    out.push(
        "hvscope_host_forks_total",
        "Processes and threads created since boot.",
        &[],
        stat.forks as f64,
    );
    out.push(
        "hvscope_host_boot_time_seconds",
        "Boot time, seconds since the Unix epoch.",
        &[],
        stat.boot_time_seconds as f64,
    );
    out.push(
        "hvscope_host_procs_blocked",
        "Processes blocked on I/O.",
        &[],
        stat.procs_blocked as f64,
    );
}

fn memory_series(host: &Host, out: &mut SeriesBuf) {
    if let Some(mem) = &host.meminfo {
        for (key, name) in MEMINFO {
            if let Some(v) = mem.get(key) {
                out.push(name, "Host memory from /proc/meminfo.", &[], v as f64);
            }
        }
    }
    if let Some(v) = &host.vmstat {
        for (key, name, help) in VMSTAT {
            if let Some(x) = v.get(key) {
                out.push(name, help, &[], x as f64);
            }
        }
    }
    if let Some(l) = &host.loadavg {
        let help = "Host load average.";
        out.push("hvscope_host_load1", help, &[], l.load1);
        out.push("hvscope_host_load5", help, &[], l.load5);
        out.push("hvscope_host_load15", help, &[], l.load15);
        out.push(
            "hvscope_host_threads_runnable",
            "Runnable threads (from /proc/loadavg).",
            &[],
            l.runnable as f64,
        );
    }
    if let Some(p) = &host.pressure {
        for (res, psi) in [("cpu", p.cpu), ("memory", p.memory), ("io", p.io)] {
            let help = "Time in which some (or all) runnable tasks stalled on the resource (PSI).";
            out.push(
                "hvscope_host_pressure_stalled_seconds_total",
                help,
                &[("resource", res), ("kind", "some")],
                psi.some.total_seconds,
            );
            if let Some(full) = psi.full {
                out.push(
                    "hvscope_host_pressure_stalled_seconds_total",
                    help,
                    &[("resource", res), ("kind", "full")],
                    full.total_seconds,
                );
            }
        }
    }
}

fn topology_series(host: &Host, out: &mut SeriesBuf) {
    if let Some(c) = &host.cpus {
        out.push(
            "hvscope_host_cpus_online",
            "CPUs online (sys/devices/system/cpu/online).",
            &[],
            c.online.len() as f64,
        );
        out.push(
            "hvscope_host_cpus_isolated",
            "CPUs isolated from the scheduler (isolcpus=).",
            &[],
            c.isolated.len() as f64,
        );
        for t in &c.topology {
            let (cpu, pkg, core) = (t.cpu.to_string(), t.package.to_string(), t.core.to_string());
            let iso = if c.isolated.contains(&t.cpu) {
                "true"
            } else {
                "false"
            };
            out.push(
                "hvscope_host_cpu_info",
                "Place of a logical CPU in the topology.",
                &[
                    ("cpu", &cpu),
                    ("package", &pkg),
                    ("core", &core),
                    ("isolated", iso),
                ],
                1.0,
            );
        }
    }
    for n in host.numa.iter().flatten() {
        let node = n.node.to_string();
        out.push(
            "hvscope_host_numa_cpus",
            "CPUs of a NUMA node.",
            &[("numa_node", &node)],
            n.cpus.len() as f64,
        );
        for (key, name) in [
            ("MemTotal", "hvscope_host_numa_memory_total_bytes"),
            ("MemFree", "hvscope_host_numa_memory_free_bytes"),
        ] {
            if let Some(v) = n.meminfo.get(key) {
                out.push(
                    name,
                    "Memory of a NUMA node.",
                    &[("numa_node", &node)],
                    v as f64,
                );
            }
        }
    }
    for p in host.hugepages.iter().flatten() {
        let size = p.page_size_bytes.to_string();
        let node = p.node.map(|n| n.to_string());
        let mut labels = vec![("page_size_bytes", size.as_str())];
        let prefix = if let Some(n) = &node {
            labels.push(("numa_node", n.as_str()));
            "hvscope_host_numa_hugepages"
        } else {
            "hvscope_host_hugepages"
        };
        let help = "Hugepages of one size (host-wide, or of one NUMA node).";
        out.push(
            &format!("{prefix}_configured"),
            help,
            &labels,
            p.total as f64,
        );
        out.push(&format!("{prefix}_free"), help, &labels, p.free as f64);
        out.push(
            &format!("{prefix}_surplus"),
            help,
            &labels,
            p.surplus as f64,
        );
        if let Some(r) = p.reserved {
            out.push(&format!("{prefix}_reserved"), help, &labels, r as f64);
        }
    }
}

fn disk_series(host: &Host, out: &mut SeriesBuf) {
    // Devices that never did I/O (unused loop and ram devices) are left out.
    for d in host
        .diskstats
        .iter()
        .flatten()
        .filter(|d| d.reads + d.writes > 0)
    {
        let l = [("device", &*d.name)];
        out.push(
            "hvscope_host_disk_reads_completed_total",
            "Reads completed.",
            &l,
            d.reads as f64,
        );
        out.push(
            "hvscope_host_disk_read_bytes_total",
            "Bytes read.",
            &l,
            sector_bytes(d.read_sectors) as f64,
        );
        out.push(
            "hvscope_host_disk_read_time_seconds_total",
            "Time spent on reads.",
            &l,
            seconds(d.read_ms),
        );
        out.push(
            "hvscope_host_disk_writes_completed_total",
            "Writes completed.",
            &l,
            d.writes as f64,
        );
        out.push(
            "hvscope_host_disk_written_bytes_total",
            "Bytes written.",
            &l,
            sector_bytes(d.write_sectors) as f64,
        );
        out.push(
            "hvscope_host_disk_write_time_seconds_total",
            "Time spent on writes.",
            &l,
            seconds(d.write_ms),
        );
        out.push(
            "hvscope_host_disk_io_now",
            "I/Os in progress.",
            &l,
            d.in_flight as f64,
        );
        out.push(
            "hvscope_host_disk_io_time_seconds_total",
            "Time the device was busy.",
            &l,
            seconds(d.io_ms),
        );
        out.push(
            "hvscope_host_disk_io_time_weighted_seconds_total",
            "Busy time weighted by I/Os in flight.",
            &l,
            seconds(d.io_weighted_ms),
        );
    }
}

fn rootfs_series(host: &Host, out: &mut SeriesBuf) {
    if let Some(p) = &host.processes {
        out.push(
            "hvscope_host_processes",
            "Processes (not threads) on the host.",
            &[],
            p.count as f64,
        );
    }
    for d in &host.daemons {
        out.push(
            "hvscope_host_daemon_up",
            "1 when a live process of a required daemon exists.",
            &[("daemon", &d.daemon)],
            b(d.up()),
        );
    }
    let Some(r) = &host.rootfs else { return };
    let ram = if r.ram_backed { "true" } else { "false" };
    out.push(
        "hvscope_host_rootfs_info",
        "How / is built.",
        &[
            ("fs_type", &r.layout.root.fs_type),
            ("device", &r.layout.root.device),
            ("ram_backed", ram),
        ],
        1.0,
    );
    for (usage, layer) in [(r.usage, "root"), (r.upper_usage, "upper")] {
        let Some(u) = usage else { continue };
        let l = [("layer", layer)];
        out.push(
            "hvscope_host_rootfs_size_bytes",
            "Size of the root filesystem (layer: root, or the overlay's upper).",
            &l,
            u.size_bytes as f64,
        );
        out.push(
            "hvscope_host_rootfs_free_bytes",
            "Free space of the root filesystem.",
            &l,
            u.free_bytes as f64,
        );
        out.push(
            "hvscope_host_rootfs_avail_bytes",
            "Space available to unprivileged users.",
            &l,
            u.avail_bytes as f64,
        );
        out.push(
            "hvscope_host_rootfs_inodes",
            "Inodes of the root filesystem (0: no limit).",
            &l,
            u.inodes as f64,
        );
        out.push(
            "hvscope_host_rootfs_inodes_free",
            "Free inodes of the root filesystem.",
            &l,
            u.inodes_free as f64,
        );
    }
    if let Some(b) = r.image_ram_bytes {
        out.push(
            "hvscope_host_image_ram_bytes",
            "RAM held by the root filesystem's RAM-backed layers and loop-mounted images.",
            &[],
            b as f64,
        );
    }
}

/// The series of the host source.
pub fn series(host: &Host, out: &mut SeriesBuf) {
    cpu_series(host, out);
    memory_series(host, out);
    topology_series(host, out);
    disk_series(host, out);
    super::series_net::series(host, out);
    rootfs_series(host, out);
}
