//! iSCSI against a real kernel initiator: this host's kernel has no SCSI, a guest's does. Debian's
//! cloud kernel boots under QEMU TCG with a busybox initramfs holding open-iscsi and the image's
//! static agent; it logs in to two targets of a `tgtd` started here on the loopback (portals
//! 10.0.2.100 and 10.0.2.101, both forwarded by QEMU's guestfwd), and `tests/guest/init-iscsi.sh`
//! prints `hvscope-agent check --format json` for three phases: both sessions up (no iSCSI
//! findings), the second portal blackholed in the guest (`iscsi.session_down` for exactly that
//! target), the route restored (no iSCSI findings again).

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hvscope_testkit::{Proc, TempDir, free_port, in_ci, musl_agent, path_str, wait_for};

const T1: &str = "iqn.2026-11.test.hvscope:disk1";
const T2: &str = "iqn.2026-11.test.hvscope:disk2";

fn runs(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// tgtd on 127.0.0.1:`port` with its own management socket; targets and daemon are removed on
/// drop (tgtd ignores SIGTERM while targets exist, so they are deleted first, then it is killed).
struct Tgt {
    ctl: String,
    proc: Proc,
}

impl Tgt {
    fn start(dir: &TempDir, port: u16) -> Result<Self, String> {
        // tgtd's control port must be 0..=32767 (it names the management socket).
        let ctl = (1000 + (std::process::id() + u32::from(port)) % 30000).to_string();
        let proc = Proc::spawn(
            Path::new("tgtd"),
            &[
                "-f",
                "-C",
                &ctl,
                "--iscsi",
                &format!("portal=127.0.0.1:{port}"),
            ],
            &[],
            dir.join("tgtd.log"),
        );
        let t = Self { ctl, proc };
        let listening = wait_for(Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        if listening.is_none() {
            return Err(format!("tgtd did not listen:\n{}", t.proc.log()));
        }
        for (tid, iqn) in [(1, T1), (2, T2)] {
            let img = dir.join(&format!("lun{tid}.img"));
            std::fs::File::create(&img)
                .and_then(|f| f.set_len(16 << 20))
                .map_err(|e| e.to_string())?;
            let tid = tid.to_string();
            t.adm(&["--op", "new", "--mode", "target", "--tid", &tid, "-T", iqn])?;
            t.adm(&[
                "--op",
                "new",
                "--mode",
                "logicalunit",
                "--tid",
                &tid,
                "--lun",
                "1",
                "-b",
                path_str(&img),
            ])?;
            t.adm(&[
                "--op", "bind", "--mode", "target", "--tid", &tid, "-I", "ALL",
            ])?;
        }
        Ok(t)
    }

    fn adm(&self, args: &[&str]) -> Result<(), String> {
        let out = Command::new("tgtadm")
            .args(["-C", &self.ctl, "--lld", "iscsi"])
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        out.status
            .success()
            .then_some(())
            .ok_or_else(|| format!("tgtadm {args:?}: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

impl Drop for Tgt {
    fn drop(&mut self) {
        for tid in ["1", "2"] {
            let _ = self.adm(&[
                "--op", "delete", "--mode", "target", "--tid", tid, "--force",
            ]);
        }
        let _ = Command::new("tgtadm")
            .args(["-C", &self.ctl, "--op", "delete", "--mode", "system"])
            .output();
        self.proc.kill();
        for f in ["", ".lock"] {
            let _ = std::fs::remove_file(format!("/var/run/tgtd/socket.{}{f}", self.ctl));
        }
    }
}

/// The `iscsi.*` findings (and unknown iSCSI parts) the agent printed for `phase`.
fn iscsi_findings(serial: &str, phase: &str) -> Vec<serde_json::Value> {
    let serial = serial.replace('\r', "");
    let begin = format!("HVSCOPE-CHECK-BEGIN {phase}\n");
    let body = serial
        .split_once(&begin)
        .and_then(|(_, rest)| rest.split_once(&format!("HVSCOPE-CHECK-END {phase}")))
        .map(|(b, _)| b)
        .unwrap_or_else(|| panic!("no check output for phase {phase}\nserial:\n{serial}"));
    let v: serde_json::Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("phase {phase}: {e}\n{body}\nserial:\n{serial}"));
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["check"].as_str().unwrap().starts_with("iscsi.")
                || f["subject"]["source"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("iscsi") || s == "proc.diskstats")
        })
        .cloned()
        .collect()
}

/// `(target, value)` of every `hvscope_iscsi_session_up` series the agent printed for `phase`.
fn sessions_up(serial: &str, phase: &str) -> Vec<(String, f64)> {
    let prefix = format!("HVSCOPE-SERIES {phase} hvscope_iscsi_session_up{{");
    let mut out: Vec<(String, f64)> = serial
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix(&prefix))
        .filter_map(|rest| {
            let target = rest.split("target=\"").nth(1)?.split('"').next()?;
            let value = rest.rsplit(' ').next()?.parse().ok()?;
            Some((target.to_owned(), value))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn session_down_follows_a_real_kernel_initiator() {
    let missing: Vec<&str> = [
        (
            hvscope_testkit::cloud_kernel().is_none(),
            "linux-image-cloud-amd64",
        ),
        (!Path::new("/bin/busybox").exists(), "busybox-static"),
        (!runs("qemu-system-x86_64", "--version"), "qemu-system-x86"),
        (
            !runs("tgtd", "--version") || !runs("tgtadm", "--help"),
            "tgt",
        ),
        (!Path::new("/usr/sbin/iscsid").exists(), "open-iscsi"),
        (
            !musl_agent().exists(),
            "the static agent (tests/run builds it)",
        ),
    ]
    .into_iter()
    .filter_map(|(m, what)| m.then_some(what))
    .collect();
    if !missing.is_empty() {
        assert!(
            !in_ci(),
            "iSCSI guest test cannot run, missing: {missing:?}"
        );
        eprintln!("SKIPPED (not CI): iSCSI guest test needs {missing:?}");
        return;
    }
    let work = TempDir::new("iscsi-guest");
    let port = free_port();
    let tgt = match Tgt::start(&work, port) {
        Ok(t) => t,
        Err(e) => {
            assert!(!in_ci(), "tgtd cannot start: {e}");
            eprintln!("SKIPPED (not CI): tgtd cannot start: {e}");
            return;
        }
    };

    let st = Command::new(hvscope_testkit::repo().join("image/build"))
        .arg(work.join("image"))
        .env("NO_BUILD", "1")
        .status()
        .unwrap();
    assert!(st.success(), "image/build");
    let base = work.join("base.cpio.gz");
    let st = Command::new(hvscope_testkit::repo().join("tests/guest/mkinitrd"))
        .arg(&base)
        .arg(hvscope_testkit::repo().join("tests/guest/init-iscsi.sh"))
        .env("ISCSI", "1")
        .status()
        .unwrap();
    assert!(st.success(), "mkinitrd");
    let initrd = work.join("initrd.gz");
    let mut cat = base.clone().into_os_string();
    cat.push(" ");
    cat.push(work.join("image/hvscope-agent-overlay.cpio.gz"));
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cat {} > {}",
            cat.to_str().unwrap(),
            initrd.display()
        ))
        .status()
        .unwrap();
    assert!(st.success());

    let fwd = format!(
        "user,id=n0,restrict=on,\
         guestfwd=tcp:10.0.2.100:3260-cmd:busybox nc 127.0.0.1 {port},\
         guestfwd=tcp:10.0.2.101:3260-cmd:busybox nc 127.0.0.1 {port}"
    );
    let started = Instant::now();
    let mut guest = Proc::spawn(
        Path::new("qemu-system-x86_64"),
        &[
            "-accel",
            "tcg",
            "-m",
            "512",
            "-smp",
            "1",
            "-nographic",
            "-no-reboot",
            "-kernel",
            path_str(&hvscope_testkit::cloud_kernel().unwrap()),
            "-initrd",
            path_str(&initrd),
            "-append",
            "console=ttyS0 panic=-1 quiet",
            "-netdev",
            &fwd,
            "-device",
            "virtio-net-pci,netdev=n0",
        ],
        &[],
        work.join("serial.log"),
    );
    let done = wait_for(Duration::from_secs(150), || {
        (guest.log().contains("HVSCOPE-GUEST done") || !guest.alive()).then_some(())
    });
    let serial = guest.log();
    guest.kill();
    drop(tgt);
    eprintln!(
        "iscsi guest: QEMU start -> all phases done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for l in serial.lines().filter(|l| l.contains("HVSCOPE-GUEST")) {
        eprintln!("  {}", l.trim_end());
    }
    assert!(
        done.is_some() && serial.contains("HVSCOPE-GUEST done"),
        "guest did not finish:\n{serial}"
    );

    let both = |a: f64, b: f64| vec![(T1.to_owned(), a), (T2.to_owned(), b)];
    assert_eq!(sessions_up(&serial, "up"), both(1.0, 1.0), "{serial}");
    assert_eq!(sessions_up(&serial, "down"), both(1.0, 0.0), "{serial}");
    assert_eq!(sessions_up(&serial, "restored"), both(1.0, 1.0), "{serial}");
    let up = iscsi_findings(&serial, "up");
    assert!(up.is_empty(), "both sessions up, yet: {up:#?}");

    let down = iscsi_findings(&serial, "down");
    assert_eq!(
        down.len(),
        1,
        "exactly one finding expected: {down:#?}\n{serial}"
    );
    let f = &down[0];
    assert_eq!(f["check"], "iscsi.session_down", "{f:#}");
    assert_eq!(f["severity"], "critical", "{f:#}");
    assert_eq!(f["subject"]["target"], T2, "{f:#}");
    assert_eq!(f["subject"]["portal"], "10.0.2.101:3260", "{f:#}");
    assert!(serial.contains("HVSCOPE-CHECK-END down rc=2"), "{serial}");

    let restored = iscsi_findings(&serial, "restored");
    assert!(restored.is_empty(), "after restore: {restored:#?}");
}
