//! Side by side on the same live domains: one full agent collection vs one scrape of Debian's
//! `prometheus-libvirt-exporter` (nova metadata on) plus the CPU that scrape costs inside
//! libvirtd. Starts libvirtd (tests/libvirt/libvirtd) and 22 idle KVM domains with nova
//! metadata and pinning, the exporter on loopback, then measures both in one run.
//! Run as root: `cargo bench -p hvscope-agent --bench libvirt_live` (needs libvirt-daemon,
//! qemu-system-x86 and prometheus-libvirt-exporter installed; prints SKIPPED otherwise).
//! `LIBVIRT_BENCH_ROUNDS` sets the interleaved rounds (default 40);
//! `LIBVIRT_BENCH_LOOP_SECS=N` then keeps collecting for N seconds, for a profiler to attach.
//! The shipped agent is a static musl binary, with musl's allocator and string functions: to
//! measure that, add `--target x86_64-unknown-linux-musl` (the allocations line says which).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hvscope_agent::config::Config;
use hvscope_agent::io::FdBudget;
use hvscope_agent::io::HostRoot;
use hvscope_agent::snapshot::Collector;
use hvscope_agent::sources::host::HostSource;
use hvscope_agent::sources::iscsi::IscsiSource;
use hvscope_agent::sources::proc::files::DiskstatsFile;
use hvscope_agent::sources::{self, Context, Source};

const DOMAINS: u32 = 22;
/// Interleaved rounds (`LIBVIRT_BENCH_ROUNDS` overrides).
const DEFAULT_ROUNDS: u32 = 40;
const EXPORTER: &str = "/usr/bin/prometheus-libvirt-exporter";

/// The system allocator (glibc's, or musl's in a `--target x86_64-unknown-linux-musl` build, as
/// the shipped agent), counting allocations.
#[global_allocator]
static GLOBAL: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

/// Allocations and reallocations so far.
fn allocs() -> u64 {
    let s = GLOBAL.stats();
    (s.allocations + s.reallocations) as u64
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo")
        .to_path_buf()
}

fn sh(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// utime + stime of a process, seconds (10 ms ticks: averaged over many rounds).
fn proc_cpu(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    hvscope_parse::proc::pidstat::cpu_seconds(&s).unwrap_or(0.0)
}

/// This thread's CPU time, seconds (`CLOCK_THREAD_CPUTIME_ID`: exact, where a running thread's
/// schedstat only advances at scheduler ticks).
fn thread_cpu() -> f64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .expect("clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9
}

fn scrape(port: u16) -> usize {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("exporter");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut b = Vec::new();
    s.read_to_end(&mut b).expect("response");
    b.len()
}

/// What the daemon does with a collection before sending it (run.rs `collect_batch`): checks,
/// series, registry ids, the packed batch.
struct Daemon {
    checks: Vec<Box<dyn hvscope_agent::checks::Check>>,
    registry: hvscope_agent::series::Registry,
    series: hvscope_agent::series::SeriesBuf,
}

impl Daemon {
    fn new() -> Self {
        Self {
            checks: hvscope_agent::checks::configured(&Config::default()),
            registry: hvscope_agent::series::Registry::with_static_labels([("rack", "bench")]),
            series: hvscope_agent::series::SeriesBuf::default(),
        }
    }

    /// The series and the encoded bytes of the batch.
    fn batch(&mut self, snap: &hvscope_agent::snapshot::Snapshot, seq: u64) -> (usize, usize) {
        let findings = hvscope_agent::checks::run_all(&self.checks, snap);
        let buf = &mut self.series;
        buf.recycle();
        snap.series(buf);
        hvscope_agent::checks::series(&findings, buf);
        let mut samples = self.registry.assign(buf, seq);
        let mut batch = hvscope_proto::v1::Batch {
            seq,
            findings: findings.iter().map(|f| f.to_proto()).collect(),
            ..Default::default()
        };
        hvscope_proto::pack_samples(&mut batch, &mut samples);
        (buf.samples.len(), prost::Message::encoded_len(&batch))
    }
}

struct Teardown(Option<std::process::Child>);
impl Drop for Teardown {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
        sh(&format!(
            "{} stop",
            repo().join("tests/libvirt/libvirtd").display()
        ));
    }
}

