//! Every query of the shipped Grafana dashboards returns data from a real Prometheus 2.42 that
//! reads real agents through the aggregator (with the shipped recording rules loaded), so a
//! wrong metric or label name in a panel fails here. Four nodes cover what the panels show: this
//! machine (root filesystem, host network, daemons), the pinning-drift capture (VMs, their SLIs),
//! the failed-iSCSI capture (sessions, disks) and a private Open vSwitch with a Neutron-like
//! bridge (flows, VM ports). A panel query passes when one node's substitution returns data.

use std::time::Duration;

use hvscope_e2e::Cluster;
use hvscope_testkit::ovs::OvsLab;
use hvscope_testkit::prom::{Prometheus, urlencode};
use hvscope_testkit::{copy_dir, grafana, in_ci, path_str, repo, wait_for};
use serde_json::Value;

const NODES: [&str; 4] = ["dash-live", "dash-vms", "dash-iscsi", "dash-ovs"];
const MAC: &str = "fa:16:3e:4a:1b:01";
const VM: &str = "3b9f6d2e-8c41-4a7f-9e15-2d6c0a4b7f11";

fn ovs_lab() -> Option<(OvsLab, String)> {
    let lab = match OvsLab::start("dash") {
        Ok(l) => l,
        Err(e) => {
            assert!(!in_ci(), "Open vSwitch could not start: {e}");
            eprintln!("SKIPPED: Open vSwitch could not start ({e}); tests/run installs it");
            return None;
        }
    };
    let n = std::process::id() % 100_000;
    let br = format!("dsh{n}");
    lab.add_bridge(&br).unwrap();
    lab.add_vm_port(&br, &format!("dtp{n}"), 7, MAC, VM)
        .unwrap();
    let flows = lab.dir.join("flows.txt");
    std::fs::write(
        &flows,
        "table=0,priority=10,in_port=7,actions=resubmit(,60)\ntable=60,priority=1,actions=NORMAL\n",
    )
    .unwrap();
    lab.ofctl(&br, "add-flows", &[path_str(&flows)]).unwrap();
    Some((lab, br))
}

/// The drift capture's host with the iSCSI capture's initiator state merged in and web-a given
/// a second disk on one of its LUNs (as nova attaches a volume), so the disk-delay SLI has a VM
/// disk to follow.
fn hypervisor_with_iscsi_disk() -> std::path::PathBuf {
    let fx = repo().join("agent/tests/fixtures");
    let root = copy_dir(&fx.join("libvirt-kvm-2vm-drift"), "dash-vms");
    let iscsi = fx.join("iscsi-guest");
    for part in ["sys", "dev", "etc"] {
        let ok = std::process::Command::new("cp")
            .args(["-a", "--no-clobber"])
            .arg(iscsi.join(part))
            .arg(&root)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "merge {part}");
    }
    for f in ["proc/diskstats", "proc/partitions"] {
        let mut text = std::fs::read_to_string(root.join(f)).unwrap();
        let add = std::fs::read_to_string(iscsi.join(f)).unwrap();
        let add: String = add
            .lines()
            .filter(|l| l.contains("sda") || l.contains("sdb"))
            .map(|l| format!("{l}\n"))
            .collect();
        text.push_str(&add);
        std::fs::write(root.join(f), text).unwrap();
    }
    let xml = root.join("run/libvirt/qemu/instance-0000002a.xml");
    let text = std::fs::read_to_string(&xml).unwrap();
    let lun = "/dev/disk/by-path/ip-10.0.2.100:3260-iscsi-iqn.2010-10.org.openstack:volume-5d0c3f6e-7a21-4b9e-8f3d-2c6a1e9b0d47-lun-1";
    let disk = format!(
        "<disk type='block' device='disk'>\n        <driver name='qemu' type='raw' cache='none' io='native'/>\n        \
         <source dev='{lun}' index='2'/>\n        <target dev='vdb' bus='virtio'/>\n        \
         <serial>5d0c3f6e-7a21-4b9e-8f3d-2c6a1e9b0d47</serial>\n      </disk>\n      "
    );
    let at = text
        .find("<disk type='file'")
        .expect("a disk in the domain");
    let text = format!("{}{disk}{}", &text[..at], &text[at..]);
    std::fs::write(&xml, text).unwrap();
    root
}

