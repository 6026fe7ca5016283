//! `/proc/<pid>/status` and `/proc/<pid>/task/<tid>/status`: the thread's allowed CPUs
//! (`Cpus_allowed_list`, what `sched_getaffinity` returns) and the process's memory.

use crate::ParseError;
use crate::cpuset::CpuSet;

/// The fields of a status file the agent uses.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct PidStatus {
    /// `Name:` (the comm, truncated to 15 bytes by the kernel).
    pub name: String,
    pub cpus_allowed: Option<CpuSet>,
    pub mems_allowed: Option<CpuSet>,
    pub vm_rss_bytes: Option<u64>,
    pub vm_swap_bytes: Option<u64>,
    pub threads: Option<u64>,
}

fn kib(v: &str, key: &str) -> Result<u64, ParseError> {
    let n: u64 = v
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .map_err(|_| ParseError::new(format!("{key}: not a number")))?;
    n.checked_mul(1024)
        .ok_or_else(|| ParseError::new(format!("{key}: overflows")))
}

/// Parses a status file.
pub fn parse(text: &str) -> Result<PidStatus, ParseError> {
    let mut s = PidStatus::default();
    let mut seen_name = false;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "Name" => {
                s.name = value.to_owned();
                seen_name = true;
            }
            "Cpus_allowed_list" => {
                s.cpus_allowed =
                    Some(CpuSet::parse(value).map_err(|e| ParseError::new(e.to_string()))?)
            }
            "Mems_allowed_list" => {
                s.mems_allowed =
                    Some(CpuSet::parse(value).map_err(|e| ParseError::new(e.to_string()))?)
            }
            "VmRSS" => s.vm_rss_bytes = Some(kib(value, key)?),
            "VmSwap" => s.vm_swap_bytes = Some(kib(value, key)?),
            "Threads" => {
                s.threads = Some(
                    value
                        .parse()
                        .map_err(|_| ParseError::new("Threads: not a number"))?,
                )
            }
            _ => {}
        }
    }
    if !seen_name {
        return Err(ParseError::new("no Name: line"));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VCPU: &str =
        include_str!("../../../agent/tests/fixtures/libvirt-kvm-2vm/proc/25453/task/25461/status");
    const QEMU: &str =
        include_str!("../../../agent/tests/fixtures/libvirt-kvm-2vm/proc/25453/status");

    #[test]
    fn parses_real_thread_and_process() {
        let t = parse(VCPU).unwrap();
        assert_eq!(t.name, "CPU 0/KVM");
        assert_eq!(t.cpus_allowed, Some(CpuSet::of([0])));
        let p = parse(QEMU).unwrap();
        assert_eq!(p.cpus_allowed, Some(CpuSet::of([0, 1])));
        assert_eq!(p.vm_rss_bytes, Some(41952 * 1024));
        assert_eq!(p.vm_swap_bytes, Some(0));
        assert!(p.threads.unwrap() >= 5);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("").is_err());
        assert!(parse("Name:\tx\nCpus_allowed_list:\tz").is_err());
        assert!(parse("Name:\tx\nVmRSS:\t99999999999999999999 kB").is_err());
        assert!(parse("Name:\tx\nThreads:\tmany").is_err());
        assert_eq!(parse("Name:\tx\nbroken line\n").unwrap().name, "x");
    }
}
