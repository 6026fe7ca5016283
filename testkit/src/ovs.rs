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

    /// Kills ovsdb-server and starts it again on the same database and socket, as a service
    /// manager restarting it would; ovs-vswitchd reconnects by itself.
    pub fn restart_ovsdb(&mut self) -> Result<(), String> {
        self.ovsdb.kill();
        let sock = self.rundir.join("db.sock");
        let _ = std::fs::remove_file(&sock);
        let db = self.dir.join("db/conf.db");
        let remote = format!("punix:{}", sock.display());
        let envs = [
            ("OVS_RUNDIR", path_str(&self.rundir)),
            ("OVS_LOGDIR", path_str(&self.dir.0)),
            ("OVS_DBDIR", path_str(&self.dir.0)),
        ];
        self.ovsdb = Proc::spawn(
            Path::new("ovsdb-server"),
            &[path_str(&db), "--remote", &remote],
            &envs,
            self.dir.join("ovsdb-server-restarted.log"),
        );
        wait_for(Duration::from_secs(10), || sock.exists().then_some(()))
            .ok_or_else(|| format!("restarted ovsdb-server did not create {}", sock.display()))
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

/// A VM-side MAC (`fa:16:3e:…`) numbered `n`.
pub fn mac(n: usize) -> String {
    format!(
        "fa:16:3e:{:02x}:{:02x}:{:02x}",
        (n >> 16) & 0xff,
        (n >> 8) & 0xff,
        n & 0xff
    )
}

/// An IPv4 address `10.x.y.z` numbered `n`.
pub fn ip(n: usize) -> String {
    format!("10.{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
}

/// An IPv6 address in `fd00::/16` numbered `n`.
pub fn ip6(n: usize) -> String {
    format!("fd00:{:x}::{:x}", n >> 12, n & 0xfff)
}

/// A Neutron-like flow table of `n_flows` (+20) flows for `ovs-ofctl add-flows`: ML2/OVS
/// firewall tables (per-port reg5/reg6 loads, conntrack with zones, exec, nat, conjunctions),
/// br-tun learning and l2pop (learn, tun_id loads, VXLAN output to ofport 50), VLAN
/// push/pop/strip, IPv6, ICMP, ARP, masks, metadata, goto_table, drop, several cookies and
/// priorities. VM ports are ofports 1-6. Every flow is valid in OpenFlow 1.3 (thirty templates
/// in turn; the differential test `tests/tests/ovs_openflow.rs` and the OpenFlow bench use it).
pub fn neutron_like_flows(n_flows: usize) -> String {
    let mut s = String::new();
    s.push_str("table=0,priority=65535,dl_vlan=4095,actions=drop\n");
    s.push_str("table=0,priority=0,actions=resubmit(,60)\n");
    s.push_str("table=60,priority=3,actions=NORMAL\n");
    s.push_str("table=71,priority=0,actions=drop\n");
    // one of each edge: zero values, masks, immediate zones, stacks, NAT ranges, ND, labels
    for f in [
        "table=90,priority=1,reg3=0,metadata=0,tun_id=0,actions=set_field:0->reg3,set_field:0->tun_id",
        "table=90,priority=2,ipv6,ipv6_src=::ffff:10.0.0.1,actions=drop",
        "table=90,priority=3,ct_state=-trk,ip,actions=ct(zone=5,table=91)",
        "table=90,priority=4,tcp,tp_dst=0x100/0xff00,actions=output:NXM_NX_REG5[0..15]",
        "table=90,priority=5,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=CONTROLLER:65535",
        "table=90,priority=6,vlan_tci=0x1000/0x1000,actions=strip_vlan,LOCAL",
        "table=90,priority=7,tcp,nw_src=10.0.0.0/8,nw_frag=yes,actions=mod_nw_tos:16,mod_nw_ttl:5,mod_tp_src:99",
        "table=90,priority=8,arp,arp_tpa=10.0.0.1,arp_op=2,actions=move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],push:NXM_NX_REG0[],pop:NXM_NX_REG1[0..7]",
        "table=90,priority=9,icmp6,icmp_type=136,nd_target=fe80::1,nd_tll=fa:16:3e:00:00:01,actions=drop",
        "table=90,priority=10,ip,actions=ct(commit,zone=7,nat(dst=10.0.0.1-10.0.0.9:80-88,random))",
        "table=90,priority=13,ipv6,ipv6_label=0x12345,actions=set_field:fd00::1->ipv6_dst",
        "table=90,priority=14,ip,nw_ecn=1,nw_ttl=3,actions=mod_nw_ecn:2",
        "table=90,priority=15,tun_id=0x5/0xff,actions=resubmit(,91),resubmit:LOCAL",
        "table=90,priority=16,reg9=0x80000000/0x80000000,ct_mark=0,ct_zone=0,actions=set_field:0x8/0xff->reg9",
        "table=90,priority=17,ip,nw_dst=10.1.0.0/255.255.0.255,nw_proto=47,actions=note:00,output:65279",
        "cookie=0xfffffffffffffffe,table=253,priority=0,actions=drop",
    ] {
        s.push_str(f);
        s.push('\n');
    }
    for i in 0..n_flows {
        let n = i + 1;
        let p = 1 + i % 6;
        let v = 1 + i % 4000;
        let cookie = 0x9f3c_6a1d_2e4b_7c85u64.wrapping_add((i % 7) as u64);
        let tun = 0x1000 + i;
        let port = 1 + i % 60000;
        let (m, a, ipn, i6) = (mac(n), mac(n + 7), ip(n), ip6(n));
        let f = match i % 30 {
            0 => format!(
                "table=0,priority=10,in_port={p},dl_src={m},actions=load:{n:#x}->NXM_NX_REG5[],load:{:#x}->NXM_NX_REG6[0..15],resubmit(,60)",
                v
            ),
            1 => format!(
                "table=60,priority=90,dl_vlan={v},dl_dst={m},actions=load:{p:#x}->NXM_NX_REG5[],strip_vlan,resubmit(,81)"
            ),
            2 => format!(
                "table=71,priority=95,arp,reg5={n:#x},in_port={p},dl_src={m},arp_spa={ipn},actions=resubmit(,94)"
            ),
            3 => format!(
                "table=71,priority=65,ip,reg5={n:#x},in_port={p},dl_src={m},nw_src={ipn},actions=ct(table=72,zone=NXM_NX_REG6[0..15])"
            ),
            4 => format!(
                "table=72,priority=77,ct_state=+est-rel-rpl,ip,reg5={n:#x},actions=resubmit(,73)"
            ),
            5 => format!(
                "table=73,priority=90,ct_state=+new-est,tcp,reg5={n:#x},tp_dst={port},actions=ct(commit,zone=NXM_NX_REG6[0..15],exec(load:0x1->NXM_NX_CT_MARK[])),resubmit(,91)"
            ),
            6 => format!(
                "table=82,priority=70,ct_state=+est-rel+rpl,ct_zone={v},ct_mark=0x1/0x1,udp6,reg5={n:#x},ipv6_src={i6}/64,tp_src={port},actions=output:{p}"
            ),
            7 => format!(
                "table=20,priority=2,dl_vlan={v},dl_dst={m},actions=strip_vlan,load:{tun:#x}->NXM_NX_TUN_ID[],output:50"
            ),
            8 => format!(
                "table=4,priority=1,tun_id={tun:#x},reg5={n:#x},actions=mod_vlan_vid:{v},resubmit(,10)"
            ),
            9 => format!(
                "table=10,priority=1,reg0={n:#x},actions=learn(table=20,hard_timeout=300,priority=1,cookie={cookie:#x},NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:1"
            ),
            10 => format!(
                "table=60,priority=50,icmp,reg5={n:#x},icmp_type=8,icmp_code=0,nw_dst={ipn}/24,actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:{a},load:0xff->NXM_NX_REG7[24..31],IN_PORT"
            ),
            11 => format!(
                "table=61,priority=40,ipv6,reg5={n:#x},ipv6_dst={i6},actions=dec_ttl,note:{:02x}.{:02x}.ab,NORMAL",
                n & 0xff,
                (n >> 8) & 0xff
            ),
            12 => format!(
                "table=62,priority=30,ip,reg5={n:#x},nw_src={ipn},nw_dst=10.0.0.0/255.0.255.0,nw_tos=32,actions=goto_table:63"
            ),
            13 => format!(
                "table=63,priority=20,reg5={n:#x},metadata={:#x}/0xffff,actions=write_metadata:{:#x}/0xff00,goto_table:64",
                n & 0xffff,
                (n & 0xff) << 8
            ),
            14 => format!("table=64,priority=10,conj_id={n},ip,actions=output:{p}"),
            15 => format!(
                "table=65,priority=10,ip,reg5={n:#x},nw_src={ipn},actions=conjunction({n},1/2)"
            ),
            16 => format!(
                "table=65,priority=10,ip,reg6={n:#x},nw_dst={ipn},actions=conjunction({n},2/2)"
            ),
            17 => format!(
                "table=66,priority=5,tcp,reg5={n:#x},tcp_flags=+syn-ack,actions=CONTROLLER:128"
            ),
            18 => format!(
                "table=67,priority=5,ip,reg5={n:#x},actions=ct(commit,nat(src=10.1.{}.{}:1024-2048)),NORMAL",
                (n >> 8) & 0xff,
                n & 0xff
            ),
            19 => format!(
                "table=68,priority=5,reg5={n:#x},vlan_tci=0x0000/0x1fff,actions=push_vlan:0x8100,set_field:{}->vlan_vid,output:{p}",
                v | 0x1000
            ),
            20 => format!("table=69,priority=5,dl_type=0x88cc,reg5={n:#x},actions=FLOOD"),
            21 => format!(
                "table=70,priority=5,in_port=LOCAL,reg5={n:#x},actions=set_tunnel64:{tun:#x},output:50"
            ),
            22 => format!(
                "idle_timeout=300,hard_timeout=600,table=74,priority={},reg5={n:#x},actions=drop",
                1 + i % 1000
            ),
            23 => format!(
                "table=75,priority=5,arp,arp_op=1,reg5={n:#x},arp_sha={m},actions=move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],output:IN_PORT"
            ),
            24 => format!(
                "table=76,priority=5,ct_state=+trk-inv,ip,reg5={n:#x},nw_frag=later,actions=resubmit(1,77),resubmit:2,resubmit(,78,ct)"
            ),
            25 => format!(
                "table=77,priority=5,icmp6,icmp_type=135,nd_target={i6},reg5={n:#x},actions=clone(output:{p}),ct(nat),ct_clear"
            ),
            26 => format!(
                "table=78,priority=5,udp,reg5={n:#x},tp_dst=4789,actions=set_field:{ipn}->ip_dst,set_field:{a}->eth_dst,load:{:#x}->NXM_NX_PKT_MARK[0..7],output:{p}",
                n & 0xff
            ),
            27 => format!(
                "table=80,priority=5,tun_src=192.0.2.{},tun_dst=192.0.2.1,tun_id={tun:#x},actions=output:{p}",
                1 + n % 250
            ),
            28 => format!(
                "table=83,priority=5,ip,reg5={n:#x},nw_ttl=1,actions=controller(max_len=256,id=3),exit"
            ),
            _ => format!(
                "table=84,priority=5,sctp,reg5={n:#x},tp_src=9,ct_label={:#x}/0xff,actions=output(port={p},max_len=128)",
                n & 0xff
            ),
        };
        s.push_str(&format!("cookie={cookie:#x},{f}\n"));
    }
    s
}
