//! `hvscope-demo` (the README's first command): with nothing prepared it brings up an aggregator
//! and two real agents, one on this machine and one on the bundled sample hypervisor; both
//! connect and stream, the sample's findings are printed with their exact subjects, the fleet page
//! and the findings API answer at the printed URL (over HTTPS with `--https`, trusting the printed
//! CA), and what it prints is true of this build (remote-read served, no source announced as
//! "not collected").

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hvscope_e2e::https::https_get;
use hvscope_testkit::browser::{Browser, artifacts_dir};
use hvscope_testkit::{bin, http_get};

/// Runs the demo for `secs` with `args`; calls `during` with the lines printed so far once the
/// sample's drift finding is out (the demo still running), then returns everything printed.
fn run_demo(args: &[&str], secs: u64, during: impl FnOnce(&str)) -> String {
    let mut child = Command::new(bin("hvscope-demo"))
        .args(["--duration-secs", &secs.to_string()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hvscope-demo");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut text = String::new();
    let mut during = Some(during);
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(secs + 30)) {
        text.push_str(&line);
        text.push('\n');
        if line.contains("OPEN  critical pinning.affinity_drift     demo-sample")
            && let Some(f) = during.take()
        {
            f(&text);
        }
    }
    let out = child.wait_with_output().expect("wait for hvscope-demo");
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        during.is_none(),
        "the sample's drift finding never opened:\n{text}"
    );
    text
}

/// The value after `prefix` on the line that starts with it.
fn after<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in\n{text}"))
        .trim()
}

fn addr_of(url: &str) -> SocketAddr {
    let rest = url.split_once("://").unwrap().1;
    rest.trim_end_matches('/').parse().unwrap()
}

/// The demo's fleet page in Chromium, the sample's detail open: saved as a test artefact.
fn screenshot(page: &str) {
    let Some(mut b) = Browser::launch(false) else {
        return;
    };
    assert_eq!(b.goto(&format!("{page}?refresh_ms=500")).unwrap(), 200);
    b.wait(
        "document.querySelector('tr.finding[data-check=\"pinning.affinity_drift\"][data-node=\"demo-sample\"]')",
        10_000,
    )
    .unwrap();
    b.click(".node[data-node=\"demo-sample\"]").unwrap();
    b.wait(
        "document.querySelectorAll('#detail tr[data-domain]').length === 2",
        10_000,
    )
    .unwrap();
    let shot = artifacts_dir().join("demo-fleet-page.png");
    b.screenshot(&shot).unwrap();
    println!("screenshot: {}", shot.display());
}

fn common(stdout: &str) {
    for node in ["demo-node", "demo-sample"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(&format!("node={node} connected=true"))),
            "{stdout}"
        );
    }
    // The sample's findings, one line each, with their subjects.
    let drift = stdout
        .lines()
        .find(|l| l.contains("OPEN  critical pinning.affinity_drift     demo-sample"))
        .unwrap();
    assert!(
        drift.contains("domain_name=instance-0000002a")
            && drift.contains("domain_uuid=3b9f6d2e-8c41-4a7f-9e15-2d6c0a4b7f11")
            && drift.contains("vcpu=0"),
        "{drift}"
    );
    assert!(
        stdout.lines().any(|l| l.contains("iscsi.session_down")
            && l.contains("demo-sample")
            && l.contains("session=session2")),
        "{stdout}"
    );
    assert!(stdout.contains("throw-away certificates in /"), "{stdout}");
    assert!(stdout.contains("/api/v1/read"), "{stdout}");
    assert!(
        stdout.contains("prometheus.yml (ready to use):"),
        "{stdout}"
    );
    assert!(!stdout.contains("not collected"), "{stdout}");
    assert!(!stdout.contains("once the storage"), "{stdout}");
    // No OVS finding from the sample: it holds no OVS, and none is faked.
    assert!(
        !stdout
            .lines()
            .any(|l| l.contains(" ovs.") && l.contains("demo-sample")),
        "{stdout}"
    );
}

#[test]
fn demo_streams_this_machine_and_the_sample_and_says_how_to_read_it() {
    let stdout = run_demo(&[], 12, |text| {
        let page = after(text, "fleet page:");
        assert!(page.starts_with("http://127.0.0.1:"), "{page}");
        let addr = addr_of(page);
        let (status, body) = http_get(addr, "/").unwrap();
        assert_eq!(status, 200);
        assert!(body.contains("<title>hvscope fleet</title>"), "{body}");
        let (status, body) =
            http_get(addr, "/api/v1/findings?node=demo-sample&check=pinning.").unwrap();
        assert_eq!(status, 200);
        assert!(
            body.contains("\"domain_name\":\"instance-0000002a\""),
            "{body}"
        );
        screenshot(page);
    });
    common(&stdout);
    assert!(
        stdout.contains("remote_read:\n    - url: http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(stdout.contains("`--https` serves it over TLS"), "{stdout}");
}

#[test]
fn demo_over_https_prints_the_tls_setup_that_works() {
    let stdout = run_demo(&["--https"], 8, |text| {
        let page = after(text, "fleet page:");
        assert!(page.starts_with("https://127.0.0.1:"), "{page}");
        let dir = PathBuf::from(
            after(text, "hvscope demo: throw-away certificates in")
                .trim_end_matches(" (removed on exit):"),
        );
        let ca = dir.join("ca.pem");
        let (status, body) = https_get(addr_of(page), "/api/v1/findings", &ca, None, &[]).unwrap();
        assert_eq!(status, 200);
        assert!(body.contains("\"node\":\"demo-sample\""), "{body}");
        assert!(
            text.contains(&format!("ca_file: {}", ca.display())),
            "{text}"
        );
    });
    common(&stdout);
    assert!(
        stdout.contains("remote_read:\n    - url: https://127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("      tls_config:\n        ca_file: /"),
        "{stdout}"
    );
}
