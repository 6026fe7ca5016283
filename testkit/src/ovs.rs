//! A private Open vSwitch for tests and benchmarks: ovsdb-server + ovs-vswitchd (userspace
//! datapath, `datapath_type=netdev`) with every socket, database and log in a temporary
//! directory laid out as a host root (`<root>/run/openvswitch/db.sock`, `<bridge>.mgmt`), and
//! `<root>/proc` linked to the real `/proc`. Both daemons run in the foreground as [`Proc`]s,
//! so they are killed when the lab is dropped, even when a test fails; the bridges are deleted
//! first and the tap devices of the bridges and ports it added removed (the userspace
//! datapath's internal ports are tap devices that outlive a killed ovs-vswitchd).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::{Proc, TempDir, path_str, wait_for};

/// The running daemons and their directory.
pub struct OvsLab {
    pub dir: TempDir,
    /// The host root to point the agent at.
    pub root: PathBuf,
    /// `<root>/run/openvswitch`.
    pub rundir: PathBuf,
    pub ovsdb: Proc,
    pub vswitchd: Proc,
    /// Bridges and ports added, whose kernel tap devices are removed on drop.
    created: std::sync::Mutex<Vec<String>>,
}

impl Drop for OvsLab {
    fn drop(&mut self) {
        // A test may have left a daemon stopped (SIGSTOP); ovs-vsctl would wait for it.
        for p in [&self.ovsdb, &self.vswitchd] {
            let _ = Self::signal(p, "-CONT");
        }
        let db = format!("--db=unix:{}", self.rundir.join("db.sock").display());
        let env = [("OVS_RUNDIR", self.rundir.as_path())];
        if let Ok(list) = sh("ovs-vsctl", &[&db, "--timeout=5", "list-br"], &env) {
            for br in list.lines().filter(|l| !l.is_empty()) {
                let _ = sh(
                    "ovs-vsctl",
                    &[&db, "--timeout=5", "--if-exists", "del-br", br],
                    &env,
                );
            }
        }
        // A test that killed ovs-vswitchd leaves its tap devices: remove them directly.
        if let Ok(created) = self.created.lock() {
            for dev in created.iter() {
                if Path::new("/sys/class/net").join(dev).exists() {
                    let _ = sh("ip", &["link", "del", dev], &[]);
                }
            }
        }
    }
}

