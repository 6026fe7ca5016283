//! The agent's cost as an operator's `top` shows it, side by side with the exporters it replaces.
//!
//! Starts, on this machine: libvirtd with `DOMAINS` idle KVM domains (nova metadata, pinned;
//! `tests/libvirt/`), a private Open vSwitch (testkit's OVS lab, userspace datapath) whose
//! integration bridge carries one Neutron-style VM port per domain, a release aggregator on
//! loopback with mTLS (tests/src `Cluster`), Debian's node_exporter and
//! prometheus-libvirt-exporter (`--libvirt.export-nova-metadata`). Then, per configuration, the
//! release daemon `hvscope-agent run` that ships (the static musl build,
//! `target/x86_64-unknown-linux-musl/release`; `OUTSIDE_AGENT` names another, and without a
//! musl build `target/release`'s is used) with `interval_secs = 10` (in a private
//! mount namespace in which the lab's run directory is `/run/openvswitch`, so the agent reads
//! the live host root `/` exactly as on a node), and over a window of whole intervals it reads,
//! from `/proc/<pid>/{stat,task/*/schedstat}`:
//! - the agent: utime+stime (as schedstat's nanosecond run time of every thread) **and**
//!   cutime+cstime (its reaped children: `ovs-ofctl`);
//! - node_exporter and the libvirt exporter: utime+stime, both scraped by this bench every 10 s
//!   as Prometheus would (`Accept-Encoding: gzip`);
//! - libvirtd: its CPU from just before to just after each libvirt-exporter scrape (what the
//!   scrape costs it); the rest of its window is its idle baseline, charged to no one (the agent
//!   reads libvirt's status files, never libvirtd's API);
//! - ovs-vswitchd and ovsdb-server: their window CPU minus their idle rates measured with no
//!   agent running just before (what the agent's OVSDB queries, flow dumps and flow monitors
//!   cost them).
//!
//! Configurations (flow tables from `hvscope_testkit::ovs::neutron_like_flows`):
//! - `a`: 1 bridge, 2,000 flows; the agent's defaults (native OpenFlow, `flow_monitor`);
//! - `b`: 4 bridges, 2,000 flows each, defaults; `b-dump` the same with `flow_monitor = false`
//!   (a full dump every interval: what the every-30-collections refresh costs, amortized);
//! - `c-ofctl`, `c-openflow`, `c-monitor`: 1 bridge, 100,000 flows: `flows_via = "ofctl"` and
//!   `"openflow"` without the monitor (a full dirty-flow pass every interval), and the default.
//!
//! The node's other required daemons (iscsid, nova-compute) run as idle stand-ins, so that the
//! agent sees a healthy node (`OUTSIDE_DAEMONS_DOWN=1`: without them, a node in alert).
//!
//! The windows of one OVS layout are interleaved round by round; medians are reported.
//! Run as root, after `cargo build --release -p hvscope-aggregator` and then, in a build of its
//! own (so that Cargo does not unify its dependencies' features with the aggregator's, which
//! makes a bigger agent than the one that ships), `cargo build --release --target
//! x86_64-unknown-linux-musl -p hvscope-agent`:
//! `cargo bench -p hvscope-e2e --bench outside` (about 15 minutes). It needs libvirt-daemon,
//! qemu-system-x86, /dev/kvm, openvswitch-switch, prometheus-node-exporter and
//! prometheus-libvirt-exporter (tests/run installs them) and prints SKIPPED otherwise.
//! `OUTSIDE_WINDOW_SECS` (default 60, whole intervals), `OUTSIDE_ROUNDS` (default 2),
//! `OUTSIDE_ONLY=a,b,…` (a subset of configurations), `OUTSIDE_DOMAINS` (default 20), and
//! `OUTSIDE_AGENT_B=/path/to/another/hvscope-agent` (each window is then run with that binary
//! too, interleaved: before/after a change in one run; `OUTSIDE_B_ONLY=a,b` limits that to
//! some configurations).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hvscope_e2e::Cluster;
use hvscope_testkit::libvirt::Libvirtd;
use hvscope_testkit::ovs::{OvsLab, mac, neutron_like_flows};
use hvscope_testkit::{
    Proc, TempDir, free_port, musl_agent, path_str, status_kib, target_dir, which,
};

