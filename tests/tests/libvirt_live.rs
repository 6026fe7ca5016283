//! Live: libvirtd + real KVM (or TCG) domains with nova metadata and `<cputune>`, checked by the
//! real `hvscope-agent check` on this host. Clean → no pinning findings; a vCPU thread moved
//! behind libvirt's back → exactly one `pinning.affinity_drift`; two domains' dedicated vCPUs on
//! one CPU → exactly one `pinning.dedicated_overlap`; each restored → clear.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use hvscope_testkit::libvirt::{Libvirtd, sh, vcpu0_tid};
use hvscope_testkit::{bin, wait_for};

const A: (&str, &str) = ("hvscope-live-a", "0d6c5b4a-0000-4a7f-9e15-2d6c0a4b7f11");
const B: (&str, &str) = ("hvscope-live-b", "0d6c5b4a-0000-4d8b-b6a2-9c1e8f0d3a22");

/// Pinning findings of `hvscope-agent check --format json` on the live host.
fn pinning_findings() -> Vec<serde_json::Value> {
    let out = Command::new(bin("hvscope-agent"))
        .args(["check", "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"].as_str().unwrap().starts_with("pinning."))
        .cloned()
        .collect()
}

/// Waits until the pinning findings satisfy `ok` (libvirt applies changes asynchronously).
fn expect(what: &str, ok: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
    let mut last = vec![];
    let r = wait_for(Duration::from_secs(10), || {
        last = pinning_findings();
        ok(&last).then(|| last.clone())
    });
    r.unwrap_or_else(|| panic!("{what}: got {last:#?}"))
}

/// The cpuset cgroup file confining a thread (v1 `cpuset` hierarchy, else cgroup v2).
fn cpuset_file(tid: u32) -> PathBuf {
    let cg = std::fs::read_to_string(format!("/proc/{tid}/cgroup")).unwrap();
    for line in cg.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrl, path) = (
            f.next().unwrap(),
            f.next().unwrap_or(""),
            f.next().unwrap_or(""),
        );
        if ctrl.split(',').any(|c| c == "cpuset") {
            return PathBuf::from(format!("/sys/fs/cgroup/cpuset{path}/cpuset.cpus"));
        }
    }
    let path = cg.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
    PathBuf::from(format!("/sys/fs/cgroup{path}/cpuset.cpus"))
}

#[test]
fn live_pinning_findings_follow_the_host() {
    let Some(libvirtd) = Libvirtd::start(&["taskset"]) else {
        return;
    };
    libvirtd.define(A.0, A.1, 0, "");
    libvirtd.define(B.0, B.1, 1, "");

    // Clean: each domain's single vCPU alone on its CPU.
    expect("clean host", |f| f.is_empty());

    // Move A's vCPU 0 behind libvirt's back: widen its cgroup, then taskset the thread.
    let tid = vcpu0_tid(A.0);
    let cpuset = cpuset_file(tid);
    std::fs::write(&cpuset, "0-1").unwrap();
    sh(&format!("taskset -pc 0-1 {tid}")).unwrap();
    let f = expect("drift", |f| f.len() == 1);
    assert_eq!(f[0]["check"], "pinning.affinity_drift");
    assert_eq!(f[0]["severity"], "critical");
    assert_eq!(f[0]["subject"]["domain_uuid"], A.1);
    assert_eq!(f[0]["subject"]["domain_name"], A.0);
    assert_eq!(f[0]["subject"]["vcpu"], "0");
    assert!(
        f[0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("thread {tid} may run on CPUs 0-1"))
    );

    // Restore: clear.
    sh(&format!("taskset -pc 0 {tid}")).unwrap();
    std::fs::write(&cpuset, "0").unwrap();
    expect("restored", |f| f.is_empty());

    // Pin B's dedicated vCPU onto A's CPU (through libvirt, so XML and thread agree).
    sh(&format!("virsh -c qemu:///system vcpupin {} 0 0", B.0)).unwrap();
    let f = expect("overlap", |f| f.len() == 1);
    assert_eq!(f[0]["check"], "pinning.dedicated_overlap");
    assert_eq!(f[0]["subject"]["cpu"], "0");
    let msg = f[0]["message"].as_str().unwrap();
    assert!(msg.contains(&format!("{} ({}) vcpu 0", A.1, A.0)), "{msg}");
    assert!(msg.contains(&format!("{} ({}) vcpu 0", B.1, B.0)), "{msg}");

    sh(&format!("virsh -c qemu:///system vcpupin {} 0 1", B.0)).unwrap();
    expect("overlap removed", |f| f.is_empty());
}
