//! Cost of one iSCSI collection on a large node: a synthetic tree (same layout as the real guest
//! captures) with 512 sessions, each with a controller LUN and two disk LUNs (1024 block
//! devices, 1024 by-path links, 1024 diskstats lines) plus 256 multipath maps over pairs of
//! them. One [`IscsiSource`] collects `ISCSI_BENCH_CYCLES` times (default 50), as the daemon
//! does, starting 2.5 s after the tree was written (a steady node's directories are older than
//! the 2 s below which a listing is not trusted): the first (cold) cycle walks everything, the
//! others are steady (each re-reads its share of the sessions completely, about one in
//! `REFRESH` period (30 cycles), and its share of the other safety-net re-reads). Prints on-CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`; a running thread's schedstat only advances at scheduler ticks,
//! 4 ms apart on an idle machine) of the cold cycle and of the steady ones (median, mean, p90,
//! max and the cycle it was in; the mean includes the safety-net re-reads), for the collection
//! alone, with checks and series, with what the daemon then does to the series (registry ids
//! assigned, a static label in their definitions), and with freeing the cycle's state, findings
//! and series; then how many sessions the steady cycles read completely (mean, max), and the
//! number of findings and series, as a sanity check of what was read. The second cycle is the
//! first with rates: it registers their 3840 series. `ISCSI_BENCH_ONESHOT=1` collects with the
//! one-shot [`collect`] every cycle instead (no state kept: every cycle is cold).
//!
//! Run: `cargo bench -p hvscope-agent --bench iscsi_collect`. Syscalls: run the bench binary
//! under `strace -f -c` with `ISCSI_BENCH_CYCLES=0`, `=1`, `=31` and `=61`: cold = (1) - (0),
//! steady per cycle = ((61) - (31)) / 30, one refresh period, so that the safety-net
//! re-reads count in full (tree building is excluded that way).

use std::time::Instant;

use hvscope_agent::checks::iscsi::findings;
use hvscope_agent::io::{FdBudget, HostRoot};
use hvscope_agent::series::{Registry, SeriesBuf};
use hvscope_agent::sources::iscsi::{IscsiConfig, IscsiSource, collect, series::series};
use hvscope_agent::sources::proc::files::DiskstatsFile;

// The tests' synthetic initiator trees (test-only in the library, hence included here).
#[path = "../src/sources/iscsi/testtree.rs"]
mod testtree;
use testtree::{TestLun, TestTree};

const SESSIONS: u32 = 512;

fn on_cpu_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .expect("clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec()).unwrap_or(0)
}

fn build() -> TestTree {
    let mut t = TestTree::new("bench");
    for sid in 1..=SESSIONS {
        let (a, b) = (2 * sid - 2, 2 * sid - 1);
        let luns = [
            TestLun::controller(0),
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
    let oneshot = std::env::var_os("ISCSI_BENCH_ONESHOT").is_some();
    let t0 = Instant::now();
    let tree = build();
    eprintln!("tree built in {:.1} s", t0.elapsed().as_secs_f64());
    // The source does not trust a directory listing (`dev/disk/by-path`) changed less than 2 s
    // ago (coarse mtimes); a node's tree is older than that, so let the fresh one age (wall
    // time, no CPU) rather than measure re-listings a steady node does not do.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let root = HostRoot::new(tree.root());
    let cfg = IscsiConfig::default();
    let mut source = IscsiSource::new();
    let fds = FdBudget::for_process();
    // `proc/diskstats`, read once per collection (by the collector in the daemon): part of
    // the iSCSI collection measured here, as it was when the source read the file itself.
    let mut disks = DiskstatsFile::default();
    let (mut n_findings, mut n_series, mut n_sessions, mut n_stats, mut n_rates) = (0, 0, 0, 0, 0);
    let (mut read_ns, mut all_ns, mut wire_ns) = (Vec::new(), Vec::new(), Vec::new());
    let mut dropped_ns = Vec::new();
    let mut complete_reads = Vec::new();
    let mut registry = Registry::with_static_labels([("rack", "bench")]);
    // Kept from cycle to cycle and recycled, as `run.rs` does (label sets reused by position).
    let mut out = SeriesBuf::default();
    for seq in 0..cycles {
        let cpu0 = on_cpu_ns();
        let mut errors = Vec::new();
        let st = if oneshot {
            collect(&root, &mut errors)
        } else {
            let d = disks.read(&root, &fds);
            source.read(&root, &fds, d, &mut errors)
        };
        let cpu1 = on_cpu_ns();
        assert!(errors.is_empty(), "{errors:?}");
        let f = findings(&st, None, &cfg);
        out.recycle();
        series(&st, &mut out);
        read_ns.push(cpu1 - cpu0);
        all_ns.push(on_cpu_ns() - cpu0);
        // What the daemon does next with the series (`run.rs`): ids, with a static label in
        // the definitions.
        let ids = registry.assign(&out, u64::from(seq));
        wire_ns.push(on_cpu_ns() - cpu0);
        assert_eq!(ids.len(), out.samples.len());
        (n_findings, n_series) = (f.len(), out.samples.len());
        (n_sessions, n_stats, n_rates) = (st.sessions.len(), st.diskstats.len(), st.rates.len());
        // And what it frees once the batch is built.
        drop((st, f, ids));
        dropped_ns.push(on_cpu_ns() - cpu0);
        complete_reads.push(source.complete_reads());
    }
    println!(
        "iscsi collection ({}): {n_sessions} sessions, {n_stats} devices in diskstats, {n_rates} \
         with rates, {n_series} series, {n_findings} findings, {} attribute files open",
        if oneshot { "one-shot" } else { "IscsiSource" },
        source.open_files()
    );
    for (what, v) in [
        ("collect", &read_ns),
        ("collect + checks + series", &all_ns),
        ("... + static labels + registry ids", &wire_ns),
        ("... + freeing the cycle's state and series", &dropped_ns),
    ] {
        let Some((&cold, steady)) = v.split_first() else {
            continue;
        };
        let mut s = steady.to_vec();
        s.sort_unstable();
        let ms = |ns: u64| ns as f64 / 1e6;
        let mean = if s.is_empty() {
            0.0
        } else {
            ms(s.iter().sum::<u64>()) / s.len() as f64
        };
        // Steady cycles are numbered from 1 (the cold one is 0).
        let worst = steady
            .iter()
            .enumerate()
            .max_by_key(|(_, ns)| **ns)
            .map_or(0, |(i, _)| i + 1);
        println!(
            "  {what}: on-CPU cold {:.2} ms; steady over {} cycles: median {:.2} ms, mean {:.2} ms, \
             p90 {:.2} ms, max {:.2} ms (cycle {worst})",
            ms(cold),
            s.len(),
            ms(s.get(s.len() / 2).copied().unwrap_or(0)),
            mean,
            ms(s.get(s.len() * 9 / 10).copied().unwrap_or(0)),
            ms(s.last().copied().unwrap_or(0)),
        );
    }
    if let Some((_, steady)) = complete_reads.split_first()
        && !steady.is_empty()
    {
        println!(
            "  sessions read completely per steady cycle: mean {:.1}, max {}",
            steady.iter().sum::<usize>() as f64 / steady.len() as f64,
            steady.iter().max().copied().unwrap_or(0)
        );
    }
}
