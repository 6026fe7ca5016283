//! Malformed input, ours against procfs-core: each format's real capture made empty, truncated
//! (to its first word, inside its first record, and at half the file), non-numeric and with a
//! number past `u64::MAX` (or past it once scaled). Our parsers must return an error for the
//! empty, non-numeric and huge cases (where they read that number) and never panic on any; a
//! truncated file may still give a value (each parser reads only the fields it uses, and a
//! line-oriented file cut between lines is a shorter file). What procfs-core does (error, a
//! value, or a panic) is printed as a table (`cargo test -p hvscope-parse --test procfs_core_malformed
//! -- --nocapture`) and its panics are counted: the reason the hot path keeps its own parsers.
//! This file is its own test binary because it silences the panic hook while it runs.

use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};

use hvscope_parse::cgroup::parse_proc_cgroup;
use hvscope_parse::proc::{
    loadavg, meminfo, mounts, pidstat, pidstatus, pressure, schedstat, stat, vmstat,
};
use procfs_core::{ExplicitSystemInfo, FromBufRead, FromBufReadSI, FromRead};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Error,
    Value,
    Panic,
}

fn run<T, E: Debug>(f: impl FnOnce() -> Result<T, E>) -> Outcome {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(_)) => Outcome::Value,
        Ok(Err(_)) => Outcome::Error,
        Err(_) => Outcome::Panic,
    }
}

type Parse = fn(&str) -> Outcome;

struct Format {
    name: &'static str,
    file: &'static str,
    ours: Parse,
    theirs: Parse,
    /// Replaces the first number of the first record with garbage (non-numeric) or a huge value.
    field: fn(&str, &str) -> String,
    /// Whether our parser reads that number (the mount table's dump and pass fields are not).
    reads_number: bool,
    /// Whether that number is in kB, scaled to bytes by both parsers.
    in_kb: bool,
}

/// `text` with its first token that is all digits (a whole word, or the value after `=` or `:`)
/// replaced by `with`.
fn replace_number(text: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len() + with.len());
    let mut done = false;
    for line in text.split_inclusive('\n') {
        if done {
            out.push_str(line);
            continue;
        }
        let mut rebuilt = String::new();
        let mut rest = line;
        while let Some(i) = rest.find(|c: char| c.is_ascii_digit()) {
            let (before, from) = rest.split_at(i);
            let end = from
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(from.len());
            let starts_token = before
                .chars()
                .last()
                .is_none_or(|c| c.is_whitespace() || c == '=' || c == ':');
            let ends_token = from[end..]
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || c == '/');
            rebuilt.push_str(before);
            if starts_token && ends_token && !done {
                rebuilt.push_str(with);
                done = true;
            } else {
                rebuilt.push_str(&from[..end]);
            }
            rest = &from[end..];
        }
        rebuilt.push_str(rest);
        out.push_str(&rebuilt);
    }
    out
}

fn formats() -> Vec<Format> {
    vec![
        Format {
            name: "stat",
            file: "stat",
            ours: |t| run(|| stat::parse(t)),
            theirs: |t| run(|| procfs_core::KernelStats::from_buf_read(t.as_bytes(), &SYSTEM)),
            field: replace_number,
            reads_number: true,
            in_kb: false,
        },
        Format {
            name: "meminfo",
            file: "meminfo",
            ours: |t| run(|| meminfo::parse(t)),
            theirs: |t| run(|| procfs_core::Meminfo::from_buf_read(t.as_bytes())),
            field: replace_number,
            reads_number: true,
            in_kb: true,
        },
        Format {
            name: "loadavg",
            file: "loadavg",
            ours: |t| run(|| loadavg::parse(t)),
            theirs: |t| run(|| procfs_core::LoadAverage::from_read(t.as_bytes())),
            // The first number is a load average (a float): garble the runnable count instead.
            field: |t, with| {
                let mut f: Vec<&str> = t.split(' ').collect();
                let (_, max) = f[3].split_once('/').unwrap();
                let runnable = format!("{with}/{max}");
                f[3] = &runnable;
                f.join(" ")
            },
            reads_number: true,
            in_kb: false,
        },
        Format {
            name: "vmstat",
            file: "vmstat",
            ours: |t| run(|| vmstat::parse(t)),
            theirs: |t| run(|| procfs_core::VmStat::from_buf_read(t.as_bytes())),
            field: replace_number,
            reads_number: true,
            in_kb: false,
        },
        Format {
            name: "pressure",
            file: "pressure/io",
            ours: |t| run(|| pressure::parse(t)),
            theirs: |t| run(|| procfs_core::IoPressure::from_buf_read(t.as_bytes())),
            // `total=` is the integer field.
            field: |t, with| {
                let i = t.find("total=").unwrap() + "total=".len();
                let end = t[i..].find(char::is_whitespace).map_or(t.len(), |e| i + e);
                format!("{}{with}{}", &t[..i], &t[end..])
            },
            reads_number: true,
            in_kb: false,
        },
        Format {
            name: "mounts",
            file: "mounts",
            ours: |t| run(|| mounts::parse(t)),
            theirs: |t| run(|| Vec::<procfs_core::MountEntry>::from_buf_read(t.as_bytes())),
            // The dump frequency (5th field) is the first number.
            field: |t, with| {
                let (first, rest) = t.split_once('\n').unwrap();
                let mut f: Vec<&str> = first.split(' ').collect();
                f[4] = with;
                format!("{}\n{rest}", f.join(" "))
            },
            reads_number: false,
            in_kb: false,
        },
        Format {
            name: "<pid>/stat",
            file: "25453/task/25461/stat",
            ours: |t| {
                run(|| {
                    pidstat::cpu_seconds(t)?;
                    pidstat::counts(t)
                })
            },
            theirs: |t| run(|| procfs_core::process::Stat::from_read(t.as_bytes())),
            // utime (field 14).
            field: |t, with| {
                let (head, rest) = t.rsplit_once(')').unwrap();
                let mut f: Vec<&str> = rest.split(' ').collect();
                f[12] = with;
                format!("{head}){}", f.join(" "))
            },
            reads_number: true,
            in_kb: false,
        },
        Format {
            name: "<pid>/status",
            file: "25453/status",
            ours: |t| run(|| pidstatus::parse(t)),
            theirs: |t| run(|| procfs_core::process::Status::from_buf_read(t.as_bytes())),
            // VmRSS, which both read.
            field: |t, with| {
                let i = t.find("VmRSS:").unwrap();
                let line_end = i + t[i..].find('\n').unwrap();
                format!("{}VmRSS:\t{with} kB{}", &t[..i], &t[line_end..])
            },
            reads_number: true,
            in_kb: true,
        },
        Format {
            name: "schedstat",
            file: "25453/task/25461/schedstat",
            ours: |t| run(|| schedstat::parse(t)),
            theirs: |t| run(|| procfs_core::process::Schedstat::from_read(t.as_bytes())),
            field: replace_number,
            reads_number: true,
            in_kb: false,
        },
        Format {
            name: "<pid>/cgroup",
            file: "25453/cgroup",
            ours: |t| run(|| parse_proc_cgroup(t)),
            theirs: |t| run(|| procfs_core::ProcessCGroups::from_buf_read(t.as_bytes())),
            field: |t, with| format!("{with}{}", &t[t.find(':').unwrap()..]),
            reads_number: true,
            in_kb: false,
        },
    ]
}

