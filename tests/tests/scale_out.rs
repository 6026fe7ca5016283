//! Beyond one aggregator, with the real binaries (DESIGN.md §2, README "Scale and long-term
//! storage"):
//!
//! - An HA pair: the agent sends every batch to both; Prometheus lists both under
//!   `remote_read`. With one killed, PromQL answers for the fleet are unchanged; after it
//!   returns (its WAL replayed, the agent's spool re-sent), nothing is counted twice. Both
//!   remote-write to one VictoriaMetrics with `-dedup.minScrapeInterval=1ms`, which keeps each
//!   sample once.
//! - Shards by rack: two aggregators, four agents in two racks, each agent told its aggregator
//!   and rack by its kernel command line (`hvscope.aggregator=`, `hvscope.rack=`, read from a
//!   fixture host root). Prometheus over both sees all four nodes; a whole rack going silent
//!   raises `hvscope_rack_down` for it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use hvscope_aggregator::remote_read::proto::MatcherType;
use hvscope_e2e::Cluster;
use hvscope_e2e::receivers::{
    configure, query, remote_read_raw, target, vm_export, wait_caught_up,
};
use hvscope_e2e::remote_read::matcher;
use hvscope_testkit::prom::Prometheus;
use hvscope_testkit::vm::VictoriaMetrics;
use hvscope_testkit::{
    Proc, bin, copy_dir, free_port, get_json, http_get, path_str, repo, wait_for,
};

const T: Duration = Duration::from_secs(30);

/// A second aggregator from the cluster's config: its own ports and WAL, the same PKI.
struct Second {
    cfg: PathBuf,
    http: SocketAddr,
    grpc: u16,
    log_dir: PathBuf,
    proc: Option<Proc>,
    starts: u32,
}

impl Second {
    fn new(c: &Cluster, tag: &str) -> Self {
        let grpc = free_port();
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let text = std::fs::read_to_string(c.dir.join("aggregator.toml"))
            .unwrap()
            .replace(
                &format!("127.0.0.1:{}", c.grpc_port),
                &format!("127.0.0.1:{grpc}"),
            )
            .replace(&c.http.to_string(), &http.to_string())
            .replace("/wal\"", &format!("/wal-{tag}\""));
        let cfg = c.dir.join(&format!("aggregator-{tag}.toml"));
        std::fs::write(&cfg, text).unwrap();
        Self {
            cfg,
            http,
            grpc,
            log_dir: c.dir.0.clone(),
            proc: None,
            starts: 0,
        }
    }

    fn start(&mut self) {
        self.starts += 1;
        let log = self.log_dir.join(format!(
            "{}-{}.log",
            self.cfg.file_stem().unwrap().to_string_lossy(),
            self.starts
        ));
        self.proc = Some(Proc::spawn(
            &bin("hvscope-aggregator"),
            &["serve", "--config", path_str(&self.cfg)],
            &[("RUST_LOG", "info")],
            log,
        ));
        let http = self.http;
        wait_for(T, || http_get(http, "/-/healthy").ok()).expect("second aggregator up");
    }

    fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }
}

fn last_seq(http: SocketAddr, node: &str) -> Option<u64> {
    let v = get_json(http, "/api/v1/nodes").ok()?;
    v["nodes"].as_array()?.iter().find(|n| n["node"] == node)?["last_seq"].as_u64()
}

