//! Dirty-flow detection at scale: 100,000 flows loaded into a live userspace bridge (a private
//! ovsdb-server + ovs-vswitchd, `ovs-ofctl --bundle add-flows`), then
//!   (a) `ovs-ofctl dump-flows` alone (output to a file, and to /dev/null),
//!   (b) the agent's parse + checks over that same output (streamed from the file),
//!   (c) the agent's whole OVS collection (OVSDB query + dump piped into parse + checks),
//! with the peak RSS increase of (b) and (c) (VmHWM after resetting it via clear_refs).
//! Targets: (b) < 25 % of (a); RSS increase < 4 MiB.
//! This bench is the ovs-ofctl path (`flows_via = "ofctl"`); `ovs_openflow` compares it with
//! the native client. Run: `cargo bench -p hvscope-agent --bench ovs_flows` (needs
//! openvswitch-switch; N=… overrides the flow count).

use std::collections::HashSet;
use std::io::BufReader;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hvscope_agent::io::HostRoot;
use hvscope_agent::sources::ovs::audit::{Auditor, FlowAudit};
use hvscope_agent::sources::ovs::config::OvsConfig;
use hvscope_agent::sources::ovs::rules::Rules;
use hvscope_agent::sources::ovs::{client, collect};
use hvscope_parse::ovs::ovsdb;
use hvscope_parse::ovs::stream::FlowStream;
use hvscope_testkit::ovs::OvsLab;

const OWNED: &str = "0x9f3c6a1d2e4b7c85";
const MACS: [&str; 4] = [
    "fa:16:3e:00:00:01",
    "fa:16:3e:00:00:02",
    "fa:16:3e:00:00:03",
    "fa:16:3e:00:00:04",
];

/// Neutron-firewall-like flows for 4 VMs (ofports 1-4); a few are dirty on purpose.
fn flows(n: usize) -> String {
    let mut s = String::with_capacity(n * 160);
    for i in 0..n {
        let (a, b, c) = (i >> 16, (i >> 8) & 0xff, i & 0xff);
        let vm = i % 4;
        let (port, mac) = (vm + 1, MACS[vm]);
        let cookie = if i % 10_000 == 9_999 {
            "0x5b21e0c4a9d3f176"
        } else {
            OWNED
        };
        let out = if i % 25_000 == 24_999 { 43 } else { port };
        let line = match i % 4 {
            0 => format!(
                "table=71,priority=65,ip,reg5={port:#x},in_port={port},dl_src={mac},nw_src=10.{a}.{b}.{c},actions=ct(table=72,zone=NXM_NX_REG6[0..15])"
            ),
            1 => format!(
                "table=82,priority=77,ct_state=+new-est,tcp,reg5={port:#x},nw_src=10.{a}.{b}.{c},tp_dst=22,actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:{out},resubmit(,92)"
            ),
            2 => format!(
                "table=60,priority=90,ip,dl_dst={mac},nw_dst=10.{a}.{b}.{c},actions=load:{port:#x}->NXM_NX_REG5[],resubmit(,81)"
            ),
            _ => format!(
                "table=94,priority=12,ip,reg6=0x1,dl_dst={mac},nw_dst=10.{a}.{b}.{c},actions=output:{out}"
            ),
        };
        s.push_str(&format!("cookie={cookie},{line}\n"));
    }
    s
}

fn status_kib(key: &str) -> u64 {
    hvscope_testkit::status_kib("self", key)
}

/// Runs `f`, returning its wall time and the peak RSS increase over the RSS before it.
fn measured<T>(f: impl FnOnce() -> T) -> (T, Duration, u64) {
    let _ = std::fs::write("/proc/self/clear_refs", "5"); // resets VmHWM to the current RSS
    let before = status_kib("VmRSS:");
    let t = Instant::now();
    let out = f();
    let took = t.elapsed();
    (out, took, status_kib("VmHWM:").saturating_sub(before))
}

/// CPU seconds of this process (utime + stime) and of its waited-for children (cutime +
/// cstime), from /proc/self/stat (USER_HZ = 100).
fn cpu() -> (f64, f64) {
    cpu_of("self")
}

