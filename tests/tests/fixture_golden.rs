//! The agent's output on every fixture host root, compared with golden copies in
//! `tests/golden/`: `snapshot --format json` (typed data, findings, errors; compared as JSON
//! values, so key order does not matter; `timestamp_ms` is the only field left out) and
//! `snapshot --format prometheus` (the series, line for line). A refactoring must leave both
//! unchanged; a deliberate change of output rewrites the copies with `HVSCOPE_BLESS=1` and shows
//! up in the diff of the commit that makes it. Error messages name files below the fixture
//! root, so the repository's path is written `<repo>` in the copies (CI clones elsewhere).

use std::path::{Path, PathBuf};
use std::process::Command;

use hvscope_testkit::{bin, path_str, repo};

/// Every fixture that is a host root (the `ovs` fixture holds tool output, not a tree).
const FIXTURES: [&str; 5] = [
    "libvirt-kvm-2vm",
    "libvirt-kvm-2vm-drift",
    "iscsi-guest",
    "iscsi-guest-failed",
    "iscsi-guest-failed-timedout",
];

fn golden(name: &str) -> PathBuf {
    repo().join("tests/golden").join(name)
}

fn snapshot(root: &Path, format: &str) -> String {
    let o = Command::new(bin("hvscope-agent"))
        .args([
            "snapshot",
            "--host-root",
            path_str(root),
            "--format",
            format,
        ])
        .output()
        .expect("run hvscope-agent snapshot");
    assert!(
        o.status.success(),
        "snapshot --format {format} on {}: {}",
        root.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8(o.stdout).expect("utf-8 output");
    text.replace(path_str(&repo()), "<repo>")
}

fn bless() -> bool {
    std::env::var("HVSCOPE_BLESS").is_ok_and(|v| v == "1")
}

/// Compares `got` with the golden file `name`, or rewrites it when blessing.
fn compare(name: &str, got: &str, same: impl Fn(&str, &str) -> bool) {
    let path = golden(name);
    if bless() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (HVSCOPE_BLESS=1 writes it)", path.display()));
    if !same(&want, got) {
        let out = std::env::temp_dir().join(format!("hvscope-golden-{name}"));
        std::fs::write(&out, got).unwrap();
        panic!(
            "{name} differs from {}; this run's output is in {} (diff them)",
            path.display(),
            out.display()
        );
    }
}

fn json_without_timestamp(text: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(text).expect("snapshot json");
    let o = v.as_object_mut().expect("snapshot is an object");
    assert!(
        o.remove("timestamp_ms").is_some(),
        "snapshot has timestamp_ms"
    );
    v
}

#[test]
fn fixture_snapshots_equal_their_golden_copies() {
    for f in FIXTURES {
        let root = repo().join("agent/tests/fixtures").join(f);
        let json = snapshot(&root, "json");
        let v = json_without_timestamp(&json);
        let pretty = serde_json::to_string_pretty(&v).unwrap() + "\n";
        // Both sides are stored without `timestamp_ms`: compared as JSON values.
        compare(&format!("{f}.json"), &pretty, |want, got| {
            serde_json::from_str::<serde_json::Value>(want).expect("golden json")
                == serde_json::from_str::<serde_json::Value>(got).expect("json")
        });
        let prom = snapshot(&root, "prometheus");
        // The aggregator replaces a `node` label with the host's name: no series may carry one.
        for l in prom.lines().filter(|l| !l.starts_with('#')) {
            assert!(
                !l.contains("{node=") && !l.contains(",node="),
                "{f}: a series labelled node would collide at the aggregator: {l}"
            );
        }
        compare(&format!("{f}.prom"), &prom, |want, got| want == got);
    }
}

#[test]
fn golden_copies_hold_findings_and_series() {
    // The golden copies must themselves say something: a blessed empty output would make the
    // comparison above pass for an agent that reads nothing.
    let drift = std::fs::read_to_string(golden("libvirt-kvm-2vm-drift.json")).unwrap();
    assert!(
        drift.contains("pinning.affinity_drift"),
        "drift fixture finding"
    );
    let failed = std::fs::read_to_string(golden("iscsi-guest-failed.json")).unwrap();
    assert!(
        failed.contains("iscsi.session_down"),
        "failed session finding"
    );
    let prom = std::fs::read_to_string(golden("libvirt-kvm-2vm.prom")).unwrap();
    assert!(
        prom.lines()
            .filter(|l| l.starts_with("hvscope_vm_"))
            .count()
            > 10
    );
}
