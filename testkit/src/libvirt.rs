//! libvirtd for the live tests: started by hand through `tests/libvirt/libvirtd` (no systemd),
//! domains defined from `tests/libvirt/domain.xml` (nova metadata, one vCPU pinned with
//! `<cputune>`), stopped with every domain when the guard drops.
//!
//! Test binaries run one after another under `cargo test`; two tests of one binary must not both
//! hold a [`Libvirtd`] (the guard's stop destroys every domain).

use std::path::Path;
use std::process::Command;

use crate::{in_ci, repo};

/// Runs `cmd` with `sh -c`; its stdout, or an error with both outputs.
pub fn sh(cmd: &str) -> Result<String, String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A running libvirtd + virtlogd; dropping it destroys every domain and stops both.
pub struct Libvirtd {
    /// `kvm` when `/dev/kvm` exists, else `qemu` (TCG).
    pub kind: &'static str,
}

impl Libvirtd {
    /// Starts libvirtd after checking that `tools` (beside libvirtd, virsh, virtlogd, QEMU) exist.
    /// `None` (with a loud message) when they are missing or the daemon does not start outside
    /// CI; in CI that is a test failure.
    pub fn start(tools: &[&str]) -> Option<Self> {
        let missing: Vec<&str> = ["libvirtd", "virsh", "virtlogd", "qemu-system-x86_64"]
            .iter()
            .chain(tools)
            .copied()
            .filter(|b| sh(&format!("command -v {b}")).is_err())
            .collect();
        if !missing.is_empty() {
            assert!(
                !in_ci(),
                "libvirt live test cannot run, missing {missing:?}"
            );
            eprintln!("SKIPPED (not CI): libvirt live test needs {missing:?}");
            return None;
        }
        let script = repo().join("tests/libvirt/libvirtd");
        if let Err(e) = sh(&format!(
            "{0} setup && {0} stop && {0} start",
            script.display()
        )) {
            assert!(!in_ci(), "libvirtd did not start: {e}");
            eprintln!("SKIPPED (not CI): libvirtd did not start: {e}");
            return None;
        }
        let kind = if Path::new("/dev/kvm").exists() {
            "kvm"
        } else {
            "qemu"
        };
        Some(Self { kind })
    }

    /// Defines and starts a domain from `tests/libvirt/domain.xml`: `name`, `uuid`, its single
    /// vCPU and the emulator pinned to `cpu`, `devices` added to `<devices>`.
    pub fn define(&self, name: &str, uuid: &str, cpu: u32, devices: &str) {
        let xml = std::fs::read_to_string(repo().join("tests/libvirt/domain.xml"))
            .expect("domain template")
            .replace("@TYPE@", self.kind)
            .replace("@NAME@", name)
            .replace("@UUID@", uuid)
            .replace("@NOVA@", &format!("nova-{name}"))
            .replace("@CPU@", &cpu.to_string())
            .replace("@DEVICES@", devices);
        let path = std::env::temp_dir().join(format!("{name}.xml"));
        std::fs::write(&path, xml).expect("write domain xml");
        sh(&format!(
            "virsh -c qemu:///system define {} && virsh -c qemu:///system start {name}",
            path.display()
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    }
}

impl Drop for Libvirtd {
    fn drop(&mut self) {
        let _ = sh(&format!(
            "{} stop",
            repo().join("tests/libvirt/libvirtd").display()
        ));
    }
}

/// The thread id of `name`'s vCPU 0, from libvirt's live status file.
pub fn vcpu0_tid(name: &str) -> u32 {
    let xml = std::fs::read_to_string(format!("/run/libvirt/qemu/{name}.xml"))
        .expect("domain status file");
    let at = xml.find("<vcpu id='0' pid='").expect("domstatus vcpu 0");
    xml[at + 18..]
        .split('\'')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("vcpu pid")
}
