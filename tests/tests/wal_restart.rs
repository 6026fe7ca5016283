//! The write-ahead log through the real binaries: kill -9 the aggregator mid-stream, add a
//! torn half-record to its newest WAL segment, restart it: every sample it had applied (and so
//! every acknowledged one) is still there, the torn tail is truncated with a warning, and the
//! agent resumes after the durable batches instead of starting over.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

use hvscope_aggregator::remote_read::proto::MatcherType;
use hvscope_e2e::Cluster;
use hvscope_e2e::remote_read::{matcher, post_read, read_request, samples_response};
use hvscope_testkit::{metric_value, wait_for};

const T: Duration = Duration::from_secs(30);

type Sample = (Vec<(String, String)>, i64, u64);

fn agent_samples(c: &Cluster) -> BTreeSet<Sample> {
    let m = vec![
        matcher(MatcherType::Eq, "node", "node-a"),
        matcher(MatcherType::Re, "__name__", "hvscope_(host|agent)_.*"),
    ];
    let r = samples_response(&post_read(c.http, &read_request(0, i64::MAX, m, &[])));
    let mut out = BTreeSet::new();
    for ts in &r.results[0].timeseries {
        let l: Vec<(String, String)> = ts
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        for s in &ts.samples {
            out.insert((l.clone(), s.timestamp, s.value.to_bits()));
        }
    }
    out
}

#[test]
fn kill_9_mid_stream_loses_no_applied_sample() {
    let mut c = Cluster::new("wal");
    let wal = c.dir.join("wal");
    let cfg = c.dir.join("aggregator.toml");
    let mut t = std::fs::read_to_string(&cfg).unwrap();
    t.push_str(&format!("[storage]\nwal_dir = \"{}\"\n", wal.display()));
    std::fs::write(&cfg, t).unwrap();
    c.start_aggregator();
    c.node_cert("node-a", 30);
    let agent_cfg = c.agent_config("agent.toml", "node-a", "", "");
    let agent = c.start_agent(&agent_cfg, "agent.log");
    wait_for(T, || {
        c.node("node-a", false)
            .filter(|n| n["batches"].as_u64() >= Some(5))
    })
    .unwrap_or_else(|| panic!("no batches\n{}\n{}", c.aggregator_log(), agent.log()));

    let before = agent_samples(&c);
    let last_seq = c.node("node-a", false).unwrap()["last_seq"]
        .as_u64()
        .unwrap();
    assert!(before.len() > 50, "{}", before.len());
    let newest_ts = before.iter().map(|s| s.1).max().unwrap();
    c.aggregator.as_mut().unwrap().kill(); // SIGKILL, mid-stream
    let killed_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;

    // A write cut short by the crash: half a record at the end of the newest segment.
    let newest = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| std::fs::metadata(p).map(|m| m.len() > 0).unwrap_or(false))
        .max()
        .expect("a non-empty wal segment");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&newest)
        .unwrap();
    f.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 5, 6]).unwrap();
    drop(f);

    c.start_aggregator();
    let log = c.aggregator_log();
    assert!(log.contains("torn tail"), "{log}");
    let replayed = metric_value(&c.metrics(), "hvscope_aggregator_wal_replayed_records").unwrap();
    assert!(replayed >= 5.0, "{replayed}");
    let after = agent_samples(&c);
    let lost: Vec<_> = before.difference(&after).collect();
    assert!(
        lost.is_empty(),
        "{} of {} samples lost: {:?}",
        lost.len(),
        before.len(),
        &lost[..lost.len().min(3)]
    );

    // The agent reconnects and resumes after what was durable, not from its first batch.
    let n = wait_for(T, || {
        c.node("node-a", false)
            .filter(|n| n["connected"] == true && n["stream_first_seq"].as_u64().is_some())
    })
    .unwrap_or_else(|| {
        panic!(
            "agent did not come back\n{}\n{}",
            c.aggregator_log(),
            agent.log()
        )
    });
    let first = n["stream_first_seq"].as_u64().unwrap();
    assert!(
        first > last_seq,
        "resumed at {first}, {last_seq} was durable before the kill"
    );

    // Liveness after the restart, recomputed from the replayed batches: the node counts as up
    // from the first tick on (it has the staleness window to reconnect, like a live stream),
    // and its last report is at least the newest sample that was durable before the kill.
    let live = |name: &str| {
        let m = vec![
            matcher(MatcherType::Eq, "__name__", name),
            matcher(MatcherType::Eq, "node", "node-a"),
        ];
        let r = samples_response(&post_read(
            c.http,
            &read_request(killed_ms, i64::MAX, m, &[]),
        ));
        r.results[0]
            .timeseries
            .iter()
            .flat_map(|t| t.samples.iter().map(|s| s.value))
            .collect::<Vec<f64>>()
    };
    let up = live("hvscope_node_up");
    assert!(!up.is_empty() && up.iter().all(|v| *v == 1.0), "{up:?}");
    let report = live("hvscope_node_last_report_timestamp_seconds");
    assert!(
        report[0] >= newest_ts as f64 / 1000.0,
        "{report:?} vs {newest_ts}"
    );
    drop(agent);
}
