//! The 1-s SLI sample costs what its reads cost: once the first samples have opened every file
//! and grown the buffers, a sample allocates nothing, whether or not the figures move (the
//! host's memory PSI moving makes the sampler read each VM cgroup's `memory.pressure` too).
//! One test in this binary, so the counting allocator sees this test's thread alone.

use std::path::{Path, PathBuf};

use hvscope_agent::config::Config;
use hvscope_agent::io::HostRoot;
use hvscope_agent::snapshot::Collector;

#[global_allocator]
static GLOBAL: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

fn allocations() -> usize {
    let s = GLOBAL.stats();
    s.allocations + s.reallocations
}

fn files_named(dir: &Path, name: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("fixture dir").flatten() {
        let p = e.path();
        if e.file_type().expect("type").is_dir() {
            files_named(&p, name, out);
        } else if p.file_name().is_some_and(|n| n == name) {
            out.push(p);
        }
    }
}

/// Moves every figure the sampler reads (written in place, as the kernel's files change).
fn advance(root: &Path, round: u64, schedstats: &[PathBuf], pressures: &[PathBuf]) {
    // 0.5 s of vCPU wait per round: starved at a 1-s sample interval.
    let wait = 20_924_458_163 + round * 500_000_000;
    for p in schedstats {
        std::fs::write(p, format!("6421645622 {wait} 6032\n")).expect("write");
    }
    let psi = |total: u64| {
        format!(
            "some avg10=0.00 avg60=0.00 avg300=0.00 total={total}\n\
             full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
        )
    };
    std::fs::write(root.join("proc/pressure/memory"), psi(round * 300_000)).expect("write");
    for p in pressures {
        std::fs::write(p, psi(round * 200_000)).expect("write");
    }
}

#[test]
fn a_steady_sli_sample_allocates_nothing() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/libvirt-kvm-2vm");
    let dir = hvscope_testkit::copy_dir(&fixture, "sli-alloc");
    let (mut schedstats, mut pressures) = (Vec::new(), Vec::new());
    files_named(&dir.join("proc"), "schedstat", &mut schedstats);
    files_named(
        &dir.join("sys/fs/cgroup"),
        "memory.pressure",
        &mut pressures,
    );
    assert!(!schedstats.is_empty() && !pressures.is_empty());

    let mut c = Collector::new(HostRoot::new(&dir), &Config::default());
    let snap = c.collect();
    assert_eq!(snap.libvirt.vms.len(), 2, "{:?}", snap.errors);
    // Warm-up: files opened, buffers and maps grown.
    for round in 0..3 {
        advance(&dir, round, &schedstats, &pressures);
        c.sample_sli();
    }
    let mut allocated = 0;
    for round in 3..13 {
        advance(&dir, round, &schedstats, &pressures);
        let before = allocations();
        c.sample_sli();
        allocated += allocations() - before;
    }
    assert_eq!(allocated, 0, "allocations in 10 steady SLI samples");

    // The samples were taken and counted: both VMs starved and memory-stalled every round.
    let snap = c.collect();
    assert_eq!(snap.sli.len(), 2);
    for (uuid, t) in &snap.sli {
        assert!(t.observed_seconds > 0.0, "{uuid}: {t:?}");
        assert_eq!(t.cpu_starved_seconds, t.observed_seconds, "{uuid}: {t:?}");
        assert_eq!(
            t.memory_stalled_seconds, t.observed_seconds,
            "{uuid}: {t:?}"
        );
    }

    // A host without memory PSI (a kernel booted with psi=0): found absent once, not looked
    // for every second; the VMs' own memory.pressure is then read every sample.
    std::fs::remove_file(dir.join("proc/pressure/memory")).expect("remove");
    c.sample_sli();
    let mut allocated = 0;
    for round in 13..23 {
        advance(&dir, round, &schedstats, &pressures);
        std::fs::remove_file(dir.join("proc/pressure/memory")).expect("remove");
        let before = allocations();
        c.sample_sli();
        allocated += allocations() - before;
    }
    assert_eq!(allocated, 0, "allocations in 10 samples without host PSI");
    let stalled = c
        .collect()
        .sli
        .values()
        .map(|t| t.memory_stalled_seconds)
        .sum::<f64>();
    assert!(stalled > 0.0, "VM memory stalls still counted: {stalled}");
    std::fs::remove_dir_all(&dir).expect("clean up");
}
