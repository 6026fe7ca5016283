//! Cost of one full host collection, the agent against Debian's `prometheus-node-exporter`
//! (default collectors) per scrape, side by side in one run:
//!
//! 1. this machine (live `/proc`, `/sys`, netlink, statvfs);
//! 2. a synthetic host tree with 128 CPUs, 4 NUMA nodes, 40 interfaces and 400 processes
//!    (`--path.procfs/--path.sysfs/--path.rootfs` for node_exporter, `HostRoot` for the agent).
//!
//! Agent: collection + series + Prometheus text in this process, as the daemon does every
//! interval; CPU from `CLOCK_THREAD_CPUTIME_ID` (ns), peak RSS from this process's VmHWM
//! (an upper bound: the bench binary links the whole agent). node_exporter: a warm daemon,
//! CPU from utime+stime of `/proc/<pid>/stat` over the scrapes, peak RSS its VmHWM.
//! Run: `cargo bench -p hvscope-agent --bench host` (needs `prometheus-node-exporter`).

mod synth;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hvscope_agent::config::Config;
use hvscope_agent::io::FdBudget;
use hvscope_agent::io::HostRoot;
use hvscope_agent::series::{SeriesBuf, text};
use hvscope_agent::sli::disk_delay::vm_devices;
use hvscope_agent::snapshot::Snapshot;
use hvscope_agent::sources::host::HostSource;
use hvscope_agent::sources::iscsi::IscsiSource;
use hvscope_agent::sources::iscsi::join::join_refs;
use hvscope_agent::sources::libvirt::LibvirtSource;
use hvscope_agent::sources::ovs::OvsSource;
use hvscope_agent::sources::proc::files::DiskstatsFile;
use hvscope_agent::sources::{Context, Source};
use hvscope_common::clock::now_ms;

const ROUNDS: u32 = 50;

fn field(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn thread_cpu_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

fn pid_cpu_seconds(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    hvscope_parse::proc::pidstat::cpu_seconds(&s).unwrap_or(0.0)
}

struct Cost {
    cpu_ms: f64,
    peak_rss_mib: f64,
    series: usize,
}

/// One full collection per round as this bench has always measured it (`Snapshot::collect_with`
/// before the sources owned their state): the host part warm from round to round (its kept
/// files, process scan, CPU topology and netlink socket were process-wide then; `diskstats`
/// was one of its kept files), the libvirt, OVS and iSCSI sources fresh each round.
struct Rounds {
    config: Config,
    fds: FdBudget,
    disks: DiskstatsFile,
    host: HostSource,
}

impl Rounds {
    fn new(config: &Config) -> Self {
        Self {
            config: config.clone(),
            fds: FdBudget::for_process(),
            disks: DiskstatsFile::default(),
            host: HostSource::new(config.host.daemons.clone()),
        }
    }

    /// What `Collector::collect` does, with fresh sources but the host part.
    fn collect(&mut self, root: &HostRoot) -> Snapshot {
        let mut errors = Vec::new();
        let cx = Context::new(root, &self.fds, self.disks.read(root, &self.fds));
        let host = self.host.collect(&cx, &mut errors);
        let cx = Context {
            mounts: host.mounts.as_deref(),
            ..cx
        };
        let libvirt = LibvirtSource::new().collect(&cx, &mut errors);
        let ovs = OvsSource::new(self.config.ovs.clone()).collect(&cx, &mut errors);
        let iscsi = IscsiSource::new().collect(&cx, &mut errors);
        let domains: Vec<_> = libvirt.vms.iter().map(|v| &*v.domain).collect();
        std::hint::black_box(vm_devices(&join_refs(&iscsi, &domains)));
        Snapshot {
            timestamp_ms: now_ms(),
            host,
            libvirt,
            sli: Default::default(),
            disk_sli: Default::default(),
            ovs,
            iscsi,
            errors,
        }
    }
}

fn agent(root: &HostRoot) -> Cost {
    let config = Config {
        host_root: root.root().to_path_buf(),
        ..Config::default()
    };
    let mut series = 0;
    let mut rounds = Rounds::new(&config);
    // Warm-up (first-touch allocations, page cache), then measure.
    let mut once = || {
        let snap = rounds.collect(root);
        let mut buf = SeriesBuf::default();
        snap.series(&mut buf);
        let t = text::render(&buf);
        (buf.samples.len(), t.len())
    };
    once();
    let start = thread_cpu_ns();
    for _ in 0..ROUNDS {
        series = once().0;
    }
    let ns = thread_cpu_ns() - start;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    Cost {
        cpu_ms: ns as f64 / 1e6 / ROUNDS as f64,
        peak_rss_mib: field(&status, "VmHWM:") as f64 / 1024.0,
        series,
    }
}

fn scrape(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.starts_with("HTTP/1.").then_some(body)
}

struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn node_exporter(root: Option<&Path>) -> Option<Cost> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let mut cmd = Command::new("prometheus-node-exporter");
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(r) = root {
        cmd.arg(format!("--path.procfs={}", r.join("proc").display()))
            .arg(format!("--path.sysfs={}", r.join("sys").display()))
            .arg(format!("--path.rootfs={}", r.display()));
    }
    let ex = Exporter(cmd.spawn().ok()?);
    let pid = ex.0.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    while scrape(port).is_none() {
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut series = 0;
    for _ in 0..3 {
        scrape(port)?; // warm-up
    }
    let start = pid_cpu_seconds(pid);
    for _ in 0..ROUNDS {
        let body = scrape(port)?;
        series = body
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains(' '))
            .count()
            - 1;
    }
    let cpu = pid_cpu_seconds(pid) - start;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    Some(Cost {
        cpu_ms: cpu * 1000.0 / ROUNDS as f64,
        peak_rss_mib: field(&status, "VmHWM:") as f64 / 1024.0,
        series,
    })
}