/// Runs `cmd args` with `env`; stdout on success, a one-line reason otherwise.
pub fn sh(cmd: &str, args: &[&str], env: &[(&str, &Path)]) -> Result<String, String> {
    let mut c = Command::new(cmd);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().map_err(|e| format!("{cmd}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{cmd} {args:?}: {}", err.trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

impl OvsLab {
    /// Creates a database and starts both daemons; `Err` says why OVS cannot run here.
    pub fn start(tag: &str) -> Result<Self, String> {
        for tool in [
            "ovsdb-server",
            "ovs-vswitchd",
            "ovs-vsctl",
            "ovs-ofctl",
            "ovsdb-tool",
        ] {
            if !have(tool) {
                return Err(format!(
                    "{tool} not found (Debian package openvswitch-switch)"
                ));
            }
        }
        let dir = TempDir::new(tag);
        let root = dir.join("root");
        let rundir = root.join("run/openvswitch");
        let mkdir =
            |p: &Path| std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()));
        mkdir(&rundir)?;
        mkdir(&dir.join("db"))?;
        std::os::unix::fs::symlink("/proc", root.join("proc")).map_err(|e| e.to_string())?;
        let db = dir.join("db/conf.db");
        let env = [
            ("OVS_RUNDIR", rundir.as_path()),
            ("OVS_LOGDIR", dir.0.as_path()),
            ("OVS_DBDIR", dir.0.as_path()),
        ];
        let schema = "/usr/share/openvswitch/vswitch.ovsschema";
        sh("ovsdb-tool", &["create", path_str(&db), schema], &env)?;
        let sock = rundir.join("db.sock");
        let remote = format!("punix:{}", sock.display());
        let envs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, path_str(v))).collect();
        let ovsdb = Proc::spawn(
            Path::new("ovsdb-server"),
            &[path_str(&db), "--remote", &remote],
            &envs,
            dir.join("ovsdb-server.log"),
        );
        wait_for(Duration::from_secs(10), || sock.exists().then_some(()))
            .ok_or_else(|| format!("ovsdb-server did not create {}", sock.display()))?;
        let db_arg = format!("--db=unix:{}", sock.display());
        sh("ovs-vsctl", &[&db_arg, "--no-wait", "init"], &env)?;
        let vswitchd = Proc::spawn(
            Path::new("ovs-vswitchd"),
            &[&format!("unix:{}", sock.display())],
            &envs,
            dir.join("ovs-vswitchd.log"),
        );
        Ok(Self {
            dir,
            root,
            rundir,
            ovsdb,
            vswitchd,
            created: Default::default(),
        })
    }

    /// `ovs-vsctl` against this lab's database (waits for ovs-vswitchd to apply changes).
    pub fn vsctl(&self, args: &[&str]) -> Result<String, String> {
        let db = format!("--db=unix:{}", self.rundir.join("db.sock").display());
        let mut all = vec![db.as_str(), "--timeout=10"];
        all.extend(args);
        sh("ovs-vsctl", &all, &[("OVS_RUNDIR", &self.rundir)])
    }

    /// `unix:<rundir>/<bridge>.mgmt`, the switch argument of `ovs-ofctl`.
    pub fn mgmt(&self, bridge: &str) -> String {
        format!(
            "unix:{}",
            self.rundir.join(format!("{bridge}.mgmt")).display()
        )
    }

    /// `ovs-ofctl -O OpenFlow13 <command> <bridge's mgmt socket> <args…>`.
    pub fn ofctl(&self, bridge: &str, command: &str, args: &[&str]) -> Result<String, String> {
        let target = self.mgmt(bridge);
        let mut all = vec!["-O", "OpenFlow13", command, target.as_str()];
        all.extend(args);
        sh("ovs-ofctl", &all, &[])
    }

    /// Adds a userspace bridge (`fail_mode=secure`, no flows) and waits for its mgmt socket.
    pub fn add_bridge(&self, bridge: &str) -> Result<(), String> {
        self.vsctl(&[
            "add-br",
            bridge,
            "--",
            "set",
            "bridge",
            bridge,
            "datapath_type=netdev",
            "fail_mode=secure",
        ])?;
        self.created_device(bridge);
        let mgmt = self.rundir.join(format!("{bridge}.mgmt"));
        wait_for(Duration::from_secs(10), || mgmt.exists().then_some(()))
            .ok_or_else(|| format!("ovs-vswitchd did not create {}", mgmt.display()))?;
        Ok(())
    }

    /// Adds a VM port as nova/libvirt would (`external_ids` attached-mac, iface-id, vm-id,
    /// iface-status) at OpenFlow port `ofport`.
    pub fn add_vm_port(
        &self,
        bridge: &str,
        tap: &str,
        ofport: u16,
        mac: &str,
        vm: &str,
    ) -> Result<(), String> {
        let sets = [
            "type=internal".to_owned(),
            format!("ofport_request={ofport}"),
            format!("external_ids:attached-mac={mac}"),
            format!("external_ids:iface-id=00000000-0000-4000-8000-{ofport:012}"),
            format!("external_ids:vm-id={vm}"),
            "external_ids:iface-status=active".to_owned(),
        ];
        self.created_device(tap);
        let mut args = vec!["add-port", bridge, tap, "--", "set", "interface", tap];
        args.extend(sets.iter().map(String::as_str));
        self.vsctl(&args).map(|_| ())
    }

    fn created_device(&self, name: &str) {
        if let Ok(mut c) = self.created.lock() {
            c.push(name.to_owned());
        }
    }

    /// Sends `sig` (`-STOP`, `-CONT`, …) to a daemon.
    pub fn signal(p: &Proc, sig: &str) -> Result<(), String> {
        sh("kill", &[sig, &p.child.id().to_string()], &[]).map(|_| ())
    }
}
