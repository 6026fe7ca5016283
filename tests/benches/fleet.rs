//! Fleet-scale load on one aggregator, and the same samples in a real Prometheus beside it.
//!
//! N simulated nodes ([`hvscope_e2e::fleet`]: agent-shaped series, one certificate each, the
//! agent's own transport) stream to a real aggregator (the release binary, WAL on, fsync on):
//! 1. backfill: `HOLD_MIN` minutes of history at the 10 s interval, sent as fast as acks allow;
//! 2. steady: one batch per node every 10 s of wall time for `MEASURE_SECS`, while a reader
//!    issues a typical dashboard remote-read (one node's VM CPU counters over the last hour)
//!    every second. Reported: ingest CPU (cores) and samples/s, RSS per active series, WAL
//!    bytes per sample, remote-read p50/p99;
//! 3. restart: the aggregator is killed (-9) and started again; time to serve remote-read and to
//!    have every node acked again, WAL replay included;
//! 4. Prometheus 2.42 (`--web.enable-remote-write-receiver`) gets the same samples over
//!    remote-write; its RSS per series and WAL bytes per sample are reported beside ours.
//!
//! `cargo build --release --workspace --bins && HVSCOPE_FLEET_NODES=50 HVSCOPE_FLEET_SERIES=2000
//! cargo bench -p hvscope-e2e --bench fleet` (every variable optional: NODES, SERIES per node,
//! HOLD_MIN, MEASURE_SECS, PROMETHEUS=0 to skip step 4, VALUES=noisy for the worst-case values
//! instead of the agent-like ones, see [`hvscope_e2e::fleet::Values`]; CHUNKS_ON_DISK=0 to keep
//! every chunk on the aggregator's heap, COMPRESSION=gzip for gzip streams instead of the
//! agent's default, none).

use hvscope_agent::config::Compression;
use hvscope_e2e::fleet::Values;
use hvscope_e2e::fleet::load::{FleetRun, run};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(format!("HVSCOPE_FLEET_{name}"))
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let r = run(&FleetRun {
        nodes: env("NODES", 50) as usize,
        series_per_node: env("SERIES", 2000) as usize,
        hold_steps: env("HOLD_MIN", 120) * 6,
        measure_secs: env("MEASURE_SECS", 60),
        prometheus: env("PROMETHEUS", 1) == 1,
        values: match std::env::var("HVSCOPE_FLEET_VALUES").as_deref() {
            Ok("noisy") => Values::Noisy,
            _ => Values::Agent,
        },
        chunks_on_disk: env("CHUNKS_ON_DISK", 1) == 1,
        compression: match std::env::var("HVSCOPE_FLEET_COMPRESSION").as_deref() {
            Ok("gzip") => Compression::Gzip,
            _ => Compression::None,
        },
    });
    println!("{r:#?}");
}
