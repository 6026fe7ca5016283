//! Remote-write from the real aggregator binary to real receivers: Prometheus 2.42 with
//! `--web.enable-remote-write-receiver` (strict: it refuses out-of-order samples) and
//! VictoriaMetrics, fed by the real agent reading this machine.
//!
//! - What the receivers hold equals what the aggregator serves over remote-read, sample for
//!   sample (stale markers included), and PromQL (`rate`, `sum by`, raw `x[10m]`) answers the
//!   same over the receiver as over the aggregator's remote-read.
//! - The receiver down for 60 s while the agent streams, the aggregator `kill -9`ed during the
//!   outage, both back: the receiver has every sample the aggregator acknowledged, none twice.
//! - A receiver that hangs: that target's memory stays bounded, the other target and ingest
//!   are unaffected.

use std::time::{Duration, Instant};

use hvscope_aggregator::remote_read::proto::MatcherType;
use hvscope_e2e::Cluster;
use hvscope_e2e::receivers::{
    self, LIVENESS, Raw, configure, node_series, query, remote_read_raw, rw_metric, target,
    vm_export, wait_caught_up,
};
use hvscope_e2e::remote_read::matcher;
use hvscope_testkit::prom::Prometheus;
use hvscope_testkit::vm::VictoriaMetrics;
use hvscope_testkit::{Proc, wait_for};

const T: Duration = Duration::from_secs(30);

fn receiver(tag: &str) -> Option<Prometheus> {
    Prometheus::start_with_flags(
        tag,
        "global:\n  scrape_interval: 1h\n",
        &["--web.enable-remote-write-receiver"],
    )
}

/// A Prometheus reading the aggregator over remote-read only.
fn reader(c: &Cluster, tag: &str) -> Option<Prometheus> {
    Prometheus::start(
        tag,
        &format!(
            "global:\n  scrape_interval: 1h\nremote_read:\n  - url: http://{}/api/v1/read\n    read_recent: true\n",
            c.http
        ),
    )
}

fn agent_running(c: &Cluster, node: &str, batches: u64, agent: &Proc) {
    wait_for(T, || {
        c.node(node, false)
            .filter(|n| n["batches"].as_u64() >= Some(batches))
    })
    .unwrap_or_else(|| panic!("no batches\n{}\n{}", c.aggregator_log(), agent.log()));
}

fn total(r: &Raw) -> usize {
    r.values().map(Vec::len).sum()
}

fn stale(r: &Raw) -> usize {
    r.values()
        .flatten()
        .filter(|(_, v)| *v == hvscope_e2e::feed::STALE_NAN)
        .count()
}

/// Every sample in `got` that is not in `want` and the reverse, for a readable failure.
fn diff(want: &Raw, got: &Raw) -> String {
    let mut o = String::new();
    for (l, w) in want {
        let g = got.get(l).cloned().unwrap_or_default();
        if &g != w {
            let missing = w.iter().filter(|s| !g.contains(s)).count();
            let extra = g.iter().filter(|s| !w.contains(s)).count();
            o.push_str(&format!("{l:?}: {missing} missing, {extra} extra\n"));
        }
    }
    for l in got.keys().filter(|l| !want.contains_key(*l)) {
        o.push_str(&format!("{l:?}: only in the receiver\n"));
    }
    o
}

/// The same series and timestamps, and values equal to a relative 1e-11.
fn close(a: &Raw, b: &Raw) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((la, va), (lb, vb))| {
            la == lb
                && va.len() == vb.len()
                && va.iter().zip(vb).all(|(x, y)| {
                    let (fx, fy) = (f64::from_bits(x.1), f64::from_bits(y.1));
                    x.0 == y.0 && (fx == fy || (fx - fy).abs() <= 1e-11 * fx.abs().max(fy.abs()))
                })
        })
}

/// What `read` returns once it equals `want` (the last stale markers may still be on their
/// way), or after 15 s.
fn settled(want: &Raw, mut read: impl FnMut() -> Raw) -> Raw {
    wait_for(Duration::from_secs(15), || {
        Some(read()).filter(|g| g == want)
    })
    .unwrap_or_else(read)
}