fn row(what: &str, c: &Cost) {
    println!(
        "{what:<34} {:>9.2} ms CPU/collection {:>7.1} MiB peak RSS {:>6} series",
        c.cpu_ms, c.peak_rss_mib, c.series
    );
}

fn compare(title: &str, root: &HostRoot, exporter_root: Option<&Path>) {
    println!("\n== {title}");
    let a = agent(root);
    row("hvscope-agent (collect+series+text)", &a);
    match node_exporter(exporter_root) {
        Some(n) => {
            row("prometheus-node-exporter (scrape)", &n);
            println!(
                "ratio agent/node_exporter: CPU {:.3} (target <= 0.2), RSS {:.2}",
                a.cpu_ms / n.cpu_ms,
                a.peak_rss_mib / n.peak_rss_mib
            );
        }
        None => println!(
            "prometheus-node-exporter not available: apt-get install prometheus-node-exporter"
        ),
    }
}

/// Peak RSS of the real one-shot CLI (`snapshot --format prometheus`), via GNU time.
fn cli_peak_rss(root: &Path) {
    let exe = std::env::current_exe().ok();
    let bin = exe
        .as_deref()
        .and_then(|e| e.parent()?.parent().map(|d| d.join("hvscope-agent")))
        .filter(|b| b.exists());
    let Some(bin) = bin else {
        println!("(hvscope-agent binary not built in this profile: skipping the CLI figure)");
        return;
    };
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M %U %S"])
        .arg(&bin)
        .args(["snapshot", "--format", "prometheus", "--host-root"])
        .arg(root)
        .stdout(Stdio::null())
        .output();
    if let Ok(o) = out {
        let err = String::from_utf8_lossy(&o.stderr);
        if let Some(line) = err.lines().last() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if let [kb, u, s] = f.as_slice() {
                let kb: f64 = kb.parse().unwrap_or(0.0);
                println!(
                    "one-shot `{} snapshot --host-root {}`: peak RSS {:.1} MiB, user {u} s, sys {s} s (includes process start)",
                    bin.display(),
                    root.display(),
                    kb / 1024.0
                );
            }
        }
    }
}

/// CPU per part of one collection on `root` (ms), to see where the time goes.
fn breakdown(root: &HostRoot) {
    use hvscope_agent::sources::proc::files::ProcFiles;
    use hvscope_agent::sources::sys::{self, files::SysFiles};
    let time = |name: &str, f: &mut dyn FnMut()| {
        f();
        let start = thread_cpu_ns();
        for _ in 0..ROUNDS {
            f();
        }
        let ms = (thread_cpu_ns() - start) as f64 / 1e6 / ROUNDS as f64;
        print!("{name} {ms:.2}  ");
    };
    // Each part keeps its state from round to round, as the host part does.
    let fds = FdBudget::for_process();
    print!("  parts (ms):  ");
    let mut procs = ProcFiles::default();
    time("proc/stat", &mut || {
        let parse = hvscope_parse::proc::stat::parse;
        let _ = procs.read_parsed(root, &fds, "proc/stat", parse);
    });
    let mut files = SysFiles::default();
    time("sys.cpu", &mut || {
        files.next_collection();
        let _ = sys::cpu::read(root, &fds, &mut files);
    });
    time("sys.node", &mut || {
        files.next_collection();
        let _ = sys::node::read(root, &fds, &mut files);
    });
    time("sys.hugepages", &mut || {
        files.next_collection();
        let _ = sys::hugepages::read(root, &fds, &mut files);
    });
    time("sys.net", &mut || {
        let _ = sys::net::read(root);
    });
    let mut host = HostSource::new(Vec::new());
    let mut disks = DiskstatsFile::default();
    time("host source", &mut || {
        let mut e = Vec::new();
        let cx = Context::new(root, &fds, disks.read(root, &fds));
        let _ = host.collect(&cx, &mut e);
    });
    println!();
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` / `cargo test --benches` probing
    }
    compare("this machine (live)", &HostRoot::default(), None);
    cli_peak_rss(Path::new("/"));
    let synth = synth::SynthHost::new(128, 4, 40, 400);
    compare(
        "synthetic: 128 CPUs, 4 NUMA nodes, 40 interfaces, 400 processes",
        &HostRoot::new(&synth.0),
        Some(&synth.0),
    );
    breakdown(&HostRoot::new(&synth.0));
    cli_peak_rss(&synth.0);
}
