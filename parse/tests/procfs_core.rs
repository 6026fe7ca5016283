//! Differential tests: our `/proc` parsers agree with procfs-core (the pure half of the procfs
//! crate) on every capture under `agent/tests/fixtures/` and on this host's live files, for
//! every format both cover: `stat`, `meminfo`, `loadavg`, `vmstat`, `pressure/*`, `mounts`,
//! `diskstats`, and
//! per process or thread `stat`, `status`, `schedstat` and `cgroup`. A live file is read once
//! and the same text handed to both parsers (it changes between reads).
//!
//! Where the two differ by design the comparison says so: procfs-core keeps CPU times in ticks
//! (we in seconds at USER_HZ = 100), meminfo in a struct of known keys (we keep every key),
//! load averages as `f32`, and its mount table decodes only `\011 \012 \134 \043` (not `\040`,
//! the space, which we decode as the kernel's `mangle` writes it). One difference is a
//! procfs-core bug, checked as such: it cuts a status `Name:` at its first ':'.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use hvscope_parse::cgroup::parse_proc_cgroup;
use hvscope_parse::cpuset::CpuSet;
use hvscope_parse::proc::{
    diskstats, loadavg, meminfo, mounts, pidstat, pidstatus, pressure, process, schedstat, stat,
    vmstat,
};
use procfs_core::{ExplicitSystemInfo, FromBufRead, FromBufReadSI, FromRead};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../agent/tests/fixtures");

const SYSTEM: ExplicitSystemInfo = ExplicitSystemInfo {
    boot_time_secs: 0,
    ticks_per_second: 100,
    page_size: 4096,
    is_little_endian: true,
};

/// Every file below `dir` (recursively) whose path relative to a `proc/` directory matches
/// `keep`, with that relative path.
fn proc_files(keep: fn(&str) -> bool) -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                walk(&p, out);
            } else if ft.is_file() {
                out.push(p);
            }
        }
    }
    let mut all = Vec::new();
    walk(Path::new(FIXTURES), &mut all);
    let mut out: Vec<(PathBuf, String)> = all
        .into_iter()
        .filter_map(|p| {
            let s = p.to_str()?;
            let rel = s.split_once("/proc/")?.1.to_owned();
            keep(&rel).then_some((p, rel))
        })
        .collect();
    out.sort();
    out
}

fn is_pid_file(rel: &str, name: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    let num = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        [p, f] => num(p) && *f == name,
        [p, "task", t, f] => num(p) && num(t) && *f == name,
        _ => false,
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The live host's process directories that can be read now (processes come and go: one that
/// vanished between listing and reading is skipped).
fn live_pid_files(name: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/{name}")) {
            out.push((format!("/proc/{pid}/{name}"), text));
        }
    }
    assert!(!out.is_empty(), "no live /proc/<pid>/{name}");
    out
}

fn check_stat(what: &str, text: &str) {
    let ours = stat::parse(text).unwrap_or_else(|e| panic!("{what}: ours: {e}"));
    let theirs = procfs_core::KernelStats::from_buf_read(text.as_bytes(), &SYSTEM)
        .unwrap_or_else(|e| panic!("{what}: procfs-core: {e}"));
    let ticks = |t: &procfs_core::CpuTime| {
        [
            Some(t.user),
            Some(t.nice),
            Some(t.system),
            Some(t.idle),
            t.iowait,
            t.irq,
            t.softirq,
            t.steal,
            t.guest,
            t.guest_nice,
        ]
        .map(|v| v.unwrap_or(0) as f64 / stat::USER_HZ)
    };
    assert_eq!(ours.total.seconds, ticks(&theirs.total), "{what}: cpu");
    assert_eq!(ours.per_cpu.len(), theirs.cpu_time.len(), "{what}: cpus");
    for ((n, o), t) in ours.per_cpu.iter().zip(&theirs.cpu_time) {
        assert_eq!(o.seconds, ticks(t), "{what}: cpu{n}");
    }
    assert_eq!(ours.context_switches, theirs.ctxt, "{what}: ctxt");
    assert_eq!(ours.boot_time_seconds, theirs.btime, "{what}: btime");
    assert_eq!(ours.forks, theirs.processes, "{what}: processes");
    assert_eq!(
        Some(ours.procs_running),
        theirs.procs_running.map(u64::from),
        "{what}: procs_running"
    );
    assert_eq!(
        Some(ours.procs_blocked),
        theirs.procs_blocked.map(u64::from),
        "{what}: procs_blocked"
    );
}