#[test]
fn receivers_hold_what_remote_read_serves() {
    let Some(prom) = receiver("rw-prom") else {
        return;
    };
    let Some(vm) = VictoriaMetrics::start("rw-vm", &[]) else {
        return;
    };
    let mut c = Cluster::new("rw-same");
    configure(
        &c,
        &format!(
            "{}{}",
            target("prom", &format!("http://{}/api/v1/write", prom.addr), ""),
            target("vm", &format!("http://{}/api/v1/write", vm.addr), "")
        ),
    );
    c.start_aggregator();
    let Some(rd) = reader(&c, "rw-reader") else {
        return;
    };
    c.node_cert("node-a", 30);
    let cfg = c.agent_config("agent.toml", "node-a", "", "[labels]\nrack = \"r1\"");
    let mut agent = c.start_agent(&cfg, "agent.log");
    agent_running(&c, "node-a", 15, &agent);
    let last_ms = c.node("node-a", false).unwrap()["last_seen_ms"]
        .as_i64()
        .unwrap();
    // Silent: after node_stale_after_secs (3) every series gets its stale marker.
    agent.kill();
    wait_for(T, || {
        c.node("node-a", true)
            .filter(|n| n["series"].as_u64() == Some(0))
    })
    .expect("node declared stale");
    for t in ["prom", "vm"] {
        wait_caught_up(&c, t, T);
    }

    let want = remote_read_raw(c.http, node_series("node-a"));
    assert!(stale(&want) > 10, "stale markers in the aggregator");
    let got = settled(&want, || remote_read_raw(prom.addr, node_series("node-a")));
    assert_eq!(total(&got), total(&want), "{}", diff(&want, &got));
    assert!(got == want, "prometheus receiver:\n{}", diff(&want, &got));
    // The liveness series, logged once per tick, arrive too (up to the newest tick read).
    let up = || {
        vec![
            matcher(MatcherType::Eq, "__name__", "hvscope_node_up"),
            matcher(MatcherType::Eq, "node", "node-a"),
        ]
    };
    let want_up = remote_read_raw(c.http, up());
    let newest = want_up
        .values()
        .flatten()
        .map(|s| s.0)
        .max()
        .expect("node_up samples");
    let upto = |r: Raw| -> Raw {
        r.into_iter()
            .map(|(l, v)| (l, v.into_iter().filter(|s| s.0 <= newest).collect()))
            .collect()
    };
    let got_up = settled(&want_up, || upto(remote_read_raw(prom.addr, up())));
    assert!(got_up == want_up, "node_up:\n{}", diff(&want_up, &got_up));

    vm.flush();
    let sel = format!("{{node=\"node-a\",__name__!~\"{LIVENESS}\"}}");
    let got_vm = wait_for(Duration::from_secs(10), || {
        let g = vm_export(vm.addr, &sel);
        (total(&g) >= total(&want) - stale(&want)).then_some(g)
    })
    .unwrap_or_else(|| vm_export(vm.addr, &sel));
    // VictoriaMetrics 1.79 keeps no stale markers (it drops NaN samples): every other sample.
    let no_markers: Raw = want
        .iter()
        .map(|(l, v)| {
            let v: Vec<(i64, u64)> = v
                .iter()
                .copied()
                .filter(|s| s.1 != hvscope_e2e::feed::STALE_NAN)
                .collect();
            (l.clone(), v)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let got_vm_values: Raw = got_vm
        .into_iter()
        .map(|(l, v)| {
            let v: Vec<(i64, u64)> = v
                .into_iter()
                .filter(|s| s.1 != hvscope_e2e::feed::STALE_NAN)
                .collect();
            (l, v)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    // VictoriaMetrics stores floats as decimals with 12 significant digits at most, so a
    // value with more comes back rounded: same series and timestamps, values within 1e-11.
    assert!(
        close(&got_vm_values, &no_markers),
        "victoria-metrics:\n{}",
        diff(&no_markers, &got_vm_values)
    );

    // PromQL over the receiver equals PromQL over the aggregator's remote-read.
    let at = (last_ms - 2000) as f64 / 1000.0;
    let sel = format!("node=\"node-a\",__name__!~\"{LIVENESS}\"");
    let queries = [
        format!("{{{sel}}}[10m]"),
        "sum by (mode) (rate(hvscope_host_cpu_seconds_total{node=\"node-a\"}[30s]))".to_owned(),
        "sum by (interface) (rate(hvscope_net_receive_bytes_total{node=\"node-a\"}[30s]))"
            .to_owned(),
        format!("sum by (__name__) ({{{sel}}})"),
        format!("count({{{sel}}})"),
    ];
    for q in &queries {
        let a = query(rd.addr, q, at);
        let b = query(prom.addr, q, at);
        assert!(!a.is_empty(), "{q}: empty over remote-read");
        assert_eq!(a, b, "{q}");
    }
    // Over VictoriaMetrics the raw samples compare (above), not PromQL: MetricsQL's `rate`
    // does not extrapolate, and around a series that ended (a stale marker) its range and
    // instant selectors answer differently from Prometheus', by design.
    let m = c.metrics();
    for t in ["prom", "vm"] {
        assert_eq!(rw_metric(&c, "samples_failed_total", t), 0.0, "{m}");
        // the node's series and the liveness series, which go on every tick
        assert!(
            receivers::rw_metric(&c, "samples_sent_total", t) as usize
                >= total(&want) + total(&want_up),
            "{t}: {m}"
        );
    }
}

#[test]
fn a_60_s_receiver_outage_with_a_kill_9_loses_nothing() {
    let Some(mut prom) = receiver("rw-outage") else {
        return;
    };
    let mut c = Cluster::new("rw-outage");
    configure(
        &c,
        &target("prom", &format!("http://{}/api/v1/write", prom.addr), ""),
    );
    c.start_aggregator();
    c.node_cert("node-a", 30);
    let cfg = c.agent_config("agent.toml", "node-a", "", "[labels]\nrack = \"r1\"");
    let mut agent = c.start_agent(&cfg, "agent.log");
    agent_running(&c, "node-a", 3, &agent);
    wait_caught_up(&c, "prom", T);

    let outage = Instant::now();
    prom.stop();
    std::thread::sleep(Duration::from_secs(20));
    let sent_before = rw_metric(&c, "samples_sent_total", "prom");
    assert!(
        rw_metric(&c, "pending_samples", "prom") > 0.0,
        "samples wait for the receiver"
    );
    assert!(rw_metric(&c, "samples_retried_total", "prom") > 0.0);
    // kill -9 during the outage, straight back (the agent's spool covers the gap)
    c.aggregator.as_mut().unwrap().kill();
    c.start_aggregator();
    std::thread::sleep(Duration::from_secs(60).saturating_sub(outage.elapsed()));
    prom.restart();
    let outage_s = outage.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(3));
    agent.kill();
    wait_for(T, || {
        c.node("node-a", true)
            .filter(|n| n["series"].as_u64() == Some(0))
    })
    .expect("node declared stale");
    wait_caught_up(&c, "prom", Duration::from_secs(60));

    let want = remote_read_raw(c.http, node_series("node-a"));
    let got = settled(&want, || remote_read_raw(prom.addr, node_series("node-a")));
    eprintln!(
        "outage {outage_s:.1} s; aggregator {} samples in {} series ({} stale markers); \
         sent before the kill {sent_before}",
        total(&want),
        want.len(),
        stale(&want)
    );
    assert!(got == want, "after the outage:\n{}", diff(&want, &got));
    let m = c.metrics();
    assert_eq!(
        receivers::rw_metric_reason(&c, "refused"),
        0.0,
        "nothing refused: {m}"
    );
    assert_eq!(rw_metric(&c, "wal_segments_missed_total", "prom"), 0.0);
}

#[test]
fn a_hung_receiver_costs_bounded_memory_and_slows_nothing_else() {
    let Some(prom) = receiver("rw-hang-ok") else {
        return;
    };
    // Accepts connections and never answers.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_addr = hung.local_addr().unwrap();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for s in hung.incoming().take(64) {
            conns.push(s);
        }
    });
    let mut c = Cluster::new("rw-hang");
    let capacity = 2000;
    configure(
        &c,
        &format!(
            "{}{}capacity = {capacity}\nshards = 1\nmax_samples_per_send = 500\ntimeout_secs = 5\n",
            target("prom", &format!("http://{}/api/v1/write", prom.addr), ""),
            target("hung", &format!("http://{hung_addr}/api/v1/write"), "")
        ),
    );
    c.start_aggregator();
    c.node_cert("node-a", 30);
    let cfg = c.agent_config("agent.toml", "node-a", "", "");
    let agent = c.start_agent(&cfg, "agent.log");
    agent_running(&c, "node-a", 3, &agent);
    let pid = c.aggregator.as_ref().unwrap().child.id();
    let rss = || {
        let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            .unwrap()
    };
    // Until the hung target's queue is full, then as long again.
    wait_for(T, || {
        (rw_metric(&c, "pending_samples", "hung") >= capacity as f64 * 0.8).then_some(())
    })
    .unwrap_or_else(|| panic!("the hung target's queue fills: {}", c.metrics()));
    let rss_full = rss();
    let seq_full = c.node("node-a", false).unwrap()["last_seq"]
        .as_u64()
        .unwrap();
    std::thread::sleep(Duration::from_secs(10));
    let rss_later = rss();
    let seq_later = c.node("node-a", false).unwrap()["last_seq"]
        .as_u64()
        .unwrap();
    let pending = rw_metric(&c, "pending_samples", "hung");
    eprintln!(
        "hung target: {pending} pending (capacity {capacity}); aggregator RSS {rss_full} kB when \
         full, {rss_later} kB 10 s later; batches {seq_full} -> {seq_later}"
    );
    // one WAL record beyond the capacity at most
    assert!(pending <= (capacity + 1000) as f64, "{}", c.metrics());
    assert!(
        rss_later <= rss_full + 8 * 1024,
        "RSS grew {rss_full} -> {rss_later} kB"
    );
    assert!(
        seq_later >= seq_full + 7,
        "ingest goes on: {seq_full} -> {seq_later}"
    );
    // the healthy target keeps up
    wait_caught_up(&c, "prom", Duration::from_secs(10));
    assert!(rw_metric(&c, "lag_seconds", "prom") < 5.0);
    assert_eq!(rw_metric(&c, "samples_sent_total", "hung"), 0.0);
    drop(c);
    drop(held);
}

