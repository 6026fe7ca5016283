//! `hvscope-demo` (the README's first command): with nothing prepared it brings up an aggregator
//! and the real agent on this machine, the node connects and streams, and what it prints is true
//! of this build (remote-read served, no source announced as "not collected").

use std::process::Command;

use hvscope_testkit::bin;

#[test]
fn demo_streams_this_machine_and_says_how_to_read_it() {
    let out = Command::new(bin("hvscope-demo"))
        .args(["--duration-secs", "8"])
        .output()
        .expect("run hvscope-demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("node=demo-node connected=true")),
        "{stdout}"
    );
    assert!(
        stdout.contains("remote_read:\n    - url: http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(stdout.contains("/api/v1/read"), "{stdout}");
    assert!(!stdout.contains("not collected"), "{stdout}");
    assert!(!stdout.contains("once the storage"), "{stdout}");
}
