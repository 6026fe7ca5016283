//! The fleet load run (see `tests/benches/fleet.rs` for the report, `tests/tests/fleet_smoke.rs`
//! for CI's small run): backfill, steady state with a dashboard's remote-read beside it, an
//! in-place restart, and the same samples in Prometheus.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{NodeShape, SimNode, Values};
use crate::Cluster;
use crate::feed::post_write;
use crate::remote_read::{matcher, post_read, read_request};
use hvscope_aggregator::remote_read::proto::{
    Label, MatcherType, ResponseType, Sample, TimeSeries,
};
use hvscope_testkit::prom::Prometheus;
use hvscope_testkit::{http_get, metric_value, wait_for};

const INTERVAL_MS: i64 = 10_000;

fn now_ms() -> i64 {
    hvscope_common::clock::now_ms()
}

/// (utime + stime seconds, RSS bytes) of `pid`.
fn proc_usage(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let cpu = hvscope_parse::proc::pidstat::cpu_seconds(&stat).unwrap_or(0.0);
    let rss = hvscope_testkit::status_kib(&pid.to_string(), "VmRSS:") * 1024;
    (cpu, rss)
}

fn dir_bytes(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|d| {
            d.flatten()
                .map(|e| {
                    let m = e.metadata().ok();
                    if m.as_ref().is_some_and(|m| m.is_dir()) {
                        dir_bytes(&e.path())
                    } else {
                        m.map_or(0, |m| m.len())
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn wait_acked(nodes: &[SimNode], timeout: Duration) -> bool {
    wait_for(timeout, || {
        nodes.iter().all(|n| n.pending() == 0).then_some(())
    })
    .is_some()
}

/// What to run.
#[derive(Debug, Clone)]
pub struct FleetRun {
    pub nodes: usize,
    /// Series per node (about).
    pub series_per_node: usize,
    /// History sent first, in 10-s steps.
    pub hold_steps: u64,
    /// Seconds of steady 10-s collections measured.
    pub measure_secs: u64,
    /// Also write the same samples to a Prometheus 2.42.
    pub prometheus: bool,
    /// How the simulated values move.
    pub values: Values,
    /// The aggregator's `[storage] chunks_on_disk` (closed chunks off the heap).
    pub chunks_on_disk: bool,
    /// The simulated agents' stream compression (an agent's default: none).
    pub compression: hvscope_agent::config::Compression,
}

/// What was measured (also printed as it goes).
#[derive(Debug, Clone, Default)]
pub struct FleetReport {
    pub series: usize,
    pub backfill_samples: usize,
    pub backfill_samples_per_sec: f64,
    pub rss_per_series_bytes: f64,
    /// Chunk bytes the aggregator held in its chunk files after the backfill.
    pub chunk_disk_bytes: f64,
    pub wal_bytes_per_sample: f64,
    pub steady_samples_per_sec: f64,
    pub steady_cores: f64,
    pub read_p50_secs: f64,
    pub read_p99_secs: f64,
    pub reads: usize,
    pub restart_serving_secs: f64,
    pub restart_acking_secs: f64,
    /// Prometheus: RSS per series and WAL bytes per sample (0 when not run).
    pub prom_rss_per_series_bytes: f64,
    pub prom_wal_bytes_per_sample: f64,
}

/// Runs the fleet load against a fresh aggregator (the binaries of this target directory).
pub fn run(cfg: &FleetRun) -> FleetReport {
    let FleetRun {
        nodes: n_nodes,
        series_per_node: per_node,
        hold_steps,
        measure_secs,
        prometheus: with_prometheus,
        values,
        chunks_on_disk,
        compression,
    } = cfg.clone();
    let mut report = FleetReport::default();
    let mut c = Cluster::new("fleet");
    let wal = c.dir.join("wal");
    let cfg = c.dir.join("aggregator.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "[storage]\nwal_dir = \"{}\"\nwal_fsync = true\nretention_secs = 86400\nchunks_on_disk = {chunks_on_disk}\n",
        wal.display()
    ));
    std::fs::write(&cfg, text).unwrap();
    c.start_aggregator();
    let certs = c.certs();
    for i in 0..n_nodes {
        hvscope_aggregator::certs::node(&certs, &format!("node-{i:05}"), &certs, 30)
            .expect("node certificate");
    }
    hvscope_common::tls::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let grpc = format!("127.0.0.1:{}", c.grpc_port);
    let mut nodes: Vec<SimNode> = (0..n_nodes)
        .map(|i| {
            let rack = format!("r{}", i / 40);
            SimNode::start(
                &rt,
                i,
                (per_node, values, compression),
                &grpc,
                &certs,
                &rack,
                stop.clone(),
            )
        })
        .collect();
    let series: usize = nodes.iter().map(|n| n.shape.series()).sum();
    report.series = series;
    println!(
        "fleet: {n_nodes} nodes × ~{per_node} series = {series} series; history {} steps of 10 s",
        hold_steps
    );

    // 1. Backfill.
    let t0 = now_ms() - hold_steps as i64 * INTERVAL_MS;
    let started = Instant::now();
    let mut sent = 0usize;
    for step in 0..hold_steps as i64 {
        for n in &mut nodes {
            sent += n.push(t0 + step * INTERVAL_MS);
        }
        // Keep a few batches in flight per node, not the whole history in memory.
        while nodes.iter().any(|n| n.pending() > 4) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert!(
        wait_acked(&nodes, Duration::from_secs(600)),
        "backfill not acked"
    );
    let took = started.elapsed().as_secs_f64();
    let pid = c.aggregator.as_ref().unwrap().child.id();
    let (cpu_backfill, rss_held) = proc_usage(pid);
    let wal_backfill = dir_bytes(&wal);
    let m = http_get(c.http, "/metrics")
        .map(|r| r.1)
        .unwrap_or_default();
    let figure = |name: &str| metric_value(&m, name).unwrap_or(0.0);
    let disk = figure("hvscope_aggregator_tsdb_chunk_disk_bytes");
    report.chunk_disk_bytes = disk;
    let (chunk, per_series, held) = (
        figure("hvscope_aggregator_tsdb_chunk_bytes") - disk,
        figure("hvscope_aggregator_tsdb_series_overhead_bytes"),
        figure("hvscope_aggregator_tsdb_series"),
    );
    let overhead = per_series * held;
    println!(
        "  the head's own accounting: {held:.0} series, chunks on the heap {:.1} MiB and in chunk files {:.1} MiB \
         ({:.2} B/sample in all), series overhead {:.1} MiB ({:.0} B/series); RSS beyond heap chunks and overhead {:.1} MiB",
        chunk / (1 << 20) as f64,
        disk / (1 << 20) as f64,
        (chunk + disk) / sent as f64,
        overhead / (1 << 20) as f64,
        per_series,
        (rss_held as f64 - chunk - overhead) / (1 << 20) as f64
    );
    report.backfill_samples = sent;
    report.backfill_samples_per_sec = sent as f64 / took;
    report.rss_per_series_bytes = rss_held as f64 / series as f64;
    report.wal_bytes_per_sample = wal_backfill as f64 / sent as f64;
    println!(
        "backfill: {sent} samples in {took:.1} s = {:.0} samples/s; aggregator CPU {cpu_backfill:.1} s \
         ({:.2} cores); RSS {:.1} MiB = {:.0} B per series with {} samples each; WAL {:.1} MiB = {:.2} B/sample",
        sent as f64 / took,
        cpu_backfill / took,
        rss_held as f64 / (1 << 20) as f64,
        rss_held as f64 / series as f64,
        hold_steps,
        wal_backfill as f64 / (1 << 20) as f64,
        wal_backfill as f64 / sent as f64
    );

    // 2. Steady state, with a dashboard's remote-read beside it.
    let reader_stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let http = c.http;
    let rs = reader_stop.clone();
    let reader = std::thread::spawn(move || {
        let mut lat = Vec::new();
        let mut i = 0;
        while !rs.load(std::sync::atomic::Ordering::Relaxed) {
            let node = format!("node-{:05}", i % n_nodes.max(1));
            i += 7;
            let end = now_ms();
            let req = read_request(
                end - 3_600_000,
                end,
                vec![
                    matcher(MatcherType::Eq, "__name__", "hvscope_vm_cpu_seconds_total"),
                    matcher(MatcherType::Eq, "node", &node),
                ],
                &[ResponseType::StreamedXorChunks as i32],
            );
            let t = Instant::now();
            let r = post_read(http, &req);
            if r.status == 200 {
                lat.push(t.elapsed().as_secs_f64());
            }
            std::thread::sleep(Duration::from_millis(1000));
        }
        lat
    });
    let before_m = http_get(http, "/metrics").map(|r| r.1).unwrap_or_default();
    let samples0 =
        metric_value(&before_m, "hvscope_aggregator_samples_received_total").unwrap_or(0.0);
    let (cpu0, _) = proc_usage(pid);
    let wal0 = dir_bytes(&wal);
    let started = Instant::now();
    let mut next = Instant::now();
    let steps = measure_secs.div_ceil(10).max(1);
    for _ in 0..steps {
        let ts = now_ms();
        for n in &mut nodes {
            n.push(ts);
        }
        next += Duration::from_secs(10);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    assert!(
        wait_acked(&nodes, Duration::from_secs(120)),
        "steady batches not acked"
    );
    let wall = started.elapsed().as_secs_f64();
    reader_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut lat = reader.join().unwrap();
    let (cpu1, rss1) = proc_usage(pid);
    let after_m = http_get(http, "/metrics").map(|r| r.1).unwrap_or_default();
    let samples1 =
        metric_value(&after_m, "hvscope_aggregator_samples_received_total").unwrap_or(0.0);
    let wal1 = dir_bytes(&wal);
    let ds = samples1 - samples0;
    report.steady_samples_per_sec = ds / wall;
    report.steady_cores = (cpu1 - cpu0) / wall;
    report.reads = lat.len();
    report.read_p50_secs = percentile(&mut lat, 0.5);
    report.read_p99_secs = percentile(&mut lat, 0.99);
    println!(
        "steady: {ds:.0} samples in {wall:.1} s = {:.0} samples/s; aggregator {:.3} cores = {:.2} µs CPU per sample; \
         RSS {:.1} MiB; WAL +{:.1} MiB = {:.2} B/sample; remote-read (1 node's VM CPU, 1 h) p50 {:.1} ms, p99 {:.1} ms over {} reads",
        ds / wall,
        (cpu1 - cpu0) / wall,
        (cpu1 - cpu0) / ds * 1e6,
        rss1 as f64 / (1 << 20) as f64,
        (wal1.saturating_sub(wal0)) as f64 / (1 << 20) as f64,
        wal1.saturating_sub(wal0) as f64 / ds,
        percentile(&mut lat, 0.5) * 1e3,
        percentile(&mut lat, 0.99) * 1e3,
        lat.len()
    );

    // 3. In-place restart.
    let restart = Instant::now();
    if let Some(p) = c.aggregator.as_mut() {
        p.kill();
    }
    c.start_aggregator_within(Duration::from_secs(1200));
    let healthy = restart.elapsed().as_secs_f64();
    let end = now_ms();
    let probe = read_request(
        end - 60_000,
        end,
        vec![matcher(MatcherType::Eq, "__name__", "hvscope_vm_info")],
        &[ResponseType::StreamedXorChunks as i32],
    );
    wait_for(Duration::from_secs(600), || {
        (post_read(c.http, &probe).status == 200).then_some(())
    })
    .expect("remote-read after restart");
    let serving = restart.elapsed().as_secs_f64();
    let ts = now_ms();
    for n in &mut nodes {
        n.push(ts);
    }
    assert!(
        wait_acked(&nodes, Duration::from_secs(600)),
        "not acked after restart"
    );
    let acking = restart.elapsed().as_secs_f64();
    report.restart_serving_secs = serving;
    report.restart_acking_secs = acking;
    let log = c.aggregator_log();
    let replay = log
        .lines()
        .find(|l| l.contains("wal replayed"))
        .unwrap_or("")
        .to_owned();
    println!(
        "restart (kill -9, WAL {:.1} MiB): HTTP up {healthy:.1} s, remote-read {serving:.1} s, every node acked {acking:.1} s\n  {replay}",
        dir_bytes(&wal) as f64 / (1 << 20) as f64
    );
    let _ = stop_tx.send(true);

    // 4. The same samples in Prometheus.
    if !with_prometheus {
        return report;
    }
    let Some(prom) = Prometheus::start_with_flags(
        "fleet-prom",
        "global:\n  scrape_interval: 1h\n",
        &["--web.enable-remote-write-receiver"],
    ) else {
        return report;
    };
    let ppid = prom.proc.child.id();
    let (pcpu0, prss0) = proc_usage(ppid);
    let started = Instant::now();
    let mut shapes: Vec<NodeShape> = (0..n_nodes)
        .map(|i| NodeShape::with_values(i, per_node, values))
        .collect();
    let mut buf = hvscope_agent::series::SeriesBuf::default();
    let mut written = 0usize;
    for step in 0..hold_steps as i64 {
        let ts = t0 + step * INTERVAL_MS;
        let mut timeseries = Vec::new();
        for (i, s) in shapes.iter_mut().enumerate() {
            s.collect(&mut buf);
            for x in &buf.samples {
                let mut labels: Vec<Label> = x
                    .labels
                    .pairs()
                    .map(|(name, value)| Label {
                        name: name.to_owned(),
                        value: value.to_owned(),
                    })
                    .collect();
                labels.push(Label {
                    name: "node".into(),
                    value: format!("node-{i:05}"),
                });
                labels.push(Label {
                    name: "rack".into(),
                    value: format!("r{}", i / 40),
                });
                labels.sort_by(|a, b| a.name.cmp(&b.name));
                timeseries.push(TimeSeries {
                    labels,
                    samples: vec![Sample {
                        value: x.value,
                        timestamp: ts,
                    }],
                });
            }
            if timeseries.len() >= 20_000 {
                written += timeseries.len();
                send(prom.addr, std::mem::take(&mut timeseries));
            }
        }
        written += timeseries.len();
        send(prom.addr, timeseries);
    }
    let took = started.elapsed().as_secs_f64();
    let (pcpu1, prss1) = proc_usage(ppid);
    let pwal = dir_bytes(&prom.dir.join("data/wal"));
    println!(
        "prometheus 2.42, same {written} samples over remote-write in {took:.1} s: CPU {:.1} s; RSS {:.1} MiB \
         (+{:.1}) = {:.0} B per series; WAL {:.1} MiB = {:.2} B/sample",
        pcpu1 - pcpu0,
        prss1 as f64 / (1 << 20) as f64,
        (prss1.saturating_sub(prss0)) as f64 / (1 << 20) as f64,
        prss1 as f64 / series as f64,
        pwal as f64 / (1 << 20) as f64,
        pwal as f64 / written as f64
    );
    report.prom_rss_per_series_bytes = prss1 as f64 / series as f64;
    report.prom_wal_bytes_per_sample = pwal as f64 / written as f64;
    println!(
        "ratios hvscope/prometheus: RSS per series {:.2}, WAL bytes per sample {:.2}",
        rss_held as f64 / prss1 as f64,
        (wal_backfill as f64 / sent as f64) / (pwal as f64 / written as f64)
    );
    report
}

fn send(addr: std::net::SocketAddr, timeseries: Vec<TimeSeries>) {
    if !timeseries.is_empty() {
        post_write(addr, timeseries, "of the fleet's samples");
    }
}