/// How many variants [`variants`] makes of each capture.
const CASES: usize = 7;

/// The malformed variants of a capture, by name.
fn variants(f: &Format, real: &str) -> Vec<(&'static str, String)> {
    let first_line = real.lines().next().unwrap_or("");
    let mid_first = &first_line[..first_line.len() / 2];
    let mut half = real.len() / 2;
    while !real.is_char_boundary(half) {
        half -= 1;
    }
    // The first word (a process stat line: up to its comm's closing parenthesis).
    let word_end = match first_line.rfind(')') {
        Some(close) => close + 1,
        None => first_line
            .find(char::is_whitespace)
            .unwrap_or(first_line.len()),
    };
    vec![
        ("empty", String::new()),
        ("first word only", first_line[..word_end].to_owned()),
        ("truncated in record 1", mid_first.to_owned()),
        ("truncated at half", real[..half].to_owned()),
        ("non-numeric", (f.field)(real, "x7")),
        ("> u64::MAX", (f.field)(real, "99999999999999999999")),
        // Fits in u64, overflows once a kB value is scaled to bytes.
        ("u64::MAX (x1024)", (f.field)(real, "18446744073709551615")),
    ]
}

#[test]
fn ours_error_where_procfs_core_panics_or_guesses() {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut rows = Vec::new();
    for f in formats() {
        let real = std::fs::read_to_string(format!("{FX}{}", f.file)).unwrap();
        assert_eq!((f.ours)(&real), Outcome::Value, "{}: the capture", f.name);
        assert_eq!((f.theirs)(&real), Outcome::Value, "{}: the capture", f.name);
        let cases = variants(&f, &real);
        assert_eq!(cases.len(), CASES);
        for (case, text) in cases {
            assert_ne!(text, real, "{} {case}: not malformed", f.name);
            rows.push((f.name, case, (f.ours)(&text), (f.theirs)(&text)));
        }
    }
    std::panic::set_hook(hook);

    println!("| format | input | ours | procfs-core |\n|---|---|---|---|");
    for (name, case, ours, theirs) in &rows {
        println!("| {name} | {case} | {ours:?} | {theirs:?} |");
    }
    let count = |pick: fn(&(&str, &str, Outcome, Outcome)) -> Outcome, o| {
        rows.iter().filter(|r| pick(r) == o).count()
    };
    println!(
        "{} cases. ours: {} errors, {} values, {} panics; procfs-core: {} errors, {} values, {} panics \
         (debug assertions {})",
        rows.len(),
        count(|r| r.2, Outcome::Error),
        count(|r| r.2, Outcome::Value),
        count(|r| r.2, Outcome::Panic),
        count(|r| r.3, Outcome::Error),
        count(|r| r.3, Outcome::Value),
        count(|r| r.3, Outcome::Panic),
        if cfg!(debug_assertions) { "on" } else { "off" },
    );

    for (f, (name, case, ours, _)) in formats()
        .iter()
        .flat_map(|f| std::iter::repeat_n(f, CASES))
        .zip(&rows)
    {
        assert_ne!(*ours, Outcome::Panic, "{name} {case}: ours panicked");
        let must_fail = match *case {
            "empty" => true,
            "non-numeric" | "> u64::MAX" => f.reads_number,
            "u64::MAX (x1024)" => f.in_kb,
            _ => false,
        };
        if must_fail {
            assert_eq!(*ours, Outcome::Error, "{name} {case}: ours accepted it");
        }
    }
    assert!(
        count(|r| r.3, Outcome::Panic) > 0,
        "procfs-core no longer panics on any of these: update the note on why the hot path \
         keeps its own parsers"
    );
}