fn cpu_of(pid: &str) -> (f64, f64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    hvscope_parse::proc::pidstat::cpu_seconds_with_children(&s, true).unwrap_or((0.0, 0.0))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let lab = match OvsLab::start("ovsbench") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ovs_flows bench skipped: {e}");
            return;
        }
    };
    let br = "hvsbench";
    lab.add_bridge(br).unwrap();
    for (i, mac) in MACS.iter().enumerate() {
        let tap = format!("tb{}{}", std::process::id() % 100_000, i);
        lab.add_vm_port(br, &tap, i as u16 + 1, mac, &format!("vm-{i}"))
            .unwrap();
    }
    let file = lab.dir.join("flows.txt");
    std::fs::write(&file, flows(n)).unwrap();
    let t = Instant::now();
    lab.ofctl(br, "add-flows", &["--bundle", file.to_str().unwrap()])
        .unwrap();
    println!("loaded {n} flows with --bundle in {:.2?}", t.elapsed());

    let dump = lab.dir.join("dump.txt");
    let run_dump = |to_file: bool| {
        let out = if to_file {
            Stdio::from(std::fs::File::create(&dump).unwrap())
        } else {
            Stdio::null()
        };
        let t = Instant::now();
        let st = Command::new("ovs-ofctl")
            .args(["-O", "OpenFlow10,OpenFlow13", "dump-flows", &lab.mgmt(br)])
            .stdout(out)
            .status()
            .unwrap();
        assert!(st.success());
        t.elapsed()
    };
    let vswitchd = lab.vswitchd.child.id().to_string();
    let (c0, v0) = (cpu().1, cpu_of(&vswitchd).0);
    let dump_file = median((0..5).map(|_| run_dump(true)).collect());
    let dump_cpu = (cpu().1 - c0) / 5.0;
    let vswitchd_cpu = (cpu_of(&vswitchd).0 - v0) / 5.0;
    let dump_null = median((0..5).map(|_| run_dump(false)).collect());
    let bytes = std::fs::metadata(&dump).unwrap().len();

    let cfg: OvsConfig = toml::from_str(&format!(
        "bridges = ['{br}']\nowned_cookies = ['{OWNED}']\nmac_check_bridges = ['{br}']\n\
         flows_via = 'ofctl'\nofctl_timeout_ms = 30000\n[[rules]]\nname='flood'\nseverity='critical'\nactions_regex='(^|,)FLOOD(,|$)'"
    ))
    .unwrap();
    let sock = lab.rundir.join("db.sock");
    let reply = client::transact(&sock, &ovsdb::request(1), Duration::from_secs(5)).unwrap();
    let topo = ovsdb::decode_reply(&reply).unwrap();
    let row = topo.bridges.iter().find(|b| b.name == br).unwrap();
    let macs: HashSet<String> = row
        .interfaces
        .iter()
        .filter_map(|i| i.neutron.attached_mac.clone())
        .collect();
    let rules = Rules::compile(&cfg.rules).unwrap();
    let auditor = Auditor::new(row, &macs, &cfg, &rules);

    let parse = || -> FlowAudit {
        let mut audit = auditor.start();
        let mut s = FlowStream::new(BufReader::with_capacity(
            64 << 10,
            std::fs::File::open(&dump).unwrap(),
        ));
        while let Some(f) = s.next_flow() {
            match f {
                Ok(f) => auditor.observe(&mut audit, &f),
                Err(_) => audit.bad_lines += 1,
            }
        }
        audit
    };
    let mut times = vec![];
    let mut rss = 0;
    let mut audit = FlowAudit::default();
    let c0 = cpu().0;
    for _ in 0..5 {
        let (a, t, r) = measured(parse);
        (audit, rss) = (a, rss.max(r));
        times.push(t);
    }
    let parse_t = median(times);
    let parse_cpu = (cpu().0 - c0) / 5.0;
    // the parser alone, for the split between parsing and judging
    let c0 = cpu().0;
    for _ in 0..5 {
        let mut s = FlowStream::new(BufReader::with_capacity(
            64 << 10,
            std::fs::File::open(&dump).unwrap(),
        ));
        let mut n = 0u64;
        while let Some(f) = s.next_flow() {
            n += f.map_or(0, |f| f.priority as u64 & 1);
        }
        std::hint::black_box(n);
    }
    let parse_only_cpu = (cpu().0 - c0) / 5.0;
    assert_eq!(audit.flows as usize, n, "every flow parsed");
    assert_eq!(audit.bad_lines, 0);

    let root = HostRoot::new(&lab.root);
    let mut times = vec![];
    let mut rss_collect = 0;
    for _ in 0..5 {
        let mut errors = vec![];
        let (ovs, t, r) = measured(|| collect(&root, &cfg, &mut errors));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            ovs.unwrap().bridges[0].flows.as_ref().unwrap().flows as usize,
            n
        );
        rss_collect = rss_collect.max(r);
        times.push(t);
    }
    let collect_t = median(times);

    println!("flows: {n}, dump output {:.1} MB", bytes as f64 / 1e6);
    println!(
        "dirty found: missing_port {}, stale_cookie {}, unknown_mac {}",
        audit.missing_port.count, audit.stale_cookie.count, audit.unknown_mac.count
    );
    println!(
        "(a) ovs-ofctl dump-flows alone: {dump_file:.2?} to a file, {dump_null:.2?} to /dev/null (median of 5)"
    );
    println!(
        "(b) agent parse + checks on that output: {parse_t:.2?} = {:.1} % of (a) [target < 25 %], peak RSS +{} KiB [target < 4096]",
        100.0 * parse_t.as_secs_f64() / dump_file.as_secs_f64(),
        rss
    );
    println!(
        "CPU time per pass: dump {:.3}s (ovs-ofctl {dump_cpu:.3}s + ovs-vswitchd {vswitchd_cpu:.3}s), agent parse + checks {parse_cpu:.3}s = {:.1} % (parse alone {parse_only_cpu:.3}s)",
        dump_cpu + vswitchd_cpu,
        100.0 * parse_cpu / (dump_cpu + vswitchd_cpu).max(0.001)
    );
    println!(
        "load average: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "(c) agent OVS collection (OVSDB + dump piped into parse + checks): {collect_t:.2?}, peak RSS +{rss_collect} KiB"
    );
}
