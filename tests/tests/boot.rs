//! Boot test: a diskless guest (Debian's cloud kernel under QEMU TCG, busybox initramfs) with the
//! image's agent overlay appended and a provisioning archive holding its certificates, booted
//! with `hvscope.aggregator=` / `hvscope.rack=` on the kernel command line, must show up at an
//! aggregator on the host's loopback (through QEMU's guestfwd) as a connected node with its real
//! `/proc` series within 10 s.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hvscope_e2e::Cluster;
use hvscope_testkit::{Proc, TempDir, in_ci, musl_agent, path_str, wait_for};

const NODE: &str = "compute-boot-1";

fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(st.success(), "{cmd}");
}

#[test]
fn a_booting_node_reports_within_ten_seconds() {
    let missing: Vec<&str> = [
        (
            hvscope_testkit::cloud_kernel().is_none(),
            "linux-image-cloud-amd64",
        ),
        (!Path::new("/bin/busybox").exists(), "busybox-static"),
        (
            Command::new("qemu-system-x86_64")
                .arg("--version")
                .output()
                .is_err(),
            "qemu-system-x86",
        ),
        (
            !musl_agent().exists(),
            "the static agent (tests/run builds it)",
        ),
    ]
    .into_iter()
    .filter_map(|(m, what)| m.then_some(what))
    .collect();
    if !missing.is_empty() {
        assert!(!in_ci(), "boot test cannot run, missing: {missing:?}");
        eprintln!("SKIPPED (not CI): boot test needs {missing:?}");
        return;
    }

    let mut c = Cluster::with_sans("boot", &["10.0.2.100"]);
    c.start_aggregator();
    c.node_cert(NODE, 30);
    let work = TempDir::new("boot-img");

    // The image as an image pipeline would get it.
    let st = Command::new(hvscope_testkit::repo().join("image/build"))
        .arg(work.join("image"))
        .env("NO_BUILD", "1")
        .status()
        .unwrap();
    assert!(st.success());
    // The provisioning system's part: certificates in /etc/hvscope/tls.
    let prov = work.join("prov");
    std::fs::create_dir_all(prov.join("etc/hvscope/tls")).unwrap();
    for (from, to) in [
        ("ca.pem".to_owned(), "ca.pem"),
        (format!("{NODE}.pem"), "node.pem"),
        (format!("{NODE}-key.pem"), "node-key.pem"),
    ] {
        std::fs::copy(c.certs().join(from), prov.join("etc/hvscope/tls").join(to)).unwrap();
    }
    sh(&format!(
        "cd {} && find etc | cpio --quiet -o -H newc -R 0:0 | gzip -1 > {}",
        prov.display(),
        work.join("prov.cpio.gz").display()
    ));
    let base = work.join("base.cpio.gz");
    let st = Command::new(hvscope_testkit::repo().join("tests/guest/mkinitrd"))
        .arg(&base)
        .arg(hvscope_testkit::repo().join("tests/guest/init-agent.sh"))
        .status()
        .unwrap();
    assert!(st.success());
    let initrd = work.join("initrd.gz");
    sh(&format!(
        "cat {} {} {} > {}",
        base.display(),
        work.join("image/hvscope-agent-overlay.cpio.gz").display(),
        work.join("prov.cpio.gz").display(),
        initrd.display()
    ));

    // TCG speed follows the host's load: a timing taken while the machine is busy says little,
    // so the node gets two boots and the better one is held to the bound.
    let mut best: Option<Duration> = None;
    for attempt in 1..=2 {
        let (since_kernel, node, serial) =
            boot_once(&c, &initrd, &work.join(&format!("serial-{attempt}.log")));
        let node = node.unwrap_or_else(|| {
            panic!(
                "guest never reported\nserial:\n{serial}\naggregator:\n{}",
                c.aggregator_log()
            )
        });
        // The guest's real /proc: 384 MiB of RAM, rack from the kernel command line.
        let series = node["series_values"].as_array().unwrap();
        let mem = series
            .iter()
            .find(|s| s["labels"]["__name__"] == "hvscope_host_memory_total_bytes")
            .unwrap()["value"]
            .as_f64()
            .unwrap();
        assert!(mem > 200e6 && mem < 400e6 * 1.05, "guest memory {mem}");
        assert!(series.iter().all(|s| s["labels"]["rack"] == "r9"));
        assert_eq!(node["labels"]["rack"], "r9");
        let since_kernel =
            since_kernel.unwrap_or_else(|| panic!("no init line on the console:\n{serial}"));
        best = Some(best.map_or(since_kernel, |b| b.min(since_kernel)));
        if since_kernel <= Duration::from_secs(10) {
            break;
        }
        eprintln!("boot attempt {attempt}: {since_kernel:?} (machine busy?), booting again");
    }
    let best = best.unwrap();
    assert!(
        best <= Duration::from_secs(10),
        "best of two boots took {best:?}"
    );
}

/// Boots the guest once; returns (kernel start -> node connected with series, the node's
/// view, the serial console). The guest is killed on return.
fn boot_once(
    c: &Cluster,
    initrd: &Path,
    serial_log: &Path,
) -> (Option<Duration>, Option<serde_json::Value>, String) {
    let kernel = hvscope_testkit::cloud_kernel().unwrap();
    let fwd = format!(
        "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:4317-cmd:busybox nc 127.0.0.1 {}",
        c.grpc_port
    );
    let started = Instant::now();
    let guest = Proc::spawn(
        Path::new("qemu-system-x86_64"),
        &[
            "-accel",
            "tcg",
            "-m",
            "384",
            "-smp",
            "1",
            "-nographic",
            "-no-reboot",
            "-kernel",
            path_str(&kernel),
            "-initrd",
            path_str(initrd),
            "-append",
            "console=ttyS0 panic=-1 quiet hvscope.aggregator=10.0.2.100:4317 hvscope.rack=r9",
            "-netdev",
            &fwd,
            "-device",
            "virtio-net-pci,netdev=n0",
        ],
        &[],
        serial_log.to_path_buf(),
    );
    // Kernel start on the host's clock: when /init's line appears on the serial console, minus
    // the kernel uptime it prints.
    let mut kernel_start: Option<Instant> = None;
    let node = wait_for(Duration::from_secs(90), || {
        if kernel_start.is_none()
            && let Some(up) = guest
                .log()
                .lines()
                .find_map(|l| l.split("HVSCOPE-GUEST init uptime=").nth(1))
                .and_then(|v| v.trim().parse::<f64>().ok())
        {
            kernel_start = Instant::now().checked_sub(Duration::from_secs_f64(up));
        }
        c.node(NODE, true).filter(|n| {
            n["connected"] == true
                && n["series_values"].as_array().is_some_and(|s| {
                    s.iter()
                        .any(|s| s["labels"]["__name__"] == "hvscope_host_memory_total_bytes")
                })
        })
    });
    let seen = Instant::now();
    let since_kernel = kernel_start.map(|k| seen.duration_since(k));
    eprintln!(
        "boot: kernel start -> node connected with /proc series at the aggregator: {:?} \
         (QEMU start -> connected: {:.2} s; polled every 0.1 s)",
        since_kernel,
        seen.duration_since(started).as_secs_f64()
    );
    let serial = guest.log();
    drop(guest);
    (since_kernel, node, serial)
}
