//! Cost of one iSCSI collection on a large node: a synthetic tree (same layout as the real guest
//! captures) with 512 sessions, each with a controller LUN and two disk LUNs (1024 block
//! devices, 1024 by-path links, 1024 diskstats lines) plus 256 multipath maps over pairs of
//! them. Prints wall and on-CPU time per cycle (on-CPU from `/proc/thread-self/schedstat`, ns)
//! and the number of findings and series, as a sanity check of what was read.
//!
//! Run: `cargo bench -p hvscope-agent --bench iscsi_collect`. Syscalls per cycle: run the bench
//! binary under `strace -f -c` with `ISCSI_BENCH_CYCLES=1` and then `=11`, and take the
//! difference / 10 (tree building is excluded that way).

use std::time::Instant;

use hvscope_agent::checks::iscsi::findings;
use hvscope_agent::host_root::HostRoot;
use hvscope_agent::series::SeriesBuf;
use hvscope_agent::sources::iscsi::testtree::{TestLun, TestTree};
use hvscope_agent::sources::iscsi::{IscsiConfig, collect, series::series};

const SESSIONS: u32 = 512;

fn on_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn build() -> TestTree {
    let mut t = TestTree::new("bench");
    for sid in 1..=SESSIONS {
        let (a, b) = (2 * sid - 2, 2 * sid - 1);
        let luns = [
            TestLun {
                lun: 0,
                block: None,
                state: "running",
            },
            TestLun::disk(1, &format!("sd{a}")),
            TestLun::disk(2, &format!("sd{b}")),
        ];
        let addr = format!("10.{}.{}.{}", sid / 256, sid % 256, 1);
        t.session(
            sid,
            &format!("iqn.2010-10.org.openstack:volume-{sid:08}"),
            &addr,
            "LOGGED_IN",
            "up",
            &luns,
        );
    }
    for n in 0..SESSIONS / 2 {
        // Each map over one disk of two different sessions.
        let (x, y) = (4 * n, 4 * n + 2);
        t.multipath(
            n,
            &format!("mpath{n}"),
            &[&format!("sd{x}"), &format!("sd{y}")],
        );
    }
    t
}

fn main() {
    let cycles: u32 = std::env::var("ISCSI_BENCH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let t0 = Instant::now();
    let tree = build();
    eprintln!("tree built in {:.1} s", t0.elapsed().as_secs_f64());
    let root = HostRoot::new(tree.root());
    let cfg = IscsiConfig::default();
    let (mut n_findings, mut n_series, mut n_sessions, mut n_stats) = (0, 0, 0, 0);
    let (cpu0, wall0) = (on_cpu_ns(), Instant::now());
    for _ in 0..cycles {
        let mut errors = Vec::new();
        let st = collect(&root, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let f = findings(&st, None, &cfg);
        let mut out = SeriesBuf::default();
        series(&st, &mut out);
        (n_findings, n_series) = (f.len(), out.samples.len());
        (n_sessions, n_stats) = (st.sessions.len(), st.diskstats.len());
    }
    let (cpu, wall) = (on_cpu_ns() - cpu0, wall0.elapsed());
    println!(
        "iscsi collection: {n_sessions} sessions, {n_stats} devices in diskstats, {n_series} series, \
         {n_findings} findings; per cycle over {cycles} cycles: on-CPU {:.2} ms, wall {:.2} ms \
         (read + checks + series)",
        cpu as f64 / 1e6 / f64::from(cycles),
        wall.as_secs_f64() * 1e3 / f64::from(cycles)
    );
}
