//! The hypervisor itself, first slice: CPU time, memory and load from `/proc`.

use crate::host_root::HostRoot;
use crate::series::SeriesBuf;
use crate::sources::SourceError;
use crate::sources::proc::{self, loadavg::LoadAvg, meminfo::MemInfo, stat::Stat};

/// What was read of the host; a part that could not be read is `None` with its error in
/// `errors`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Host {
    pub stat: Option<Stat>,
    pub meminfo: Option<MemInfo>,
    pub loadavg: Option<LoadAvg>,
}

/// The parts of this source, as named in [`SourceError::source`].
pub const PARTS: [&str; 3] = ["proc.stat", "proc.meminfo", "proc.loadavg"];

/// Reads the host's `/proc` files below `root`; each failure is recorded and the rest is read.
pub fn collect(root: &HostRoot, errors: &mut Vec<SourceError>) -> Host {
    fn keep<T, E: std::fmt::Display>(
        name: &str,
        r: Result<T, E>,
        errors: &mut Vec<SourceError>,
    ) -> Option<T> {
        r.map_err(|e| errors.push(SourceError::new(name, e))).ok()
    }
    Host {
        stat: keep(
            PARTS[0],
            proc::read_parsed(root, "proc/stat", proc::stat::parse),
            errors,
        ),
        meminfo: keep(
            PARTS[1],
            proc::read_parsed(root, "proc/meminfo", proc::meminfo::parse),
            errors,
        ),
        loadavg: keep(
            PARTS[2],
            proc::read_parsed(root, "proc/loadavg", proc::loadavg::parse),
            errors,
        ),
    }
}

/// `/proc/meminfo` keys exported, with their metric names.
const MEMINFO: [(&str, &str); 9] = [
    ("MemTotal", "hvscope_host_memory_total_bytes"),
    ("MemFree", "hvscope_host_memory_free_bytes"),
    ("MemAvailable", "hvscope_host_memory_available_bytes"),
    ("Buffers", "hvscope_host_memory_buffers_bytes"),
    ("Cached", "hvscope_host_memory_cached_bytes"),
    ("Shmem", "hvscope_host_memory_shmem_bytes"),
    ("AnonPages", "hvscope_host_memory_anon_bytes"),
    ("SwapTotal", "hvscope_host_swap_total_bytes"),
    ("SwapFree", "hvscope_host_swap_free_bytes"),
];

/// The series of the host source.
pub fn series(host: &Host, out: &mut SeriesBuf) {
    if let Some(stat) = &host.stat {
        for (mode, secs) in proc::stat::CPU_MODES.iter().zip(stat.total.seconds) {
            // guest time is already counted in user/nice: exporting it as a mode would double
            // count in sum(rate(...)); it gets its own metric.
            if mode.starts_with("guest") {
                continue;
            }
            out.push(
                "hvscope_host_cpu_seconds_total",
                "CPU time of all host CPUs together, by mode (from /proc/stat).",
                &[("mode", mode)],
                secs,
            );
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
    if let Some(mem) = &host.meminfo {
        for (key, name) in MEMINFO {
            if let Some(v) = mem.get(key) {
                out.push(name, "Host memory from /proc/meminfo.", &[], v as f64);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> HostRoot {
        HostRoot::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/libvirt-kvm-2vm"
        ))
    }

    #[test]
    fn fixture_host_has_all_parts() {
        let mut errors = vec![];
        let h = collect(&fixture(), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let mut out = SeriesBuf::default();
        series(&h, &mut out);
        let names: Vec<_> = out.samples.iter().map(|s| s.labels.name()).collect();
        assert!(names.contains(&"hvscope_host_memory_available_bytes"));
        assert_eq!(
            names
                .iter()
                .filter(|n| **n == "hvscope_host_cpu_seconds_total")
                .count(),
            8
        );
    }

    #[test]
    fn a_missing_file_is_an_error_for_that_part_only() {
        let mut errors = vec![];
        let h = collect(&HostRoot::new("/nonexistent-hvscope"), &mut errors);
        assert!(h.stat.is_none() && h.meminfo.is_none() && h.loadavg.is_none());
        assert_eq!(errors.len(), 3);
        assert_eq!(errors[0].source, "proc.stat");
    }
}