fn check_meminfo(what: &str, text: &str) {
    let ours = meminfo::parse(text).unwrap_or_else(|e| panic!("{what}: ours: {e}"));
    let t = procfs_core::Meminfo::from_buf_read(text.as_bytes())
        .unwrap_or_else(|e| panic!("{what}: procfs-core: {e}"));
    let fields: [(&str, Option<u64>); 54] = [
        ("MemTotal", Some(t.mem_total)),
        ("MemFree", Some(t.mem_free)),
        ("MemAvailable", t.mem_available),
        ("Buffers", Some(t.buffers)),
        ("Cached", Some(t.cached)),
        ("SwapCached", Some(t.swap_cached)),
        ("Active", Some(t.active)),
        ("Inactive", Some(t.inactive)),
        ("Active(anon)", t.active_anon),
        ("Inactive(anon)", t.inactive_anon),
        ("Active(file)", t.active_file),
        ("Inactive(file)", t.inactive_file),
        ("Unevictable", t.unevictable),
        ("Mlocked", t.mlocked),
        ("HighTotal", t.high_total),
        ("HighFree", t.high_free),
        ("LowTotal", t.low_total),
        ("LowFree", t.low_free),
        ("MmapCopy", t.mmap_copy),
        ("SwapTotal", Some(t.swap_total)),
        ("SwapFree", Some(t.swap_free)),
        ("Dirty", Some(t.dirty)),
        ("Writeback", Some(t.writeback)),
        ("AnonPages", t.anon_pages),
        ("Mapped", Some(t.mapped)),
        ("Shmem", t.shmem),
        ("Slab", Some(t.slab)),
        ("SReclaimable", t.s_reclaimable),
        ("SUnreclaim", t.s_unreclaim),
        ("KernelStack", t.kernel_stack),
        ("PageTables", t.page_tables),
        ("SecPageTables", t.secondary_page_tables),
        ("Quicklists", t.quicklists),
        ("NFS_Unstable", t.nfs_unstable),
        ("Bounce", t.bounce),
        ("WritebackTmp", t.writeback_tmp),
        ("CommitLimit", t.commit_limit),
        ("Committed_AS", Some(t.committed_as)),
        ("VmallocTotal", Some(t.vmalloc_total)),
        ("VmallocUsed", Some(t.vmalloc_used)),
        ("VmallocChunk", Some(t.vmalloc_chunk)),
        ("HardwareCorrupted", t.hardware_corrupted),
        ("AnonHugePages", t.anon_hugepages),
        ("ShmemHugePages", t.shmem_hugepages),
        ("ShmemPmdMapped", t.shmem_pmd_mapped),
        ("CmaTotal", t.cma_total),
        ("CmaFree", t.cma_free),
        ("HugePages_Total", t.hugepages_total),
        ("HugePages_Free", t.hugepages_free),
        ("HugePages_Rsvd", t.hugepages_rsvd),
        ("HugePages_Surp", t.hugepages_surp),
        ("Hugepagesize", t.hugepagesize),
        ("KReclaimable", t.k_reclaimable),
        ("Percpu", t.per_cpu),
    ];
    let mut compared = 0;
    for (key, theirs) in fields {
        assert_eq!(ours.get(key), theirs, "{what}: {key}");
        compared += usize::from(theirs.is_some());
    }
    assert!(compared >= 20, "{what}: only {compared} keys compared");
}

fn check_loadavg(what: &str, text: &str) {
    let o = loadavg::parse(text).unwrap_or_else(|e| panic!("{what}: ours: {e}"));
    let t = procfs_core::LoadAverage::from_read(text.as_bytes())
        .unwrap_or_else(|e| panic!("{what}: procfs-core: {e}"));
    for (ours, theirs) in [(o.load1, t.one), (o.load5, t.five), (o.load15, t.fifteen)] {
        assert_eq!(ours as f32, theirs, "{what}: load");
    }
    assert_eq!(
        (o.runnable, o.entities),
        (u64::from(t.cur), u64::from(t.max)),
        "{what}: entities"
    );
}

