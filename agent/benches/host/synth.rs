//! A synthetic host tree for the host benchmark: `cpus` CPUs over `nodes` NUMA nodes (two
//! packages, two threads per core), `ifaces` interfaces (a two-member bond, the rest taps) and
//! `procs` processes, plus the real capture's `/proc` files for the rest.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/libvirt-kvm-2vm"
);

/// The tree, removed on drop.
pub struct SynthHost(pub PathBuf);

fn put(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("has parent")).expect("mkdir");
    std::fs::write(p, content).expect("write");
}

impl SynthHost {
    pub fn new(cpus: u32, nodes: u32, ifaces: u32, procs: u32) -> Self {
        let root = std::env::temp_dir().join(format!("hvscope-synth-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for rel in [
            "meminfo",
            "loadavg",
            "vmstat",
            "diskstats",
            "mounts",
            "pressure/cpu",
            "pressure/memory",
            "pressure/io",
            "uptime",
            "cpuinfo",
        ] {
            let text = std::fs::read_to_string(Path::new(FIXTURE).join("proc").join(rel))
                .expect("fixture");
            put(&root, &format!("proc/{rel}"), &text);
        }
        let mut stat = String::from("cpu  30362 100 20000 796392 500 0 300 6342 0 0\n");
        for c in 0..cpus {
            let _ = writeln!(stat, "cpu{c} {} 1 {} 6000 4 0 2 50 0 0", 200 + c, 150 + c);
        }
        stat.push_str("intr 0\nctxt 2638217\nbtime 1795310616\nprocesses 28407\nprocs_running 4\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n");
        put(&root, "proc/stat", &stat);
        let cpu = "sys/devices/system/cpu";
        let last = cpus - 1;
        for f in ["online", "present", "possible"] {
            put(&root, &format!("{cpu}/{f}"), &format!("0-{last}\n"));
        }
        put(
            &root,
            &format!("{cpu}/isolated"),
            &format!("2-{}\n", cpus / 2 - 1),
        );
        put(&root, &format!("{cpu}/offline"), "\n");
        let per_node = cpus / nodes;
        for c in 0..cpus {
            let t = format!("{cpu}/cpu{c}/topology");
            put(
                &root,
                &format!("{t}/physical_package_id"),
                &format!("{}\n", c / (cpus / 2)),
            );
            put(
                &root,
                &format!("{t}/core_id"),
                &format!("{}\n", (c % (cpus / 2)) / 2),
            );
        }
        for n in 0..nodes {
            let d = format!("sys/devices/system/node/node{n}");
            put(
                &root,
                &format!("{d}/cpulist"),
                &format!("{}-{}\n", n * per_node, (n + 1) * per_node - 1),
            );
            let mut m = String::new();
            for (k, v) in [
                ("MemTotal", 67108864u64),
                ("MemFree", 33554432),
                ("MemUsed", 33554432),
                ("FilePages", 1024),
                ("Shmem", 2048),
            ] {
                let _ = writeln!(m, "Node {n} {k}:{v:>16} kB");
            }
            for k in ["HugePages_Total", "HugePages_Free", "HugePages_Surp"] {
                let _ = writeln!(m, "Node {n} {k}:{:>6}", 1024);
            }
            put(&root, &format!("{d}/meminfo"), &m);
            for size in ["2048kB", "1048576kB"] {
                let h = format!("{d}/hugepages/hugepages-{size}");
                for f in ["nr_hugepages", "free_hugepages", "surplus_hugepages"] {
                    put(&root, &format!("{h}/{f}"), "1024\n");
                }
            }
        }
        put(
            &root,
            "sys/devices/system/node/online",
            &format!("0-{}\n", nodes - 1),
        );
        for size in ["2048kB", "1048576kB"] {
            let h = format!("sys/kernel/mm/hugepages/hugepages-{size}");
            for f in [
                "nr_hugepages",
                "free_hugepages",
                "surplus_hugepages",
                "resv_hugepages",
                "nr_overcommit_hugepages",
            ] {
                put(&root, &format!("{h}/{f}"), "4096\n");
            }
        }
        let mut netdev = String::from(
            "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n",
        );
        for i in 0..ifaces {
            let name = match i {
                0 => "eth0".to_owned(),
                1 => "eth1".to_owned(),
                2 => "bond0".to_owned(),
                n => format!("tap{n:02x}4f2b8c1e-6d"),
            };
            let d = format!("sys/class/net/{name}");
            put(&root, &format!("{d}/operstate"), "up\n");
            put(&root, &format!("{d}/carrier"), "1\n");
            put(&root, &format!("{d}/speed"), "25000\n");
            put(&root, &format!("{d}/mtu"), "9000\n");
            put(&root, &format!("{d}/address"), "fa:16:3e:4a:1b:01\n");
            put(&root, &format!("{d}/type"), "1\n");
            put(&root, &format!("{d}/flags"), "0x1003\n");
            put(&root, &format!("{d}/ifindex"), &format!("{}\n", i + 2));
            for s in [
                "rx_bytes",
                "tx_bytes",
                "rx_packets",
                "tx_packets",
                "rx_errors",
                "tx_errors",
                "rx_dropped",
                "tx_dropped",
                "multicast",
                "collisions",
            ] {
                put(
                    &root,
                    &format!("{d}/statistics/{s}"),
                    &format!("{}\n", 1_000_000 + i),
                );
            }
            if i < 2 {
                put(&root, &format!("{d}/bonding_slave/mii_status"), "up\n");
            }
            let _ = writeln!(netdev, "{name:>6}: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0");
        }
        put(&root, "sys/class/net/bond0/bonding/slaves", "eth0 eth1\n");
        put(&root, "proc/net/dev", &netdev);
        let comms = [
            "libvirtd",
            "ovs-vswitchd",
            "ovsdb-server",
            "iscsid",
            "nova-compute",
            "qemu-system-x86",
        ];
        for p in 1..=procs {
            let comm = comms.get(p as usize % 40).copied().unwrap_or("kworker/3:1");
            put(
                &root,
                &format!("proc/{p}/stat"),
                &format!(
                    "{p} ({comm}) S 1 {p} {p} 0 -1 4194560 0 0 0 0 10 5 0 0 20 0 1 0 100 0 0\n"
                ),
            );
            put(
                &root,
                &format!("proc/{p}/cmdline"),
                &format!("/usr/sbin/{comm}\0"),
            );
        }
        Self(root)
    }
}

impl Drop for SynthHost {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
