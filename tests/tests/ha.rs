//! An agent configured with two aggregators (an HA pair) streams every batch to both; losing
//! one does not disturb the other.

use std::time::Duration;

use hvscope_e2e::Cluster;
use hvscope_testkit::{Proc, bin, free_port, get_json, http_get, path_str, wait_for};

const T: Duration = Duration::from_secs(20);

#[test]
fn an_ha_pair_both_get_every_batch() {
    let mut c = Cluster::new("ha");
    c.start_aggregator();
    // A second aggregator sharing the CA and server certificate, on its own ports.
    let (grpc2, http2) = (free_port(), format!("127.0.0.1:{}", free_port()));
    let cfg1 = std::fs::read_to_string(c.dir.join("aggregator.toml")).unwrap();
    let cfg2 = cfg1
        .replace(
            &format!("127.0.0.1:{}", c.grpc_port),
            &format!("127.0.0.1:{grpc2}"),
        )
        .replace(&c.http.to_string(), &http2);
    std::fs::write(c.dir.join("aggregator2.toml"), cfg2).unwrap();
    let cfg2 = c.dir.join("aggregator2.toml");
    let mut second = Proc::spawn(
        &bin("hvscope-aggregator"),
        &["serve", "--config", path_str(&cfg2)],
        &[],
        c.dir.join("aggregator2.log"),
    );
    let http2 = http2.parse().unwrap();
    wait_for(T, || http_get(http2, "/-/healthy").ok()).expect("second aggregator up");

    c.node_cert("node-ha", 30);
    let cfg = c.agent_config(
        "agent.toml",
        "node-ha",
        &format!(
            "aggregators = [\"127.0.0.1:{}\", \"127.0.0.1:{grpc2}\"]",
            c.grpc_port
        ),
        "",
    );
    // The extra aggregators line overrides the default single one written by agent_config.
    let text = std::fs::read_to_string(&cfg).unwrap();
    let text = text.replacen(
        &format!("aggregators = [\"127.0.0.1:{}\"]\n", c.grpc_port),
        "",
        1,
    );
    std::fs::write(&cfg, text).unwrap();
    let agent = c.start_agent(&cfg, "agent.log");

    let seq_at = |addr| {
        let v = get_json(addr, "/api/v1/nodes").ok()?;
        let n = v["nodes"]
            .as_array()?
            .iter()
            .find(|n| n["node"] == "node-ha")?
            .clone();
        n["last_seq"].as_u64()
    };
    wait_for(T, || {
        seq_at(c.http)
            .filter(|s| *s >= 3)
            .and(seq_at(http2).filter(|s| *s >= 3))
    })
    .unwrap_or_else(|| panic!("both aggregators should receive: {}", agent.log()));

    // One of the pair dies: the other keeps receiving.
    second.kill();
    let before = seq_at(c.http).unwrap();
    assert!(
        wait_for(T, || seq_at(c.http).filter(|s| *s >= before + 3)).is_some(),
        "{}",
        agent.log()
    );
}