fn prometheus_over(tag: &str, aggregators: &[SocketAddr]) -> Option<Prometheus> {
    let mut y = "global:\n  scrape_interval: 1h\nremote_read:\n".to_owned();
    for a in aggregators {
        y.push_str(&format!(
            "  - url: http://{a}/api/v1/read\n    read_recent: true\n    remote_timeout: 5s\n"
        ));
    }
    Prometheus::start(tag, &y)
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn an_ha_pair_answers_alike_with_one_down_and_counts_nothing_twice() {
    let Some(vm) = VictoriaMetrics::start("ha-vm", &["-dedup.minScrapeInterval=1ms"]) else {
        return;
    };
    let mut c = Cluster::new("ha-pair");
    configure(
        &c,
        &target("vm", &format!("http://{}/api/v1/write", vm.addr), ""),
    );
    c.start_aggregator();
    let mut b = Second::new(&c, "b");
    b.start();
    let Some(prom) = prometheus_over("ha-reader", &[c.http, b.http]) else {
        return;
    };
    c.node_cert("node-a", 30);
    let cfg = c.agent_config("agent.toml", "node-a", "", "[labels]\nrack = \"r1\"");
    let text = std::fs::read_to_string(&cfg).unwrap().replacen(
        &format!("aggregators = [\"127.0.0.1:{}\"]", c.grpc_port),
        &format!(
            "aggregators = [\"127.0.0.1:{}\", \"127.0.0.1:{}\"]",
            c.grpc_port, b.grpc
        ),
        1,
    );
    std::fs::write(&cfg, text).unwrap();
    let mut agent = c.start_agent(&cfg, "agent.log");
    wait_for(T, || {
        last_seq(c.http, "node-a")
            .filter(|s| *s >= 8)
            .and(last_seq(b.http, "node-a").filter(|s| *s >= 8))
    })
    .unwrap_or_else(|| panic!("both aggregators receive: {}", agent.log()));

    let sel = "hvscope_host_cpu_seconds_total{node=\"node-a\"}";
    let queries = [
        format!("count({sel})"),
        format!("sum({sel})"),
        format!("sum(count_over_time({sel}[5m]))"),
        format!("sum(rate({sel}[30s]))"),
    ];
    let t1 = now_s() - 2.0;
    let both: Vec<_> = queries.iter().map(|q| query(prom.addr, q, t1)).collect();
    assert!(both.iter().all(|a| !a.is_empty()), "{both:?}");
    b.kill();
    let one: Vec<_> = queries.iter().map(|q| query(prom.addr, q, t1)).collect();
    assert_eq!(
        one, both,
        "with one of the pair down the answers are unchanged"
    );
    // Down for a while; the agent's spool keeps what B misses.
    std::thread::sleep(Duration::from_secs(5));
    b.start();
    let now_a = last_seq(c.http, "node-a").unwrap();
    wait_for(T, || last_seq(b.http, "node-a").filter(|s| *s >= now_a))
        .unwrap_or_else(|| panic!("B catches up: {}", agent.log()));
    agent.kill();
    let frozen = wait_for(T, || {
        let (a, b) = (last_seq(c.http, "node-a")?, last_seq(b.http, "node-a")?);
        (a == b).then_some(a)
    })
    .expect("both have every batch");
    let t2 = now_s();
    let again: Vec<_> = queries[..2]
        .iter()
        .map(|q| query(prom.addr, q, t1))
        .collect();
    assert_eq!(again, both[..2], "after the return, the same answers at t1");

    // Not double-counted: the samples per series over both are those of one of them.
    let raw_a = remote_read_raw(
        c.http,
        vec![
            matcher(
                MatcherType::Eq,
                "__name__",
                "hvscope_host_cpu_seconds_total",
            ),
            matcher(MatcherType::Eq, "node", "node-a"),
        ],
    );
    let non_stale = |v: &Vec<(i64, u64)>, from: f64| {
        v.iter()
            .filter(|s| s.1 != hvscope_e2e::feed::STALE_NAN && s.0 as f64 > from * 1000.0)
            .count()
    };
    let want: usize = raw_a.values().map(|v| non_stale(v, t2 - 600.0)).sum();
    let counted = query(prom.addr, &format!("sum(count_over_time({sel}[10m]))"), t2);
    assert_eq!(
        counted[0].1[0].1,
        want.to_string(),
        "every sample once, over {frozen} batches"
    );
    // Both remote-write; VictoriaMetrics keeps each sample once.
    wait_caught_up(&c, "vm", T);
    vm.flush();
    let want_vm: usize = raw_a.values().map(|v| non_stale(v, 0.0)).sum();
    let got = wait_for(Duration::from_secs(20), || {
        vm.flush();
        let g: usize = vm_export(vm.addr, sel)
            .values()
            .map(|v| non_stale(v, 0.0))
            .sum();
        (g == want_vm).then_some(g)
    });
    assert_eq!(
        got,
        Some(want_vm),
        "victoria-metrics deduplicates the pair: {:?}",
        vm_export(vm.addr, sel)
            .values()
            .map(Vec::len)
            .sum::<usize>()
    );
}

/// A copy of a fixture host root whose kernel command line names the agent's aggregator and
/// rack, as PXE would.
fn host_root(tag: &str, aggregator_port: u16, rack: &str) -> PathBuf {
    let root = copy_dir(
        &repo().join("agent/tests/fixtures/libvirt-kvm-2vm"),
        &format!("shard-{tag}"),
    );
    std::fs::write(
        root.join("proc/cmdline"),
        format!("quiet hvscope.aggregator=127.0.0.1:{aggregator_port} hvscope.rack={rack}\n"),
    )
    .unwrap();
    root
}

#[test]
fn shards_by_rack_see_the_whole_fleet_and_a_rack_down() {
    let mut c = Cluster::new("shards");
    configure(&c, "");
    c.start_aggregator();
    let mut s2 = Second::new(&c, "s2");
    s2.start();
    let Some(prom) = prometheus_over("shards-reader", &[c.http, s2.http]) else {
        return;
    };
    let mut agents = Vec::new();
    let mut roots = Vec::new();
    for (i, (rack, port)) in [
        ("r1", c.grpc_port),
        ("r1", c.grpc_port),
        ("r2", s2.grpc),
        ("r2", s2.grpc),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("node-{i}");
        c.node_cert(&name, 30);
        let root = host_root(&name, port, rack);
        let cfg = c.agent_config(&format!("{name}.toml"), &name, "", "");
        // No aggregators and no rack in the file: both come from the kernel command line.
        let text = std::fs::read_to_string(&cfg).unwrap().replacen(
            &format!("aggregators = [\"127.0.0.1:{}\"]\n", c.grpc_port),
            &format!("host_root = \"{}\"\n", root.display()),
            1,
        );
        std::fs::write(&cfg, text).unwrap();
        agents.push(c.start_agent(&cfg, &format!("{name}.log")));
        roots.push(root);
    }
    let up = |q: &str| {
        let r = query(prom.addr, q, now_s());
        r.first().map(|a| a.1[0].1.clone())
    };
    wait_for(T, || up("count(hvscope_node_up == 1)").filter(|v| v == "4")).unwrap_or_else(|| {
        panic!(
            "all four nodes up over both shards: {:?}\n{}",
            query(prom.addr, "hvscope_node_up", now_s()),
            agents[0].log()
        )
    });
    let by_rack = query(prom.addr, "count by (rack) (hvscope_node_up)", now_s());
    assert_eq!(by_rack.len(), 2, "{by_rack:?}");
    assert!(by_rack.iter().all(|(_, v)| v[0].1 == "2"), "{by_rack:?}");
    // each shard holds only its rack's nodes
    let on = |http: SocketAddr| {
        let v = get_json(http, "/api/v1/nodes").unwrap();
        let mut n: Vec<String> = v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["node"].as_str().unwrap().to_owned())
            .collect();
        n.sort();
        n
    };
    assert_eq!(on(c.http), ["node-0", "node-1"]);
    assert_eq!(on(s2.http), ["node-2", "node-3"]);
    let fleet = query(
        prom.addr,
        "count(count by (node) ({__name__=~\"hvscope_host_.+\"}))",
        now_s(),
    );
    assert_eq!(fleet[0].1[0].1, "4", "fleet-wide queries see all four");

    // Rack r1 loses power.
    agents[0].kill();
    agents[1].kill();
    wait_for(T, || {
        up("hvscope_rack_down{rack=\"r1\"}").filter(|v| v == "1")
    })
    .unwrap_or_else(|| {
        panic!(
            "rack r1 down: {:?}",
            query(prom.addr, "hvscope_rack_down", now_s())
        )
    });
    assert_eq!(
        up("hvscope_rack_down{rack=\"r2\"}").as_deref(),
        Some("0"),
        "rack r2 is fine"
    );
    assert_eq!(up("count(hvscope_node_up == 1)").as_deref(), Some("2"));
    drop(agents);
    for r in roots {
        let _ = std::fs::remove_dir_all(r);
    }
}