#[test]
fn remote_write_without_a_wal_is_refused_at_start() {
    let c = Cluster::new("rw-nowal");
    let cfg = c.dir.join("aggregator.toml");
    let mut t = std::fs::read_to_string(&cfg).unwrap();
    t.push_str(&target("vm", "http://127.0.0.1:1/api/v1/write", ""));
    std::fs::write(&cfg, t).unwrap();
    let out = std::process::Command::new(hvscope_testkit::bin("hvscope-aggregator"))
        .args(["serve", "--config", hvscope_testkit::path_str(&cfg)])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("[[remote_write]] needs [storage] wal_dir"),
        "{err}"
    );
}

#[test]
fn over_mtls_with_a_token_a_refused_request_is_dropped_counted_and_logged() {
    let Some(prom) = receiver("rw-relay") else {
        return;
    };
    let mut c = Cluster::new("rw-relay");
    c.node_cert("hvscope-aggregator", 30);
    let relay = receivers::Relay::start(&c, prom.addr, vec![3]);
    let certs = c.certs();
    std::fs::write(c.dir.join("token"), "s3cret\n").unwrap();
    configure(
        &c,
        &target(
            "relay",
            &format!("https://localhost:{}/api/v1/write", relay.addr.port()),
            &format!(
                "bearer_token_file = \"{}\"\nheaders = {{ \"X-Scope-OrgID\" = \"cloud-a\" }}\n\
                 [remote_write.tls]\nca = \"{c}/ca.pem\"\ncert = \"{c}/hvscope-aggregator.pem\"\n\
                 key = \"{c}/hvscope-aggregator-key.pem\"\n",
                c.dir.join("token").display(),
                c = certs.display()
            ),
        ),
    );
    c.start_aggregator();
    c.node_cert("node-a", 30);
    let cfg = c.agent_config("agent.toml", "node-a", "", "");
    let mut agent = c.start_agent(&cfg, "agent.log");
    agent_running(&c, "node-a", 8, &agent);
    agent.kill();
    wait_for(T, || {
        c.node("node-a", true)
            .filter(|n| n["series"].as_u64() == Some(0))
    })
    .expect("node declared stale");
    wait_caught_up(&c, "relay", T);

    let got = relay.got.lock().unwrap().clone();
    assert!(got.len() >= 4, "{} requests", got.len());
    for r in &got {
        assert_eq!(r.header("authorization"), Some("Bearer s3cret"));
        assert_eq!(r.header("x-scope-orgid"), Some("cloud-a"));
        assert_eq!(r.header("content-encoding"), Some("snappy"));
        assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
        assert_eq!(r.header("x-prometheus-remote-write-version"), Some("0.1.0"));
    }
    let refused = got[2].samples();
    let n_refused = total(&refused);
    assert!(n_refused > 0);
    assert_eq!(
        receivers::rw_metric_reason(&c, "refused") as usize,
        n_refused,
        "{}",
        c.metrics()
    );
    assert!(
        c.aggregator_log().contains("test refusal of request 3"),
        "the receiver's message is logged: {}",
        c.aggregator_log()
    );
    // The queue moved on: the receiver has everything but that request.
    let mut want = remote_read_raw(c.http, node_series("node-a"));
    for (l, v) in &refused {
        let w = want.get_mut(l).expect("refused series exists");
        w.retain(|s| !v.contains(s));
        if w.is_empty() {
            want.remove(l);
        }
    }
    let got = settled(&want, || remote_read_raw(prom.addr, node_series("node-a")));
    assert!(
        got == want,
        "all but the refused request:\n{}",
        diff(&want, &got)
    );
}