fn check_vmstat(what: &str, text: &str) {
    let ours = vmstat::parse(text).unwrap_or_else(|e| panic!("{what}: ours: {e}"));
    let theirs = procfs_core::VmStat::from_buf_read(text.as_bytes())
        .unwrap_or_else(|e| panic!("{what}: procfs-core: {e}"));
    let ours: HashMap<String, i64> = ours
        .entries
        .into_iter()
        .map(|(k, v)| (k, i64::try_from(v).unwrap()))
        .collect();
    assert_eq!(ours, theirs.0, "{what}");
}

fn check_diskstats(what: &str, text: &str) {
    let ours = diskstats::parse(text).unwrap_or_else(|e| panic!("{what}: ours: {e}"));
    let theirs = procfs_core::DiskStats::from_buf_read(text.as_bytes())
        .unwrap_or_else(|e| panic!("{what}: procfs-core: {e}"))
        .0;
    assert_eq!(ours.len(), theirs.len(), "{what}: devices");
    assert!(!ours.is_empty(), "{what}: no device");
    for (o, t) in ours.iter().zip(&theirs) {
        let dev = format!("{what}: {}", t.name);
        assert_eq!(
            (o.major as i32, o.minor as i32),
            (t.major, t.minor),
            "{dev}"
        );
        assert_eq!(&*o.name, t.name, "{dev}");
        let mine = [
            o.reads,
            o.reads_merged,
            o.read_sectors,
            o.read_ms,
            o.writes,
            o.writes_merged,
            o.write_sectors,
            o.write_ms,
            o.in_flight,
            o.io_ms,
            o.io_weighted_ms,
        ];
        let their = [
            t.reads,
            t.merged,
            t.sectors_read,
            t.time_reading,
            t.writes,
            t.writes_merged,
            t.sectors_written,
            t.time_writing,
            t.in_progress,
            t.time_in_progress,
            t.weighted_time_in_progress,
        ];
        assert_eq!(mine, their, "{dev}: classic fields");
        // Fields a kernel lacks are None there and 0 (with a shorter `fields`) here.
        let opt = |has: bool, v: u64| has.then_some(v);
        assert_eq!(
            opt(o.has_field(14), o.discards),
            t.discards,
            "{dev}: discards"
        );
        assert_eq!(
            opt(o.has_field(16), o.discard_sectors),
            t.sectors_discarded,
            "{dev}"
        );
        assert_eq!(
            opt(o.has_field(17), o.discard_ms),
            t.time_discarding,
            "{dev}"
        );
        assert_eq!(opt(o.has_field(18), o.flushes), t.flushes, "{dev}: flushes");
        assert_eq!(opt(o.has_field(19), o.flush_ms), t.time_flushing, "{dev}");
    }
}

fn check_pressure(what: &str, text: &str) {
    let ours = pressure::parse(text).unwrap_or_else(|e| panic!("{what}: ours: {e}"));
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let record = |l: Option<&str>| {
        procfs_core::parse_pressure_record(l.unwrap())
            .unwrap_or_else(|e| panic!("{what}: procfs-core: {e}"))
    };
    let same = |o: &pressure::PsiLine, t: &procfs_core::PressureRecord| {
        assert_eq!(o.avg10 as f32, t.avg10, "{what}: avg10");
        assert_eq!(o.avg60 as f32, t.avg60, "{what}: avg60");
        assert_eq!(o.avg300 as f32, t.avg300, "{what}: avg300");
        assert_eq!(o.total_seconds, t.total as f64 / 1e6, "{what}: total");
    };
    same(&ours.some, &record(lines.next()));
    match ours.full {
        Some(full) => same(&full, &record(lines.next())),
        None => assert!(
            lines.next().is_none(),
            "{what}: a full line we did not read"
        ),
    }
}

