//! Live: the CPU-starvation SLI under real contention. A KVM (or TCG) domain whose single vCPU,
//! pinned to CPU 1, spins in its boot sector is streamed by the real agent (1 s SLI samples)
//! to a real aggregator. Alone on its CPU the VM is not starved; with a busy loop `taskset` onto
//! the same CPU the vCPU waits about half the time and `hvscope_vm_cpu_starved_seconds_total`
//! grows with `hvscope_vm_observed_seconds_total`; once the hog is gone it stops growing.

use std::process::{Child, Command};
use std::time::Duration;

use hvscope_e2e::Cluster;
use hvscope_testkit::libvirt::Libvirtd;
use hvscope_testkit::wait_for;

const VM: (&str, &str) = ("hvscope-sli", "0d6c5b4a-0000-4e3c-8f4d-5a6b7c8d9e33");
/// Seconds of agent samples per phase.
const PHASE: Duration = Duration::from_secs(8);

/// A 512-byte MBR whose code is `jmp $`: SeaBIOS boots it and the vCPU spins forever.
fn spinning_boot_sector() -> Vec<u8> {
    let mut s = vec![0u8; 512];
    s[0] = 0xEB;
    s[1] = 0xFE;
    s[510] = 0x55;
    s[511] = 0xAA;
    s
}

/// A busy loop confined to one CPU, killed on drop.
struct Hog(Child);
impl Drop for Hog {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// (timestamp ms, value) of the VM's series `name` in the aggregator's latest node view.
fn latest(c: &Cluster, name: &str) -> Option<(i64, f64)> {
    let n = c.node("node-a", true)?;
    n["series_values"].as_array()?.iter().find_map(|s| {
        (s["labels"]["__name__"] == name && s["labels"]["domain_uuid"] == VM.1)
            .then(|| Some((s["timestamp_ms"].as_i64()?, s["value"].as_f64()?)))
            .flatten()
    })
}

/// The VM's (observed, starved, vCPU wait) seconds at one agent report.
#[derive(Debug, Clone, Copy)]
struct Reading {
    at_ms: i64,
    observed: f64,
    starved: f64,
    wait: f64,
}

/// The first reading reported after `after_ms` (all three from one batch).
fn reading_after(c: &Cluster, after_ms: i64) -> Reading {
    wait_for(Duration::from_secs(15), || {
        let (at_ms, observed) = latest(c, "hvscope_vm_observed_seconds_total")?;
        let (t2, starved) = latest(c, "hvscope_vm_cpu_starved_seconds_total")?;
        let (t3, wait) = latest(c, "hvscope_vm_vcpu_wait_seconds_total")?;
        (at_ms > after_ms && at_ms == t2 && at_ms == t3).then_some(Reading {
            at_ms,
            observed,
            starved,
            wait,
        })
    })
    .unwrap_or_else(|| {
        panic!(
            "no VM SLI series reported after {after_ms}; virsh list: {:?}",
            hvscope_testkit::libvirt::sh("virsh -c qemu:///system list --name")
        )
    })
}

/// Starved share of observed seconds, and vCPU wait per second, over `PHASE`.
fn phase(c: &Cluster, what: &str) -> (f64, f64) {
    let a = reading_after(c, 0);
    std::thread::sleep(PHASE);
    let b = reading_after(c, a.at_ms);
    let observed = b.observed - a.observed;
    assert!(
        observed >= PHASE.as_secs_f64() - 2.5,
        "{what}: only {observed} s observed between {a:?} and {b:?}"
    );
    let starved = (b.starved - a.starved) / observed;
    let wait = (b.wait - a.wait) / ((b.at_ms - a.at_ms) as f64 / 1000.0);
    eprintln!("{what}: starved {starved:.2} of {observed:.1} s observed, vCPU wait {wait:.2} s/s");
    (starved, wait)
}

#[test]
fn cpu_starved_seconds_follow_real_contention() {
    let Some(libvirtd) = Libvirtd::start(&["taskset"]) else {
        return;
    };
    let mut c = Cluster::new("libvirt-sli");
    let disk = c.dir.join("spin.img");
    std::fs::write(&disk, spinning_boot_sector()).expect("boot sector");
    libvirtd.define(
        VM.0,
        VM.1,
        1,
        &format!(
            "<disk type='file' device='disk'><driver name='qemu' type='raw'/>\
             <source file='{}'/><target dev='hda' bus='ide'/></disk>",
            disk.display()
        ),
    );
    c.start_aggregator();
    c.node_cert("node-a", 30);
    let cfg = c.agent_config(
        "agent.toml",
        "node-a",
        "",
        "[sli]\nsample_interval_ms = 1000\ncpu_wait_ratio = 0.3",
    );
    let agent = c.start_agent(&cfg, "agent.log");
    let first = wait_for(Duration::from_secs(30), || {
        latest(&c, "hvscope_vm_observed_seconds_total").filter(|(_, v)| *v >= 2.0)
    });
    assert!(
        first.is_some(),
        "the VM's SLI series never arrived\n{}\n{}",
        c.aggregator_log(),
        agent.log()
    );

    // Alone on CPU 1 (the emulator thread is pinned there too but idles).
    let (calm_starved, calm_wait) = phase(&c, "alone");

    let hog = Hog(Command::new("taskset")
        .args(["-c", "1", "sh", "-c", "while :; do :; done"])
        .spawn()
        .expect("taskset"));
    std::thread::sleep(Duration::from_secs(2));
    let (hog_starved, hog_wait) = phase(&c, "with a busy loop on its CPU");
    drop(hog);
    std::thread::sleep(Duration::from_secs(2));
    let (after_starved, after_wait) = phase(&c, "hog gone");

    // CFS shares CPU 1 between the vCPU and the loop: the vCPU waits ~0.5 s per second, above
    // the configured 0.3 (the default 0.10 would also count brief waits from other host load), so (nearly) every observed second counts as starved. Without the
    // loop only other host load (none in CI; parallel builds on a workstation) makes it wait.
    assert!(hog_wait > 0.25, "vCPU wait {hog_wait} s/s under contention");
    assert!(
        hog_starved > 0.75,
        "starved share {hog_starved} under contention"
    );
    for (what, s, w) in [
        ("alone", calm_starved, calm_wait),
        ("after", after_starved, after_wait),
    ] {
        assert!(
            s < 0.5 && s < hog_starved - 0.4,
            "{what}: starved share {s} (under contention {hog_starved})"
        );
        assert!(w < hog_wait / 2.0, "{what}: vCPU wait {w} s/s");
    }
}
