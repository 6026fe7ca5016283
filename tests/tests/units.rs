//! The systemd units pass `systemd-analyze verify` without a single warning, and the agent's
//! sandbox keeps its exposure (`systemd-analyze security --offline=yes`) at or below 2.5.

use std::path::{Path, PathBuf};
use std::process::Command;

use hvscope_testkit::{TempDir, in_ci, target_dir};

fn systemd_analyze() -> bool {
    let ok = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !in_ci(),
            "systemd-analyze is missing (Debian package systemd)"
        );
        eprintln!("SKIPPED (not CI): systemd-analyze is missing");
    }
    ok
}

/// A copy of `unit` whose ExecStart points at the freshly built binary (verify refuses units
/// whose binary does not exist).
fn localised(unit: &str, dir: &TempDir) -> PathBuf {
    let text = std::fs::read_to_string(hvscope_testkit::repo().join("systemd").join(unit)).unwrap();
    let bin = unit.trim_end_matches(".service");
    let text = text.replace(
        &format!("/usr/bin/{bin}"),
        target_dir().join(bin).to_str().unwrap(),
    );
    let p = dir.join(unit);
    std::fs::write(&p, text).unwrap();
    p
}

fn verify(unit: &Path) {
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(unit)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // verify exits 0 on unknown keys: every line it prints is a finding.
    assert!(out.status.success(), "verify failed: {err}{stdout}");
    let noise: Vec<&str> = err
        .lines()
        .chain(stdout.lines())
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(
        noise.is_empty(),
        "systemd-analyze verify warnings:\n{}",
        noise.join("\n")
    );
}

fn exposure(unit: &Path) -> f64 {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| {
            panic!(
                "no exposure line: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    line.split(':')
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("cannot parse {line:?}"))
}

#[test]
fn agent_unit_verifies_and_is_tightly_sandboxed() {
    if !systemd_analyze() {
        return;
    }
    let d = TempDir::new("units");
    let unit = localised("hvscope-agent.service", &d);
    verify(&unit);
    let e = exposure(&unit);
    eprintln!("hvscope-agent.service exposure {e}");
    assert!(e <= 2.5, "agent exposure {e} > 2.5");
    let text = std::fs::read_to_string(&unit).unwrap();
    for must in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=always",
        "MemoryMax=",
        "CPUQuota=",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "SystemCallFilter=@system-service",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
    ] {
        assert!(text.contains(must), "agent unit lacks {must}");
    }
}

#[test]
fn aggregator_unit_verifies() {
    if !systemd_analyze() {
        return;
    }
    let d = TempDir::new("units-agg");
    let unit = localised("hvscope-aggregator.service", &d);
    verify(&unit);
    let e = exposure(&unit);
    eprintln!("hvscope-aggregator.service exposure {e}");
    assert!(e <= 2.5, "aggregator exposure {e}");
    assert!(
        std::fs::read_to_string(&unit)
            .unwrap()
            .contains("StateDirectory=")
    );
}

#[test]
fn verify_catches_an_unknown_key() {
    if !systemd_analyze() {
        return;
    }
    let d = TempDir::new("units-bad");
    let unit = localised("hvscope-agent.service", &d);
    let text = std::fs::read_to_string(&unit)
        .unwrap()
        .replace("[Service]", "[Service]\nWatchDogSecs=5");
    std::fs::write(&unit, text).unwrap();
    let r = std::panic::catch_unwind(|| verify(&unit));
    assert!(r.is_err(), "an unknown key must fail verification");
}