fn check_mounts(what: &str, text: &str) {
    let ours = mounts::parse(text).unwrap_or_else(|e| panic!("{what}: ours: {e}"));
    let theirs = Vec::<procfs_core::MountEntry>::from_buf_read(text.as_bytes())
        .unwrap_or_else(|e| panic!("{what}: procfs-core: {e}"));
    assert_eq!(ours.len(), theirs.len(), "{what}: mounts");
    // procfs-core leaves `\040` (space) encoded; the kernel writes it for any space in a path.
    let space = |s: &str| s.replace("\\040", " ");
    for (o, t) in ours.iter().zip(&theirs) {
        assert_eq!(o.device, space(&t.fs_spec), "{what}");
        assert_eq!(o.mount_point, space(&t.fs_file), "{what}");
        assert_eq!(o.fs_type, t.fs_vfstype, "{what}");
        let theirs: BTreeSet<String> = t
            .fs_mntops
            .iter()
            .map(|(k, v)| match v {
                Some(v) => space(&format!("{k}={v}")),
                None => space(k),
            })
            .collect();
        let ours: BTreeSet<String> = o.options.iter().cloned().collect();
        assert_eq!(ours, theirs, "{what}: options of {}", o.mount_point);
    }
}

fn check_pid_stat(what: &str, text: &str) {
    let t = procfs_core::process::Stat::from_read(text.as_bytes())
        .unwrap_or_else(|e| panic!("{what}: procfs-core: {e}"));
    let cpu = pidstat::cpu_seconds(text).unwrap_or_else(|e| panic!("{what}: ours: {e}"));
    assert_eq!(
        cpu,
        (t.utime + t.stime) as f64 / stat::USER_HZ,
        "{what}: cpu"
    );
    let c = pidstat::counts(text).unwrap_or_else(|e| panic!("{what}: ours: {e}"));
    assert_eq!(c.threads, u64::try_from(t.num_threads).unwrap(), "{what}");
    assert_eq!(c.rss_pages, t.rss, "{what}: rss");
    let (comm, state) = process::parse_stat(text).unwrap_or_else(|e| panic!("{what}: ours: {e}"));
    assert_eq!((comm, state), (t.comm, t.state), "{what}: comm, state");
}

fn check_pid_status(what: &str, text: &str) {
    let o = pidstatus::parse(text).unwrap_or_else(|e| panic!("{what}: ours: {e}"));
    let t = procfs_core::process::Status::from_buf_read(text.as_bytes())
        .unwrap_or_else(|e| panic!("{what}: procfs-core: {e}"));
    let set = |ranges: Option<Vec<(u32, u32)>>| {
        ranges.map(|r| CpuSet::of(r.into_iter().flat_map(|(a, b)| a..=b)))
    };
    // procfs-core splits `Name:\tkworker/0:0-events` at every ':' and keeps `kworker/0`; the
    // kernel does not escape ':' in a comm.
    match o.name.split_once(':') {
        Some((head, _)) => assert_eq!(head, t.name, "{what}: name"),
        None => assert_eq!(o.name, t.name, "{what}: name"),
    }
    assert_eq!(o.cpus_allowed, set(t.cpus_allowed_list), "{what}: cpus");
    assert_eq!(o.mems_allowed, set(t.mems_allowed_list), "{what}: mems");
    assert_eq!(o.vm_rss_bytes, t.vmrss.map(|k| k * 1024), "{what}: rss");
    assert_eq!(o.vm_swap_bytes, t.vmswap.map(|k| k * 1024), "{what}: swap");
    assert_eq!(o.threads, Some(t.threads), "{what}: threads");
}

fn check_schedstat(what: &str, text: &str) {
    let o = schedstat::parse(text).unwrap_or_else(|e| panic!("{what}: ours: {e}"));
    let t = procfs_core::process::Schedstat::from_read(text.as_bytes())
        .unwrap_or_else(|e| panic!("{what}: procfs-core: {e}"));
    assert_eq!(
        (o.run_ns, o.wait_ns, o.timeslices),
        (t.sum_exec_runtime, t.run_delay, t.pcount),
        "{what}"
    );
}

fn check_cgroup(what: &str, text: &str) {
    let ours = parse_proc_cgroup(text).unwrap_or_else(|e| panic!("{what}: ours: {e}"));
    let theirs = procfs_core::ProcessCGroups::from_buf_read(text.as_bytes())
        .unwrap_or_else(|e| panic!("{what}: procfs-core: {e}"));
    assert_eq!(ours.len(), theirs.0.len(), "{what}");
    for (o, t) in ours.iter().zip(&theirs.0) {
        assert_eq!(
            (o.hierarchy, &o.controllers, &o.path),
            (t.hierarchy, &t.controllers, &t.pathname),
            "{what}"
        );
    }
}