fn main() {
    if !Path::new(EXPORTER).exists()
        || !sh("command -v libvirtd")
        || !Path::new("/dev/kvm").exists()
    {
        println!(
            "SKIPPED: needs libvirt-daemon, qemu-system-x86, prometheus-libvirt-exporter and /dev/kvm"
        );
        return;
    }
    let script = repo().join("tests/libvirt/libvirtd");
    assert!(
        sh(&format!(
            "{0} setup && {0} stop && {0} start",
            script.display()
        )),
        "libvirtd"
    );
    let mut guard = Teardown(None);
    let template =
        std::fs::read_to_string(repo().join("tests/libvirt/domain.xml")).expect("template");
    for d in 0..DOMAINS {
        let name = format!("hvscope-bench-{d:02}");
        let xml = template
            .replace("@TYPE@", "kvm")
            .replace("@NAME@", &name)
            .replace("@UUID@", &format!("0d6c5b4a-0000-4000-8000-{d:012x}"))
            .replace("@NOVA@", &name)
            .replace("@CPU@", &(d % 2).to_string())
            .replace("@DEVICES@", "");
        let p = std::env::temp_dir().join(format!("{name}.xml"));
        std::fs::write(&p, xml).expect("write xml");
        assert!(
            sh(&format!(
                "virsh -c qemu:///system define {} && virsh -c qemu:///system start {name}",
                p.display()
            )),
            "start {name}"
        );
    }
    let libvirtd: u32 = std::fs::read_to_string("/run/hvscope-test/libvirtd.pid")
        .expect("pid")
        .trim()
        .parse()
        .expect("pid");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let child = Command::new(EXPORTER)
        .args([
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--libvirt.export-nova-metadata".into(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("exporter");
    let exporter = child.id();
    guard.0 = Some(child);
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "exporter did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for _ in 0..3 {
        scrape(port);
    }
    let mut c = Collector::new(HostRoot::default(), &Config::default());
    for _ in 0..3 {
        c.collect();
    }

    let rounds: u32 = std::env::var("LIBVIRT_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS);
    println!("interleaved rounds start (pid {})", std::process::id());
    // Interleaved, so both see the same machine load.
    let (mut exp_cpu, mut lvd_cpu, mut exp_wall, mut agent_cpu, mut agent_wall) =
        (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut bytes = 0;
    let (mut vms, mut series, mut batch_bytes) = (0, 0, 0);
    let mut daemon = Daemon::new();
    let mut batch_cpu = 0.0;
    let (mut collect_allocs, mut batch_allocs) = (0u64, 0u64);
    for seq in 0..u64::from(rounds) {
        let (e0, l0, t) = (proc_cpu(exporter), proc_cpu(libvirtd), Instant::now());
        bytes = scrape(port);
        exp_wall += t.elapsed().as_secs_f64();
        exp_cpu += proc_cpu(exporter) - e0;
        lvd_cpu += proc_cpu(libvirtd) - l0;
        let (n0, a0, t) = (allocs(), thread_cpu(), Instant::now());
        let snap = c.collect();
        agent_wall += t.elapsed().as_secs_f64();
        let (n1, a1) = (allocs(), thread_cpu());
        agent_cpu += a1 - a0;
        (series, batch_bytes) = daemon.batch(&snap, seq);
        batch_cpu += thread_cpu() - a1;
        (collect_allocs, batch_allocs) =
            (collect_allocs + (n1 - n0), batch_allocs + (allocs() - n1));
        vms = snap.libvirt.vms.len();
    }
    // The same collection's parts, measured one by one in the same run (warm state each).
    let root = HostRoot::default();
    let config = Config::default();
    let running = vec!["libvirtd|virtqemud".to_owned()];
    let fds = FdBudget::for_process();
    let mut host_part = HostSource::new(config.host.daemons.clone());
    // `proc/diskstats`, read once per collection as the collector does (timed with the host
    // part, which read it itself before).
    let mut disks = DiskstatsFile::default();
    let mut lv = sources::libvirt::LibvirtSource::new();
    let mut part = [0.0f64; 6];
    let mut sli_allocs = 0u64;
    let mut errs = Vec::new();
    let mut mounts = None;
    for round in 0..=rounds {
        let a = thread_cpu();
        let cx = Context::new(&root, &fds, disks.read(&root, &fds));
        let host = host_part.collect(&cx, &mut errs);
        let b = thread_cpu();
        mounts = host.mounts.clone();
        let psi = host
            .pressure
            .as_ref()
            .map(|p| [&p.cpu, &p.memory, &p.io].map(|r| r.some.total_seconds));
        let l = lv.read(&root, &fds, mounts.as_deref(), psi, &mut errs);
        let d = thread_cpu();
        let _ = sources::ovs::collect(&root, &config.ovs, &mut errs);
        let e = thread_cpu();
        let _ = IscsiSource::new().collect(&cx, &mut errs);
        let f = thread_cpu();
        let n0 = allocs();
        c.sample_sli();
        let g = thread_cpu();
        if round > 0 {
            sli_allocs += allocs() - n0;
        }
        let mut threads = 0;
        for vm in &l.vms {
            for th in &vm.threads {
                threads += 1;
                let pid = vm.domain.pid.unwrap_or(0);
                let _ = std::fs::read_to_string(format!("/proc/{pid}/task/{}/schedstat", th.tid));
            }
        }
        let h = thread_cpu();
        let t = [
            b - a,
            d - b,
            e - d,
            f - e,
            g - f,
            (h - g) / threads.max(1) as f64,
        ];
        errs.clear();
        if round > 0 {
            for (p, v) in part.iter_mut().zip(t) {
                *p += v;
            }
        }
    }
    let _ = mounts;
    // The host part when every process is read (a full process scan: the daemon list changes
    // every call, so no earlier scan holds).
    let mut full_scan = 0.0;
    for round in 0..=rounds {
        let a = thread_cpu();
        let list = if round % 2 == 0 {
            &running
        } else {
            &config.host.daemons
        };
        host_part.set_daemons(list);
        let cx = Context::new(&root, &fds, disks.read(&root, &fds));
        let _ = host_part.collect(&cx, &mut errs);
        if round > 0 {
            full_scan += thread_cpu() - a;
        }
        errs.clear();
    }
    // For a profiler (`perf record -p <pid>`): keep collecting for this many seconds.
    if let Some(secs) = std::env::var("LIBVIRT_BENCH_LOOP_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        println!(
            "looping full collections and batches for {secs} s (pid {})",
            std::process::id()
        );
        let (t, mut collect, mut batch) = (Instant::now(), 0.0, 0.0);
        let mut n = 0u32;
        while t.elapsed() < Duration::from_secs(secs) {
            let a = thread_cpu();
            let snap = c.collect();
            let b = thread_cpu();
            daemon.batch(&snap, u64::from(rounds + n));
            (collect, batch) = (collect + b - a, batch + thread_cpu() - b);
            n += 1;
        }
        let each = |v: f64| v / f64::from(n.max(1)) * 1e3;
        println!(
            "  {n} rounds: collection {:.2} ms CPU, then checks, series and batch {:.2} ms",
            each(collect),
            each(batch)
        );
    }
    let n = f64::from(rounds);
    let ms = |v: f64| v / n * 1e3;
    println!(
        "  parts (same run, {rounds} rounds each, ms CPU): host {:.2} (with a full process scan \
         and /proc listed: {:.2}); libvirt VMs {:.2}; ovs {:.2}; iscsi {:.2}; \
         one SLI sample {:.2} ({:.1} us per VM, {:.1} allocations); \
         one thread schedstat open+read+close {:.1} us",
        ms(part[0]),
        ms(full_scan),
        ms(part[1]),
        ms(part[2]),
        ms(part[3]),
        ms(part[4]),
        part[4] / n / DOMAINS as f64 * 1e6,
        sli_allocs as f64 / n,
        part[5] / n * 1e6
    );
    println!(
        "  ratios vs exporter + libvirtd: libvirt/VM part alone {:.1}x, full collection {:.1}x",
        (exp_cpu + lvd_cpu) / part[1],
        (exp_cpu + lvd_cpu) / agent_cpu
    );
    let exporter_total = (exp_cpu + lvd_cpu) / n;
    println!(
        "{DOMAINS} live KVM domains, {rounds} interleaved rounds:\n  \
         prometheus-libvirt-exporter scrape: {:.1} ms CPU in the exporter + {:.1} ms in libvirtd = {:.1} ms, {:.1} ms wall, {bytes} bytes\n  \
         hvscope-agent full collection ({vms} VMs, host + libvirt + pinning inputs): {:.2} ms CPU, {:.2} ms wall\n  \
         ratio (exporter + libvirtd) / agent: {:.1}x\n  \
         then checks, {series} series, registry ids and the packed batch ({batch_bytes} bytes): {:.2} ms CPU; \
         ratio with them: {:.1}x",
        exp_cpu / n * 1e3,
        lvd_cpu / n * 1e3,
        exporter_total * 1e3,
        exp_wall / n * 1e3,
        agent_cpu / n * 1e3,
        agent_wall / n * 1e3,
        exporter_total / (agent_cpu / n),
        batch_cpu / n * 1e3,
        exporter_total / ((agent_cpu + batch_cpu) / n),
    );
    println!(
        "  allocations ({} allocator): {:.0} per collection, {:.0} per checks + series + batch",
        if cfg!(target_env = "musl") {
            "musl"
        } else {
            "glibc"
        },
        collect_allocs as f64 / n,
        batch_allocs as f64 / n
    );
}
