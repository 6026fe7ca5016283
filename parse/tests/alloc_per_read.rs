//! Heap allocations of one parse, ours against procfs-core, for the files every collection
//! reads: `/proc/stat`, `/proc/meminfo`, a thread's `stat` (once per vCPU per collection) and
//! the other host-wide and per-thread files. Both parse text already in memory (procfs-core
//! from a `&[u8]` reader, its only entry), so the read itself is left out. Counted with a
//! counting global allocator, as the minimum over a few runs (this file is its own test binary
//! with a single test, so nothing else allocates meanwhile). Prints a table
//! (`cargo test -p hvscope-parse --test alloc_per_read -- --nocapture`).

use std::alloc::System;

use hvscope_parse::proc::{
    loadavg, meminfo, pidstat, pidstatus, pressure, schedstat, stat, vmstat,
};
use procfs_core::{ExplicitSystemInfo, FromBufRead, FromBufReadSI, FromRead};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const FX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../agent/tests/fixtures/libvirt-kvm-2vm/proc/"
);

const SYSTEM: ExplicitSystemInfo = ExplicitSystemInfo {
    boot_time_secs: 0,
    ticks_per_second: 100,
    page_size: 4096,
    is_little_endian: true,
};

/// (allocations + reallocations, bytes allocated) of the cheapest of five runs of `f`.
fn measure(f: &dyn Fn()) -> (usize, usize) {
    (0..5)
        .map(|_| {
            let region = Region::new(GLOBAL);
            f();
            let c = region.change();
            (
                c.allocations + c.reallocations,
                c.bytes_allocated + c.bytes_reallocated.max(0) as usize,
            )
        })
        .min()
        .unwrap()
}

struct Row {
    file: String,
    ours: (usize, usize),
    theirs: (usize, usize),
}

fn row(file: &str, text: &str, ours: fn(&str), theirs: fn(&str)) -> Row {
    // Both must parse it, or the count means nothing.
    ours(text);
    theirs(text);
    Row {
        file: file.to_owned(),
        ours: measure(&|| ours(text)),
        theirs: measure(&|| theirs(text)),
    }
}

fn rows(source: &str, read: &dyn Fn(&str) -> String, thread: &str) -> Vec<Row> {
    let r = |rel: &str| read(rel);
    vec![
        row(
            &format!("{source} stat"),
            &r("stat"),
            |t| {
                std::hint::black_box(stat::parse(t).unwrap());
            },
            |t| {
                std::hint::black_box(
                    procfs_core::KernelStats::from_buf_read(t.as_bytes(), &SYSTEM).unwrap(),
                );
            },
        ),
        row(
            &format!("{source} meminfo"),
            &r("meminfo"),
            |t| {
                std::hint::black_box(meminfo::parse(t).unwrap());
            },
            |t| {
                std::hint::black_box(procfs_core::Meminfo::from_buf_read(t.as_bytes()).unwrap());
            },
        ),
        row(
            &format!("{source} {thread}/stat, CPU time"),
            &r(&format!("{thread}/stat")),
            |t| {
                std::hint::black_box(pidstat::cpu_seconds(t).unwrap());
            },
            |t| {
                std::hint::black_box(procfs_core::process::Stat::from_read(t.as_bytes()).unwrap());
            },
        ),
        row(
            &format!("{source} {thread}/schedstat"),
            &r(&format!("{thread}/schedstat")),
            |t| {
                std::hint::black_box(schedstat::parse(t).unwrap());
            },
            |t| {
                std::hint::black_box(
                    procfs_core::process::Schedstat::from_read(t.as_bytes()).unwrap(),
                );
            },
        ),
        row(
            &format!("{source} {thread}/status"),
            &r(&format!("{thread}/status")),
            |t| {
                std::hint::black_box(pidstatus::parse(t).unwrap());
            },
            |t| {
                std::hint::black_box(
                    procfs_core::process::Status::from_buf_read(t.as_bytes()).unwrap(),
                );
            },
        ),
        row(
            &format!("{source} loadavg"),
            &r("loadavg"),
            |t| {
                std::hint::black_box(loadavg::parse(t).unwrap());
            },
            |t| {
                std::hint::black_box(procfs_core::LoadAverage::from_read(t.as_bytes()).unwrap());
            },
        ),
        row(
            &format!("{source} pressure/io"),
            &r("pressure/io"),
            |t| {
                std::hint::black_box(pressure::parse(t).unwrap());
            },
            |t| {
                std::hint::black_box(procfs_core::IoPressure::from_buf_read(t.as_bytes()).unwrap());
            },
        ),
        row(
            &format!("{source} vmstat"),
            &r("vmstat"),
            |t| {
                std::hint::black_box(vmstat::parse(t).unwrap());
            },
            |t| {
                std::hint::black_box(procfs_core::VmStat::from_buf_read(t.as_bytes()).unwrap());
            },
        ),
    ]
}

#[test]
fn ours_allocate_less_per_read_than_procfs_core() {
    let mut all = rows(
        "fixture",
        &|rel| std::fs::read_to_string(format!("{FX}{rel}")).unwrap(),
        "25453/task/25461",
    );
    // A hypervisor has many CPUs: the fixture's stat with 64 `cpuN` lines.
    let real = std::fs::read_to_string(format!("{FX}stat")).unwrap();
    let cpu0 = real.lines().find(|l| l.starts_with("cpu0 ")).unwrap();
    let mut many = String::new();
    for l in real.lines() {
        if l.starts_with("cpu") && !l.starts_with("cpu ") {
            continue;
        }
        many.push_str(l);
        many.push('\n');
        if l.starts_with("cpu ") {
            for n in 0..64 {
                many.push_str(&cpu0.replacen("cpu0", &format!("cpu{n}"), 1));
                many.push('\n');
            }
        }
    }
    assert_eq!(stat::parse(&many).unwrap().per_cpu.len(), 64);
    all.push(row(
        "fixture stat, 64 CPUs",
        &many,
        |t| {
            std::hint::black_box(stat::parse(t).unwrap());
        },
        |t| {
            std::hint::black_box(
                procfs_core::KernelStats::from_buf_read(t.as_bytes(), &SYSTEM).unwrap(),
            );
        },
    ));
    if std::path::Path::new("/proc/pressure/io").exists() {
        all.extend(rows(
            "live",
            &|rel| std::fs::read_to_string(format!("/proc/{rel}")).unwrap(),
            "thread-self",
        ));
    } else {
        eprintln!("SKIPPED the live rows: no /proc/pressure on this kernel");
    }
    println!("| file | ours: allocations, bytes | procfs-core: allocations, bytes |");
    println!("|---|---|---|");
    for r in &all {
        println!(
            "| {} | {}, {} | {}, {} |",
            r.file, r.ours.0, r.ours.1, r.theirs.0, r.theirs.1
        );
    }
    for r in &all {
        assert!(
            r.ours.0 < r.theirs.0,
            "{}: {:?} vs {:?}",
            r.file,
            r.ours,
            r.theirs
        );
        if r.file.ends_with("stat, CPU time") || r.file.ends_with("schedstat") {
            assert_eq!(
                r.ours.0, 0,
                "{}: the per-vCPU files allocate nothing",
                r.file
            );
        }
    }
}
