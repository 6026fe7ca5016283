//! Bad input at the edges: malformed configs, missing certificate files, an unreachable
//! aggregator. The binaries answer with one clear line or keep retrying; they never panic.

use std::process::Command;
use std::time::Duration;

use hvscope_e2e::Cluster;
use hvscope_testkit::{TempDir, bin, free_port, path_str, wait_for};

/// Runs `bin args`, expecting failure with exactly one line on stderr.
fn one_line_failure(bin_name: &str, args: &[&str]) -> String {
    let out = Command::new(bin(bin_name)).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{bin_name} {args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    assert!(err.starts_with(&format!("{bin_name}: ")), "{err}");
    err
}

#[test]
fn malformed_configs_give_one_clear_line() {
    let d = TempDir::new("badcfg");
    let cases = [
        ("syntax.toml", "aggregators = [\"a:1\"\n", "a:1"),
        ("type.toml", "interval_secs = \"ten\"\n", "interval_secs"),
        ("unknown.toml", "aggregatorz = []\n", "unknown field"),
        (
            "invalid.toml",
            "aggregators = [\"no-port\"]\n[tls]\nca='a'\ncert='b'\nkey='c'\n",
            "host:port",
        ),
    ];
    for (file, text, want) in cases {
        let p = d.join(file);
        std::fs::write(&p, text).unwrap();
        let err = one_line_failure("hvscope-agent", &["run", "--config", path_str(&p)]);
        assert!(err.contains(want) || err.contains(file), "{file}: {err}");
    }
    let err = one_line_failure(
        "hvscope-agent",
        &["run", "--config", "/nonexistent/agent.toml"],
    );
    assert!(err.contains("/nonexistent/agent.toml"), "{err}");

    let p = d.join("agg.toml");
    std::fs::write(&p, "[grpc]\nlisten = \"not an address\"\n").unwrap();
    let err = one_line_failure("hvscope-aggregator", &["serve", "--config", path_str(&p)]);
    assert!(err.contains("agg.toml"), "{err}");
}

#[test]
fn aggregator_without_its_certificate_files_says_which() {
    let d = TempDir::new("nocert");
    let p = d.join("agg.toml");
    std::fs::write(
        &p,
        format!(
            "[grpc]\nlisten = \"127.0.0.1:{}\"\n[http]\nlisten = \"127.0.0.1:{}\"\n\
             [tls]\nca = \"{0}/ca.pem\"\ncert = \"{0}/missing.pem\"\nkey = \"{0}/missing-key.pem\"\n",
            free_port(),
            free_port()
        )
        .replace("{0}", path_str(&d.0)),
    )
    .unwrap();
    let err = one_line_failure("hvscope-aggregator", &["serve", "--config", path_str(&p)]);
    assert!(
        err.contains("ca.pem") || err.contains("missing.pem"),
        "{err}"
    );
}

#[test]
fn aggregator_port_in_use_is_one_line() {
    let mut c = Cluster::new("portbusy");
    c.start_aggregator();
    let cfg = c.dir.join("aggregator.toml");
    let err = one_line_failure("hvscope-aggregator", &["serve", "--config", path_str(&cfg)]);
    assert!(err.contains("listen on 127.0.0.1:"), "{err}");
}

#[test]
fn agent_retries_missing_certificates_and_unreachable_aggregators() {
    let c = Cluster::new("retry");
    // No aggregator is running on c.grpc_port, and node-x's certificate does not exist yet.
    let cfg = c.agent_config("agent.toml", "node-x", "", "");
    let mut agent = c.start_agent(&cfg, "agent.log");
    let missing = wait_for(Duration::from_secs(10), || {
        let log = agent.log();
        (log.contains("node-x.pem") && log.contains("retry_in_ms")).then_some(())
    });
    assert!(missing.is_some(), "{}", agent.log());
    assert!(agent.alive(), "waits for the files instead of exiting");

    c.node_cert("node-x", 30);
    let unreachable = wait_for(Duration::from_secs(10), || {
        let log = agent.log();
        log.contains("connect to 127.0.0.1:").then_some(())
    });
    assert!(unreachable.is_some(), "{}", agent.log());
    assert!(agent.alive());
    assert!(!agent.log().contains("panicked"));
}

#[test]
fn agent_waits_a_bounded_time_for_its_configuration() {
    // Bounded: gives up with a clear error.
    let d = TempDir::new("waitcfg");
    let missing = d.join("later.toml");
    let t = std::time::Instant::now();
    let out = Command::new(bin("hvscope-agent"))
        .args([
            "run",
            "--config",
            path_str(&missing),
            "--wait-for-config-secs",
            "1",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(t.elapsed() >= Duration::from_secs(1), "waited");
    assert!(err.contains("waiting for configuration"), "{err}");
    assert!(
        err.trim_end()
            .lines()
            .last()
            .unwrap()
            .contains("later.toml"),
        "{err}"
    );

    // Provisioning writes the file while the agent waits: it starts streaming.
    let mut c = Cluster::new("waitcfg2");
    c.start_aggregator();
    c.node_cert("node-w", 30);
    let written = c.agent_config("written.toml", "node-w", "", "");
    let target = c.dir.join("agent.toml");
    let mut agent = hvscope_testkit::Proc::spawn(
        &bin("hvscope-agent"),
        &[
            "run",
            "--config",
            path_str(&target),
            "--wait-for-config-secs",
            "60",
        ],
        &[],
        c.dir.join("agent.log"),
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(agent.alive(), "still waiting: {}", agent.log());
    std::fs::rename(&written, &target).unwrap();
    let up = wait_for(Duration::from_secs(20), || {
        c.node("node-w", false).filter(|n| n["connected"] == true)
    });
    assert!(up.is_some(), "{}", agent.log());
}