fn query(p: &Prometheus, q: &str) -> Result<usize, String> {
    let v = hvscope_testkit::get_json(p.addr, &format!("/api/v1/query?query={}", urlencode(q)))?;
    if v["status"] != "success" {
        return Err(format!("{v}"));
    }
    Ok(match &v["data"]["result"] {
        Value::Array(a) => a.len(),
        Value::Null => 0,
        _ => 1, // a scalar
    })
}

#[test]
fn every_dashboard_query_returns_data() {
    let Some((lab, bridge)) = ovs_lab() else {
        return;
    };
    let mut c = Cluster::new("dash");
    c.start_aggregator();
    let rules = repo().join("monitoring/prometheus/hvscope.rules.yml");
    let Some(prom) = Prometheus::start(
        "dash-prom",
        &format!(
            "global: {{evaluation_interval: 1s}}\nrule_files: ['{}']\nremote_read:\n  - url: http://{}/api/v1/read\n    read_recent: true\n",
            rules.display(),
            c.http
        ),
    ) else {
        return;
    };
    let vms = hypervisor_with_iscsi_disk();
    let iscsi = copy_dir(
        &repo().join("agent/tests/fixtures/iscsi-guest-failed"),
        "dash-iscsi",
    );
    let roots = [std::path::PathBuf::from("/"), vms, iscsi, lab.root.clone()];
    let mut agents = Vec::new();
    for (name, root) in NODES.iter().zip(&roots) {
        c.node_cert(name, 30);
        let ovs = if *name == "dash-ovs" {
            format!(
                "[host]\ndaemons = []\n[ovs]\nbridges = [\"{bridge}\"]\nmac_check_bridges = [\"{bridge}\"]\n"
            )
        } else {
            String::new()
        };
        let cfg = c.agent_config(
            &format!("{name}.toml"),
            name,
            &format!("host_root = \"{}\"", root.display()),
            &format!("[labels]\nrack = \"lab\"\n{ovs}"),
        );
        agents.push(c.start_agent(&cfg, &format!("{name}.log")));
    }
    wait_for(Duration::from_secs(60), || {
        (query(&prom, "hvscope_node_up == 1").ok()? == NODES.len()).then_some(())
    })
    .unwrap_or_else(|| panic!("nodes not up\n{}", c.aggregator_log()));
    // Rates and the recording rules' windows need a few samples.
    std::thread::sleep(Duration::from_secs(25));

    let mut failed = Vec::new();
    let mut checked = 0;
    for file in ["hvscope-fleet.json", "hvscope-node.json"] {
        let text = std::fs::read_to_string(repo().join("monitoring/grafana").join(file)).unwrap();
        let dash: Value = serde_json::from_str(&text).unwrap();
        // Template variable queries: query_result(<expr>) runs <expr>.
        for (name, _, q) in grafana::variables(&dash) {
            let Some(inner) = q
                .strip_prefix("query_result(")
                .and_then(|r| r.strip_suffix(')'))
            else {
                continue;
            };
            let inner = grafana::substitute(inner, &[("rack", "lab")]).unwrap();
            checked += 1;
            if !matches!(query(&prom, &inner), Ok(n) if n > 0) {
                failed.push(format!("{file} variable {name}: {inner}"));
            }
        }
        let mut by_query: Vec<(String, bool)> = Vec::new();
        for node in NODES {
            let vars = [
                ("rack", "lab"),
                ("node", node),
                ("datasource", "prometheus"),
            ];
            let queries = grafana::panel_queries(&dash, &vars).unwrap();
            if by_query.is_empty() {
                by_query = queries.iter().map(|q| (q.panel.clone(), false)).collect();
            }
            for (i, q) in queries.iter().enumerate() {
                match query(&prom, &q.expr) {
                    Ok(n) if n > 0 => by_query[i].1 = true,
                    Ok(_) => {}
                    Err(e) => {
                        failed.push(format!("{file} {}: {} is not valid: {e}", q.panel, q.expr))
                    }
                }
            }
        }
        let queries = grafana::panel_queries(&dash, &[("rack", "lab"), ("node", "$node")])
            .unwrap_or_default();
        for (i, (panel, ok)) in by_query.iter().enumerate() {
            checked += 1;
            if !ok {
                let expr = queries.get(i).map_or("", |q| q.expr.as_str());
                failed.push(format!("{file} {panel}: no data for any node: {expr}"));
            }
        }
    }
    println!("{checked} dashboard queries checked against real agents' data");
    assert!(
        failed.is_empty(),
        "{} queries without data:\n{}",
        failed.len(),
        failed.join("\n")
    );
    drop(agents);
}