const INTERVAL: Duration = Duration::from_secs(10);
const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";
const LIBVIRT_EXPORTER: &str = "/usr/bin/prometheus-libvirt-exporter";
/// The cookies of the Neutron-like table (`neutron_like_flows`: base + 0..6), owned by the
/// node's agents, plus the default cookie of its edge flows.
const OWNED: &[&str] = &[
    "0x9f3c6a1d2e4b7c85",
    "0x9f3c6a1d2e4b7c86",
    "0x9f3c6a1d2e4b7c87",
    "0x9f3c6a1d2e4b7c88",
    "0x9f3c6a1d2e4b7c89",
    "0x9f3c6a1d2e4b7c8a",
    "0x9f3c6a1d2e4b7c8b",
    "0x0",
];

fn env_u64(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// (CPU time of `pid`'s threads, cutime+cstime of its reaped children), seconds. The first is
/// what utime+stime count, but at nanosecond precision: the sum over `/proc/<pid>/task/*` of
/// `schedstat`'s run time (utime+stime advance in 10-ms ticks, too coarse for a 10-ms-per-
/// interval process over a minute); the children's part comes from `/proc/<pid>/stat`.
fn cpu(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let children = hvscope_parse::proc::pidstat::cpu_seconds_with_children(&stat, true)
        .map_or(0.0, |(_, c)| c);
    let run_ns: u64 = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.filter_map(|t| t.ok())
                .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
                .filter_map(|s| hvscope_parse::proc::schedstat::parse(&s).ok())
                .map(|s| s.run_ns)
                .sum()
        })
        .unwrap_or(0);
    (run_ns as f64 / 1e9, children)
}

/// Voluntary context switches summed over the threads of `pid` (each one a sleep, so a wakeup).
fn wakeups(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| t.ok())
        .map(|t| {
            let tid = t.file_name().to_string_lossy().into_owned();
            std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status"))
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

/// One scrape as Prometheus 2.42 makes it (gzip accepted); the response's bytes on the wire.
fn scrape(port: u16) -> usize {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: Prometheus/2.42.0\r\n\
         Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n\
         Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\nConnection: close\r\n\r\n"
    );
    let mut b = Vec::new();
    let _ = s.read_to_end(&mut b);
    b.len()
}

fn wait_listening(port: u16, what: &str) {
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "{what} did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn pid_of_file(path: &str) -> u32 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("pid file {path}"))
}

/// A configuration of the agent and the OVS layout it runs against.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    /// One bridge, 2,000 flows.
    One,
    /// Four bridges, 2,000 flows each.
    Four,
    /// One bridge, 100,000 flows.
    Big,
}

struct Scenario {
    name: &'static str,
    layout: Layout,
    flows_via: &'static str,
    flow_monitor: bool,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "a",
        layout: Layout::One,
        flows_via: "openflow",
        flow_monitor: true,
    },
    Scenario {
        name: "b",
        layout: Layout::Four,
        flows_via: "openflow",
        flow_monitor: true,
    },
    Scenario {
        name: "b-dump",
        layout: Layout::Four,
        flows_via: "openflow",
        flow_monitor: false,
    },
    Scenario {
        name: "c-ofctl",
        layout: Layout::Big,
        flows_via: "ofctl",
        flow_monitor: false,
    },
    Scenario {
        name: "c-openflow",
        layout: Layout::Big,
        flows_via: "openflow",
        flow_monitor: false,
    },
    Scenario {
        name: "c-monitor",
        layout: Layout::Big,
        flows_via: "openflow",
        flow_monitor: true,
    },
];

/// CPU per interval (ms) of one window, and the agent's memory at its end.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    agent: f64,
    children: f64,
    vswitchd: f64,
    ovsdb: f64,
    node_exporter: f64,
    libvirt_exporter: f64,
    libvirtd_scrapes: f64,
    libvirtd_idle: f64,
    rss_kib: u64,
    hwm_kib: u64,
    node_bytes: usize,
    libvirt_bytes: usize,
    /// Voluntary context switches of all the agent's threads per interval (its wakeups).
    wakeups: f64,
    threads: usize,
}

