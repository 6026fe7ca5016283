//! `/proc/stat`: CPU time by mode (all CPUs together and per CPU), context switches, forks,
//! boot time, running and blocked processes.

use crate::ParseError;

/// Clock ticks per second of `/proc/stat` (USER_HZ). It is 100 on every Linux architecture the
/// agent targets; the kernel fixes it for user space ABI reasons.
pub const USER_HZ: f64 = 100.0;

/// The CPU time columns of `/proc/stat`, in order.
pub const CPU_MODES: [&str; 10] = [
    "user",
    "nice",
    "system",
    "idle",
    "iowait",
    "irq",
    "softirq",
    "steal",
    "guest",
    "guest_nice",
];

/// CPU time of one `cpu` line, in seconds per mode (order of [`CPU_MODES`]; absent columns 0).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CpuTimes {
    pub seconds: [f64; 10],
}

/// The parts of `/proc/stat` the agent uses.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Stat {
    /// The aggregate `cpu` line.
    pub total: CpuTimes,
    /// `cpuN` lines, as (N, times), in file order.
    pub per_cpu: Vec<(u32, CpuTimes)>,
    pub context_switches: u64,
    pub forks: u64,
    pub boot_time_seconds: u64,
    pub procs_running: u64,
    pub procs_blocked: u64,
}

fn cpu_times(fields: &mut std::str::SplitAsciiWhitespace<'_>) -> Result<CpuTimes, ParseError> {
    let mut t = CpuTimes::default();
    let mut n = 0;
    for (i, f) in fields.take(CPU_MODES.len()).enumerate() {
        let ticks: u64 = f
            .parse()
            .map_err(|_| ParseError::new(format!("cpu field {i} is not a number: {f:?}")))?;
        t.seconds[i] = ticks as f64 / USER_HZ;
        n += 1;
    }
    // Kernels since 2.6.33 print all ten; four is the oldest format.
    if n < 4 {
        return Err(ParseError::new(format!(
            "cpu line has {n} fields, want >= 4"
        )));
    }
    // guest and guest_nice are already included in user and nice.
    Ok(t)
}

fn number(key: &str, v: Option<&str>) -> Result<u64, ParseError> {
    v.and_then(|v| v.parse().ok())
        .ok_or_else(|| ParseError::new(format!("{key} has no numeric value")))
}

/// Parses the text of `/proc/stat`.
pub fn parse(text: &str) -> Result<Stat, ParseError> {
    let mut stat = Stat::default();
    let mut saw_total = false;
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else { continue };
        match key {
            "cpu" => {
                stat.total = cpu_times(&mut fields)?;
                saw_total = true;
            }
            k if k.starts_with("cpu") => {
                let n: u32 = k[3..]
                    .parse()
                    .map_err(|_| ParseError::new(format!("bad cpu line key {k:?}")))?;
                stat.per_cpu.push((n, cpu_times(&mut fields)?));
            }
            "ctxt" => stat.context_switches = number(key, fields.next())?,
            "processes" => stat.forks = number(key, fields.next())?,
            "btime" => stat.boot_time_seconds = number(key, fields.next())?,
            "procs_running" => stat.procs_running = number(key, fields.next())?,
            "procs_blocked" => stat.procs_blocked = number(key, fields.next())?,
            _ => {}
        }
    }
    if !saw_total {
        return Err(ParseError::new("no aggregate cpu line"));
    }
    Ok(stat)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real capture, see agent/tests/fixtures/README.md.
    const REAL: &str = include_str!("../../../agent/tests/fixtures/libvirt-kvm-2vm/proc/stat");

    #[test]
    fn parses_real_capture() {
        let s = parse(REAL).unwrap();
        assert_eq!(s.total.seconds[0], 303.62);
        assert_eq!(s.total.seconds[3], 7963.92);
        assert_eq!(s.total.seconds[7], 63.42);
        assert_eq!(s.per_cpu.len(), 2);
        assert_eq!(s.per_cpu[1].0, 1);
        assert_eq!(s.per_cpu[1].1.seconds[0], 142.77);
        assert_eq!(s.context_switches, 2638217);
        assert_eq!(s.boot_time_seconds, 1795310616);
        assert_eq!(s.forks, 28407);
        assert_eq!(s.procs_running, 4);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("").is_err());
        assert!(parse("cpu 1 2").is_err());
        assert!(parse("cpu a b c d").is_err());
        assert!(parse("cpu 1 2 3 4\ncpuX 1 2 3 4").is_err());
        assert!(parse("cpu 1 2 3 4\nctxt").is_err());
        assert!(parse("cpu 1 2 3 4\nctxt 5").is_ok());
    }
}
