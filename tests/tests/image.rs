//! `image/build` produces an overlay with exactly the agent, its unit (enabled) and the default
//! configuration, owned by root with the right modes, and the agent in it is static.

use std::path::Path;
use std::process::Command;

use hvscope_testkit::{TempDir, elf_dynamic_facts, in_ci, musl_agent};

#[test]
fn overlay_has_exactly_the_expected_files() {
    if !musl_agent().exists() {
        let msg = "static agent not built (tests/run builds it)";
        assert!(!in_ci(), "{msg}");
        eprintln!("SKIPPED (not CI): {msg}");
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = TempDir::new("image");
    let st = Command::new(repo.join("image/build"))
        .arg(&out.0)
        .env("NO_BUILD", "1")
        .status()
        .unwrap();
    assert!(st.success());
    let overlay = out.join("hvscope-agent-overlay.cpio.gz");
    let listing = Command::new("sh")
        .arg("-c")
        .arg(format!("zcat {} | cpio -itv --quiet", overlay.display()))
        .output()
        .unwrap();
    assert!(
        listing.status.success(),
        "{}",
        String::from_utf8_lossy(&listing.stderr)
    );
    let mut entries: Vec<(String, String, String)> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // mode links owner group size month day year name [-> target]
            (
                f[8].to_owned(),
                f[0].to_owned(),
                format!("{}:{}", f[2], f[3]),
            )
        })
        .collect();
    entries.sort();
    let files: Vec<(&str, &str)> = entries
        .iter()
        .filter(|(_, mode, _)| !mode.starts_with('d'))
        .map(|(n, m, _)| (n.as_str(), m.as_str()))
        .collect();
    assert_eq!(
        files,
        vec![
            ("etc/hvscope/agent.toml", "-rw-r--r--"),
            (
                "etc/systemd/system/multi-user.target.wants/hvscope-agent.service",
                "lrwxrwxrwx"
            ),
            ("usr/bin/hvscope-agent", "-rwxr-xr-x"),
            ("usr/lib/systemd/system/hvscope-agent.service", "-rw-r--r--"),
        ]
    );
    assert!(
        entries.iter().all(|(_, _, o)| o == "root:root"),
        "{entries:?}"
    );
    assert!(
        entries
            .iter()
            .filter(|(_, m, _)| m.starts_with('d'))
            .all(|(_, m, _)| m == "drwxr-xr-x"),
        "{entries:?}"
    );

    // The binary inside is the static one.
    let x = TempDir::new("image-x");
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd {} && zcat {} | cpio -id --quiet usr/bin/hvscope-agent",
            x.0.display(),
            overlay.display()
        ))
        .status()
        .unwrap();
    assert!(st.success());
    let bytes = std::fs::read(x.join("usr/bin/hvscope-agent")).unwrap();
    assert_eq!(elf_dynamic_facts(&bytes), (false, 0));
    // The default configuration is one the agent accepts.
    let cfg = repo.join("image/agent.toml");
    let out = Command::new(hvscope_testkit::bin("hvscope-agent"))
        .args(["snapshot", "--format", "prometheus", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