/// Every fixture file of one format, checked; returns how many there were.
fn fixtures(keep: fn(&str) -> bool, check: fn(&str, &str)) -> usize {
    let files = proc_files(keep);
    for (path, _) in &files {
        check(&path.display().to_string(), &read(path));
    }
    files.len()
}

#[test]
fn host_wide_files_agree_on_every_fixture() {
    let n = [
        fixtures(|r| r == "stat", check_stat),
        fixtures(|r| r == "meminfo", check_meminfo),
        fixtures(|r| r == "loadavg", check_loadavg),
        fixtures(|r| r == "vmstat", check_vmstat),
        fixtures(|r| r.starts_with("pressure/"), check_pressure),
        fixtures(|r| r == "mounts", check_mounts),
        fixtures(|r| r == "diskstats", check_diskstats),
    ];
    eprintln!(
        "fixtures compared (stat, meminfo, loadavg, vmstat, pressure, mounts, diskstats): {n:?}"
    );
    assert!(n.iter().all(|&c| c >= 2), "{n:?}");
}

#[test]
fn process_files_agree_on_every_fixture() {
    let n = [
        fixtures(|r| is_pid_file(r, "stat"), check_pid_stat),
        fixtures(|r| is_pid_file(r, "status"), check_pid_status),
        fixtures(|r| is_pid_file(r, "schedstat"), check_schedstat),
        fixtures(|r| is_pid_file(r, "cgroup"), check_cgroup),
    ];
    eprintln!("fixtures compared (<pid>/stat, status, schedstat, cgroup): {n:?}");
    assert!(n.iter().all(|&c| c >= 20), "{n:?}");
}

#[test]
fn host_wide_files_agree_on_this_host() {
    let live = |rel: &str| std::fs::read_to_string(Path::new("/proc").join(rel)).unwrap();
    check_stat("/proc/stat", &live("stat"));
    check_meminfo("/proc/meminfo", &live("meminfo"));
    check_loadavg("/proc/loadavg", &live("loadavg"));
    check_vmstat("/proc/vmstat", &live("vmstat"));
    check_mounts("/proc/self/mounts", &live("self/mounts"));
    check_diskstats("/proc/diskstats", &live("diskstats"));
    // Kernels without CONFIG_PSI (or booted with psi=0) have no /proc/pressure.
    for r in ["cpu", "memory", "io"] {
        match std::fs::read_to_string(format!("/proc/pressure/{r}")) {
            Ok(text) => check_pressure(&format!("/proc/pressure/{r}"), &text),
            Err(e) => eprintln!("SKIPPED /proc/pressure/{r}: {e}"),
        }
    }
}

#[test]
fn process_files_agree_on_this_host() {
    let mut n = [0; 4];
    for (what, text) in live_pid_files("stat") {
        check_pid_stat(&what, &text);
        n[0] += 1;
    }
    for (what, text) in live_pid_files("status") {
        check_pid_status(&what, &text);
        n[1] += 1;
    }
    for (what, text) in live_pid_files("cgroup") {
        check_cgroup(&what, &text);
        n[2] += 1;
    }
    // schedstat needs CONFIG_SCHED_INFO (and schedstats on older kernels).
    match std::fs::read_to_string("/proc/self/schedstat") {
        Ok(_) => {
            for (what, text) in live_pid_files("schedstat") {
                check_schedstat(&what, &text);
                n[3] += 1;
            }
        }
        Err(e) => eprintln!("SKIPPED /proc/<pid>/schedstat: {e}"),
    }
    // And this test's own threads, as the libvirt source reads a QEMU's vCPU threads.
    let tasks = std::fs::read_dir("/proc/self/task").unwrap();
    for t in tasks.flatten() {
        let dir = t.path();
        if let Ok(text) = std::fs::read_to_string(dir.join("stat")) {
            check_pid_stat(&dir.join("stat").display().to_string(), &text);
        }
    }
    eprintln!("live processes compared (<pid>/stat, status, cgroup, schedstat): {n:?}");
}
