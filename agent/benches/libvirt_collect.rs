//! Cost of the libvirt source on a synthetic host of 200 domains × 8 vCPUs (a fixture tree made
//! from the real capture's files, in a temp dir): CPU time of the first collection (every
//! status XML parsed), of steady-state collections (XML unchanged: cached), of one SLI sample,
//! and the process's peak RSS. Run: `cargo bench -p hvscope-agent --bench libvirt_collect`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use hvscope_agent::config::Config;
use hvscope_agent::io::HostRoot;
use hvscope_agent::snapshot::Collector;

const DOMAINS: u32 = 200;

/// The system allocator, counting allocations.
#[global_allocator]
static GLOBAL: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

/// Allocations and reallocations so far.
fn allocs() -> u64 {
    let s = GLOBAL.stats();
    (s.allocations + s.reallocations) as u64
}
const VCPUS: u32 = 8;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

/// Builds the tree from the real capture of instance-0000002a, renumbered.
fn build(root: &Path) {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/libvirt-kvm-2vm");
    let xml = std::fs::read_to_string(fx.join("run/libvirt/qemu/instance-0000002a.xml"))
        .expect("fixture");
    let thread_status =
        std::fs::read_to_string(fx.join("proc/25453/task/25461/status")).expect("fixture");
    let proc_status = std::fs::read_to_string(fx.join("proc/25453/status")).expect("fixture");
    let proc_stat = std::fs::read_to_string(fx.join("proc/25453/stat")).expect("fixture");
    let cgroup = std::fs::read_to_string(fx.join("proc/25453/cgroup")).expect("fixture");
    for f in ["proc/mounts", "proc/stat", "proc/meminfo", "proc/loadavg"] {
        write(
            root,
            f,
            &std::fs::read_to_string(fx.join(f)).expect("fixture"),
        );
    }
    for d in 0..DOMAINS {
        let pid = 100_000 + d * 100;
        let name = format!("instance-{d:08x}");
        let mut vcpus = String::new();
        let mut pins = String::new();
        for v in 0..VCPUS {
            let _ = write!(vcpus, "<vcpu id='{v}' pid='{}'/>", pid + 10 + v);
            let _ = write!(
                pins,
                "<vcpupin vcpu='{v}' cpuset='{}'/>",
                (d * VCPUS + v) % 128
            );
        }
        let x = xml
            .replace("pid='25453'", &format!("pid='{pid}'"))
            .replace(
                "<vcpu id='0' pid='25461'/>\n    <vcpu id='1' pid='25462'/>",
                &vcpus,
            )
            .replace("instance-0000002a", &name)
            .replace(
                "3b9f6d2e-8c41-4a7f-9e15-2d6c0a4b7f11",
                &format!("3b9f6d2e-8c41-4a7f-9e15-{d:012x}"),
            )
            .replace(
                "<vcpu placement='static'>2</vcpu>",
                &format!("<vcpu placement='static'>{VCPUS}</vcpu>"),
            )
            .replace(
                "<vcpupin vcpu='0' cpuset='0'/>\n      <vcpupin vcpu='1' cpuset='1'/>",
                &pins,
            );
        write(root, &format!("run/libvirt/qemu/{name}.xml"), &x);
        write(root, &format!("proc/{pid}/status"), &proc_status);
        write(root, &format!("proc/{pid}/stat"), &proc_stat);
        write(
            root,
            &format!("proc/{pid}/cgroup"),
            &cgroup.replace("instance-0000002a", &name),
        );
        let mut tids = vec![
            (pid, "qemu-system-x86".to_owned()),
            (pid + 1, "call_rcu".into()),
        ];
        tids.extend((0..VCPUS).map(|v| (pid + 10 + v, format!("CPU {v}/KVM"))));
        for (tid, comm) in tids {
            let t = format!("proc/{pid}/task/{tid}");
            write(root, &format!("{t}/comm"), &format!("{comm}\n"));
            write(
                root,
                &format!("{t}/status"),
                &thread_status.replace("CPU 0/KVM", &comm),
            );
            write(
                root,
                &format!("{t}/schedstat"),
                "6421645622 20924458163 6032\n",
            );
        }
    }
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("own stat");
    hvscope_parse::proc::pidstat::cpu_seconds(&stat).expect("own stat parses")
}

fn peak_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("own status");
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let dir = std::env::temp_dir().join(format!("hvscope-bench-lv-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    build(&dir);
    let rss_before = peak_rss_kib();
    let mut c = Collector::new(HostRoot::new(&dir), &Config::default());
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let snap = c.collect();
    assert_eq!(
        snap.libvirt.vms.len(),
        DOMAINS as usize,
        "{:?}",
        snap.errors.first()
    );
    let first = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu);

    const ROUNDS: u32 = 10;
    let (t, cpu) = (Instant::now(), cpu_seconds());
    for _ in 0..ROUNDS {
        let s = c.collect();
        assert_eq!(s.libvirt.vms.len(), DOMAINS as usize);
    }
    let steady = (
        t.elapsed().as_secs_f64() / ROUNDS as f64,
        (cpu_seconds() - cpu) / ROUNDS as f64,
    );

    c.sample_sli();
    let (t, cpu, n0) = (Instant::now(), cpu_seconds(), allocs());
    for _ in 0..ROUNDS {
        c.sample_sli();
    }
    let sli_allocs = (allocs() - n0) as f64 / ROUNDS as f64;
    let sli = (
        t.elapsed().as_secs_f64() / ROUNDS as f64,
        (cpu_seconds() - cpu) / ROUNDS as f64,
    );
    println!(
        "libvirt source, {DOMAINS} domains x {VCPUS} vCPUs (fixture tree, file reads):\n  \
         first collection (all XML parsed): {:.1} ms wall, {:.0} ms CPU\n  \
         steady collection (XML cached):    {:.1} ms wall, {:.0} ms CPU\n  \
         one SLI sample (vCPU schedstat + PSI): {:.1} ms wall, {:.0} ms CPU, \
         {:.1} us wall per VM, {sli_allocs:.1} allocations\n  \
         peak RSS {} KiB (before the source ran: {} KiB)",
        first.0 * 1e3,
        first.1 * 1e3,
        steady.0 * 1e3,
        steady.1 * 1e3,
        sli.0 * 1e3,
        sli.1 * 1e3,
        sli.0 / DOMAINS as f64 * 1e6,
        peak_rss_kib(),
        rss_before
    );
    let _ = std::fs::remove_dir_all(&dir);
}