impl Window {
    fn agent_total(&self) -> f64 {
        self.agent + self.children
    }
    fn exporters(&self) -> f64 {
        self.node_exporter + self.libvirt_exporter + self.libvirtd_scrapes
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Everything started once and shared by every window.
struct Bench {
    lab: OvsLab,
    cluster: Cluster,
    dir: TempDir,
    tag: u32,
    domains: u32,
    libvirtd: u32,
    node_port: u16,
    libvirt_port: u16,
    node_pid: u32,
    libvirt_pid: u32,
    bridges: Vec<String>,
    window: Duration,
}

impl Bench {
    fn bridge(&self, k: usize) -> String {
        format!("hvo{}b{k}", self.tag)
    }

    /// Makes the OVS layout: bridge 0 with one VM port per domain, the others with six ports;
    /// every bridge with its tunnel port at ofport 50 and the Neutron-like table.
    fn layout(&mut self, layout: Layout) {
        let (n_bridges, flows) = match layout {
            Layout::One => (1, 2000),
            Layout::Four => (4, 2000),
            Layout::Big => (1, 100_000),
        };
        for br in self.bridges.drain(..) {
            self.lab.vsctl(&["--if-exists", "del-br", &br]).unwrap();
        }
        let file = self.dir.join(&format!("flows{flows}.txt"));
        if !file.exists() {
            std::fs::write(&file, neutron_like_flows(flows)).unwrap();
        }
        for k in 0..n_bridges {
            let br = self.bridge(k);
            self.lab.add_bridge(&br).unwrap();
            let ports = if k == 0 { self.domains as u16 } else { 6 };
            for p in 1..=ports {
                let tap = format!("hvo{}p{k}x{p}", self.tag);
                let vm = format!("0d6c5b4a-0000-4000-8000-{:012x}", p - 1);
                let m = mac(usize::from(p) + 0x10000 * k);
                self.lab.add_vm_port(&br, &tap, p, &m, &vm).unwrap();
            }
            let tun = format!("hvo{}t{k}", self.tag);
            self.lab
                .add_vm_port(&br, &tun, 50, &mac(0x20000 + k), "tunnel")
                .unwrap();
            let t = Instant::now();
            self.lab
                .ofctl(&br, "add-flows", &["--bundle", path_str(&file)])
                .unwrap();
            eprintln!("{br}: {flows} flows loaded in {:.1?}", t.elapsed());
            self.bridges.push(br);
        }
    }

    /// The agent's config for `s`.
    fn agent_config(&self, s: &Scenario, node: &str) -> PathBuf {
        let c = self.cluster.certs();
        let owned: Vec<String> = OWNED.iter().map(|o| format!("'{o}'")).collect();
        let text = format!(
            "aggregators = [\"127.0.0.1:{port}\"]\ninterval_secs = 10\nnode_name = \"{node}\"\n\
             [labels]\nrack = \"bench\"\n\
             [tls]\nca = \"{c}/ca.pem\"\ncert = \"{c}/{node}.pem\"\nkey = \"{c}/{node}-key.pem\"\n\
             server_name = \"localhost\"\n\
             [ovs]\nflows_via = \"{via}\"\nflow_monitor = {mon}\nflows_timeout_ms = 30000\n\
             owned_cookies = [{owned}]\nmac_check_bridges = ['{int}']\n\
             [[ovs.rules]]\nname = 'flood'\nseverity = 'critical'\nactions_regex = '(^|,)FLOOD(,|$)'\n",
            port = self.cluster.grpc_port,
            c = c.display(),
            via = s.flows_via,
            mon = s.flow_monitor,
            owned = owned.join(", "),
            int = self.bridge(0),
        );
        let p = self.dir.join(&format!("agent-{node}.toml"));
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Starts `agent` with `config` in a mount namespace where `/run/openvswitch` is the lab's.
    fn start_agent(&self, agent: &Path, config: &Path, log: &str) -> Proc {
        let hostrun = self.dir.join("hostrun");
        std::fs::create_dir_all(&hostrun).unwrap();
        let script = format!(
            "set -e; mount --bind /run {h}; mount -t tmpfs -o size=1m none /run; \
             mkdir -p /run/libvirt /run/openvswitch; mount --bind {h}/libvirt /run/libvirt; \
             mount --bind {ovs} /run/openvswitch; exec {agent} run --config {config}",
            h = hostrun.display(),
            ovs = self.lab.rundir.display(),
            agent = agent.display(),
            config = config.display(),
        );
        let p = Proc::spawn(
            Path::new("unshare"),
            &["--mount", "--propagation", "private", "sh", "-c", &script],
            &[("RUST_LOG", "info")],
            self.dir.join(log),
        );
        let pid = p.child.id();
        let exe = std::fs::canonicalize(agent).unwrap_or_else(|_| agent.to_owned());
        let ok = hvscope_testkit::wait_for(Duration::from_secs(5), || {
            std::fs::read_link(format!("/proc/{pid}/exe"))
                .ok()
                .filter(|e| *e == exe)
        });
        assert!(ok.is_some(), "agent did not start: {}", p.log());
        p
    }

    /// The CPU rates (s/s) of ovs-vswitchd and ovsdb-server with no agent running, over `secs`.
    fn ovs_idle(&self, secs: u64) -> (f64, f64) {
        let (v, d) = (self.lab.vswitchd.child.id(), self.lab.ovsdb.child.id());
        let (v0, d0) = (cpu(v).0, cpu(d).0);
        std::thread::sleep(Duration::from_secs(secs));
        ((cpu(v).0 - v0) / secs as f64, (cpu(d).0 - d0) / secs as f64)
    }

    /// One window of scenario `s` with `agent`: start it, let two collections pass (first dump,
    /// stream up), then measure over whole intervals, starting mid-interval.
    fn window(&self, s: &Scenario, agent: &Path, node: &str, idle: (f64, f64)) -> Window {
        let config = self.agent_config(s, node);
        let mut proc = self.start_agent(agent, &config, &format!("agent-{node}.log"));
        let pid = proc.child.id();
        let started = Instant::now();
        std::thread::sleep(INTERVAL + INTERVAL / 2);
        assert!(proc.alive(), "agent exited during warm-up: {}", proc.log());
        let (vswitchd, ovsdb) = (self.lab.vswitchd.child.id(), self.lab.ovsdb.child.id());
        let intervals = (self.window.as_secs() / INTERVAL.as_secs()).max(1) as u32;
        let (a0, c0) = cpu(pid);
        let k0 = wakeups(pid);
        let (v0, o0) = (cpu(vswitchd).0, cpu(ovsdb).0);
        let (n0, l0, d0) = (
            cpu(self.node_pid).0,
            cpu(self.libvirt_pid).0,
            cpu(self.libvirtd).0,
        );
        let t0 = Instant::now();
        let mut w = Window::default();
        let mut at_scrapes = 0.0;
        for k in 0..intervals {
            let due = t0 + INTERVAL * k;
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            w.node_bytes = scrape(self.node_port);
            let d = cpu(self.libvirtd).0;
            w.libvirt_bytes = scrape(self.libvirt_port);
            at_scrapes += cpu(self.libvirtd).0 - d;
        }
        std::thread::sleep((t0 + INTERVAL * intervals).saturating_duration_since(Instant::now()));
        let wall = t0.elapsed().as_secs_f64();
        let (a1, c1) = cpu(pid);
        let per = |v: f64| 1000.0 * v / f64::from(intervals);
        w.agent = per(a1 - a0);
        w.children = per(c1 - c0);
        w.vswitchd = per(cpu(vswitchd).0 - v0 - idle.0 * wall);
        w.ovsdb = per(cpu(ovsdb).0 - o0 - idle.1 * wall);
        w.node_exporter = per(cpu(self.node_pid).0 - n0);
        w.libvirt_exporter = per(cpu(self.libvirt_pid).0 - l0);
        w.libvirtd_scrapes = per(at_scrapes);
        w.libvirtd_idle = per(cpu(self.libvirtd).0 - d0 - at_scrapes);
        w.rss_kib = status_kib(&pid.to_string(), "VmRSS:");
        w.hwm_kib = status_kib(&pid.to_string(), "VmHWM:");
        assert!(proc.alive(), "agent exited: {}", proc.log());
        let seen = self
            .cluster
            .node(node, false)
            .unwrap_or_else(|| panic!("{node} never reached the aggregator: {}", proc.log()));
        assert_eq!(seen["connected"], true, "{node} is not connected");
        w.wakeups = (wakeups(pid) - k0) as f64 / f64::from(intervals);
        w.threads = std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count());
        eprintln!(
            "  {} {node}: agent {:.1}+{:.1} ms, vswitchd {:.1} ms, ovsdb-server {:.1} ms; exporters {:.1}+{:.1}+{:.1} ms \
             (libvirtd idle {:.1}); RSS {} KiB, HWM {} KiB; {:.0} wakeups/interval, {} threads; {:.0?} since start",
            s.name,
            w.agent,
            w.children,
            w.vswitchd,
            w.ovsdb,
            w.node_exporter,
            w.libvirt_exporter,
            w.libvirtd_scrapes,
            w.libvirtd_idle,
            w.rss_kib,
            w.hwm_kib,
            w.wakeups,
            w.threads,
            started.elapsed()
        );
        proc.kill();
        w
    }
}

fn main() {
    let mut missing: Vec<&str> = [NODE_EXPORTER, LIBVIRT_EXPORTER, "/dev/kvm"]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    for tool in ["libvirtd", "ovs-vswitchd", "unshare"] {
        if which(&[tool]).is_none() {
            missing.push(tool);
        }
    }
    // The agent measured is the one that ships, the static musl build (`tests/run` makes
    // it), unless `OUTSIDE_AGENT` names another; without a musl build, the glibc one.
    let agent = std::env::var_os("OUTSIDE_AGENT")
        .map(PathBuf::from)
        .or_else(|| Some(musl_agent()).filter(|m| m.exists()))
        .unwrap_or_else(|| target_dir().join("hvscope-agent"));
    let aggregator = target_dir().join("hvscope-aggregator");
    if !agent.exists() || !aggregator.exists() {
        missing.push(
            "target/release/hvscope-aggregator and target/x86_64-unknown-linux-musl/release/\
             hvscope-agent: cargo build --release -p hvscope-aggregator && cargo build --release \
             --target x86_64-unknown-linux-musl -p hvscope-agent",
        );
    }
    eprintln!("agent A: {}", agent.display());
    if !missing.is_empty() {
        println!("SKIPPED: the outside bench needs {missing:?}");
        return;
    }
    let only: Option<Vec<String>> = std::env::var("OUTSIDE_ONLY")
        .ok()
        .map(|v| v.split(',').map(str::to_owned).collect());
    let agent_b = std::env::var_os("OUTSIDE_AGENT_B").map(PathBuf::from);
    let b_only: Option<Vec<String>> = std::env::var("OUTSIDE_B_ONLY")
        .ok()
        .map(|v| v.split(',').map(str::to_owned).collect());
    let rounds = env_u64("OUTSIDE_ROUNDS", 2) as u32;
    let window = Duration::from_secs(env_u64("OUTSIDE_WINDOW_SECS", 60));
    let domains = env_u64("OUTSIDE_DOMAINS", 20) as u32;

    let Some(lv) = Libvirtd::start(&[]) else {
        println!("SKIPPED: libvirtd did not start");
        return;
    };
    assert_eq!(lv.kind, "kvm", "the outside bench wants KVM domains");
    let t = Instant::now();
    for d in 0..domains {
        lv.define(
            &format!("hvscope-outside-{d:02}"),
            &format!("0d6c5b4a-0000-4000-8000-{d:012x}"),
            d % 2,
            "",
        );
    }
    eprintln!("{domains} KVM domains started in {:.1?}", t.elapsed());
    let libvirtd = pid_of_file("/run/hvscope-test/libvirtd.pid");
    let lab = match OvsLab::start("outside") {
        Ok(l) => l,
        Err(e) => {
            println!("SKIPPED: OVS: {e}");
            return;
        }
    };
    let mut cluster = Cluster::new("outside");
    cluster.start_aggregator();
    let dir = TempDir::new("outside");
    // The agent's other required daemons (`host.daemons`: iscsid and nova-compute besides
    // libvirtd and OVS), unless they run already, as idle stand-ins under their names: a
    // healthy node runs them all, and a node with a daemon down is a node in alert, whose
    // agent lists `/proc` every collection to see it come back. `OUTSIDE_DAEMONS_DOWN=1`
    // measures that case instead.
    let daemons_down = std::env::var("OUTSIDE_DAEMONS_DOWN").is_ok_and(|v| v == "1");
    let _standins: Vec<Proc> = ["iscsid", "nova-compute"]
        .into_iter()
        .filter(|_| !daemons_down)
        .filter(|name| {
            !std::process::Command::new("pgrep")
                .args(["-x", name])
                .stdout(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(|name| {
            let exe = dir.join(name);
            std::fs::copy("/bin/sleep", &exe).expect("copy sleep");
            Proc::spawn(&exe, &["infinity"], &[], dir.join(&format!("{name}.log")))
        })
        .collect();
    let (node_port, libvirt_port) = (free_port(), free_port());
    let node_exp = Proc::spawn(
        Path::new(NODE_EXPORTER),
        &[&format!("--web.listen-address=127.0.0.1:{node_port}")],
        &[],
        dir.join("node-exporter.log"),
    );
    let libvirt_exp = Proc::spawn(
        Path::new(LIBVIRT_EXPORTER),
        &[
            &format!("--web.listen-address=127.0.0.1:{libvirt_port}"),
            "--libvirt.export-nova-metadata",
        ],
        &[],
        dir.join("libvirt-exporter.log"),
    );
    wait_listening(node_port, "node_exporter");
    wait_listening(libvirt_port, "prometheus-libvirt-exporter");
    for _ in 0..3 {
        assert!(scrape(node_port) > 1000, "node_exporter answers");
        assert!(scrape(libvirt_port) > 1000, "libvirt exporter answers");
    }
    let mut bench = Bench {
        tag: std::process::id() % 1000,
        node_pid: node_exp.child.id(),
        libvirt_pid: libvirt_exp.child.id(),
        lab,
        cluster,
        dir,
        domains,
        libvirtd,
        node_port,
        libvirt_port,
        bridges: Vec::new(),
        window,
    };
    let mut agents = vec![("A", agent.clone())];
    if let Some(b) = &agent_b {
        agents.push(("B", b.clone()));
    }
    // Agent B runs only the scenarios OUTSIDE_B_ONLY names (all without it).
    let skips = |s: &Scenario, label: &str| {
        label == "B"
            && b_only
                .as_ref()
                .is_some_and(|o| !o.iter().any(|n| n == s.name))
    };
    let mut results: Vec<(&Scenario, &str, Vec<Window>)> = Vec::new();
    let mut serial = 0;
    for layout in [Layout::One, Layout::Four, Layout::Big] {
        let group: Vec<&Scenario> = SCENARIOS
            .iter()
            .filter(|s| s.layout == layout)
            .filter(|s| only.as_ref().is_none_or(|o| o.iter().any(|n| n == s.name)))
            .collect();
        if group.is_empty() {
            continue;
        }
        bench.layout(layout);
        let idle = bench.ovs_idle(30);
        eprintln!(
            "idle: ovs-vswitchd {:.2} ms/s, ovsdb-server {:.2} ms/s",
            idle.0 * 1000.0,
            idle.1 * 1000.0
        );
        for s in &group {
            for (label, _) in &agents {
                if skips(s, label) {
                    continue;
                }
                results.push((s, label, Vec::new()));
            }
        }
        for _ in 0..rounds {
            for s in &group {
                for (label, bin) in &agents {
                    if skips(s, label) {
                        continue;
                    }
                    serial += 1;
                    let node = format!("outside-{serial}");
                    bench.cluster.node_cert(&node, 30);
                    let w = bench.window(s, bin, &node, idle);
                    results
                        .iter_mut()
                        .find(|r| std::ptr::eq(r.0, *s) && r.1 == *label)
                        .expect("result slot")
                        .2
                        .push(w);
                }
            }
        }
    }
    let running = hvscope_testkit::libvirt::sh("virsh -c qemu:///system list --name")
        .map(|o| {
            o.lines()
                .filter(|l| l.starts_with("hvscope-outside-"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(
        running, domains as usize,
        "domains vanished during the run (another test stopped libvirtd?)"
    );

    println!(
        "\noutside: CPU per 10-s interval, ms (medians of {rounds} window(s) of {} s each; {domains} idle KVM domains)",
        window.as_secs()
    );
    println!(
        "{:<11} {:>3} | {:>6} {:>7} {:>7} {:>8} | {:>6} {:>7} {:>6} {:>7} | {:>6} {:>6} | {:>8} {:>8} {:>7}",
        "config",
        "bin",
        "agent",
        "+child",
        "=total",
        "+ovs",
        "nodeex",
        "lvexp",
        "lvd",
        "=export",
        "ratio",
        "w/ovs",
        "RSS KiB",
        "HWM KiB",
        "wakeups"
    );
    let mut by_name = std::collections::HashMap::new();
    for (s, label, ws) in &results {
        let m = |f: fn(&Window) -> f64| median(ws.iter().map(f).collect());
        let (agent, children) = (m(|w| w.agent), m(|w| w.children));
        let total = m(Window::agent_total);
        let exporters = m(Window::exporters);
        let with_vswitchd = m(|w| w.agent_total() + w.vswitchd + w.ovsdb);
        let rss = m(|w| w.rss_kib as f64);
        let hwm = m(|w| w.hwm_kib as f64);
        println!(
            "{:<11} {:>3} | {:>6.1} {:>7.1} {:>7.1} {:>8.1} | {:>6.1} {:>7.1} {:>6.1} {:>7.1} | {:>6.3} {:>6.3} | {:>8.0} {:>8.0} {:>7.0}",
            s.name,
            label,
            agent,
            children,
            total,
            with_vswitchd,
            m(|w| w.node_exporter),
            m(|w| w.libvirt_exporter),
            m(|w| w.libvirtd_scrapes),
            exporters,
            total / exporters,
            with_vswitchd / exporters,
            rss,
            hwm,
            m(|w| w.wakeups)
        );
        by_name.insert((s.name, *label), (total, with_vswitchd, exporters));
    }
    if let Some(w) = results.first().and_then(|r| r.2.first()) {
        println!(
            "  scrape sizes (gzip): node_exporter {} B, libvirt exporter {} B; libvirtd idle {:.1} ms/interval (charged to no one)",
            w.node_bytes, w.libvirt_bytes, w.libvirtd_idle
        );
    }
    for (label, _) in &agents {
        if let (Some(o), Some(n)) = (
            by_name.get(&("c-ofctl", *label)),
            by_name.get(&("c-openflow", *label)),
        ) {
            println!(
                "  [{label}] 100k flows, a full dirty-flow pass every interval (agent + children + ovs-vswitchd + ovsdb-server): \
                 openflow {:.0} ms vs ofctl {:.0} ms = {:.2}",
                n.1,
                o.1,
                n.1 / o.1
            );
            if let Some(m) = by_name.get(&("c-monitor", *label)) {
                println!(
                    "  [{label}] with flow_monitor (table unchanged; one re-dump every 30 intervals adds {:.0} ms/interval): \
                     {:.0} ms, amortized {:.0} ms = {:.3} of ofctl",
                    (n.1 - m.1).max(0.0) / 30.0,
                    m.1,
                    m.1 + (n.1 - m.1).max(0.0) / 30.0,
                    (m.1 + (n.1 - m.1).max(0.0) / 30.0) / o.1
                );
            }
        }
        if let (Some(b), Some(d)) = (
            by_name.get(&("b", *label)),
            by_name.get(&("b-dump", *label)),
        ) {
            let amortized = b.1 + (d.1 - b.1).max(0.0) / 30.0;
            println!(
                "  [{label}] 4 bridges: agent alone {:.1} ms = 1/{:.1} of the exporters; with what it costs OVS and the \
                 every-30-intervals re-dump amortized {:.1} ms = 1/{:.1}",
                b.0,
                b.2 / b.0,
                amortized,
                b.2 / amortized
            );
        }
    }
    println!(
        "load average: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    drop(bench);
    drop((node_exp, libvirt_exp));
    drop(lv);
}
