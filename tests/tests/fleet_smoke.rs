//! The fleet load test (`cargo bench -p hvscope-e2e --bench fleet`) at a small size, so that CI
//! keeps it working: 6 simulated nodes through the agent's transport, 130 steps of history (so
//! that chunks close and go to the chunk files), one steady interval, an in-place restart and the
//! same samples in Prometheus.

use hvscope_e2e::fleet::Values;
use hvscope_e2e::fleet::load::{FleetRun, run};

#[test]
fn the_fleet_load_runs_at_a_small_size() {
    let r = run(&FleetRun {
        nodes: 6,
        series_per_node: 500,
        hold_steps: 130,
        measure_secs: 10,
        prometheus: true,
        values: Values::Agent,
        chunks_on_disk: true,
        compression: hvscope_agent::config::Compression::None,
    });
    assert!(r.series >= 6 * 500, "{r:?}");
    assert_eq!(
        r.backfill_samples,
        r.series * 130,
        "every step of every node sent: {r:?}"
    );
    assert!(
        r.backfill_samples_per_sec > 0.0 && r.steady_samples_per_sec > 0.0,
        "{r:?}"
    );
    assert!(r.reads >= 1 && r.read_p99_secs < 5.0, "{r:?}");
    assert!(r.restart_acking_secs > 0.0, "{r:?}");
    assert!(r.wal_bytes_per_sample > 0.0, "{r:?}");
    assert!(
        r.chunk_disk_bytes > 0.0,
        "closed chunks in the chunk files: {r:?}"
    );
    if hvscope_testkit::in_ci() {
        assert!(r.prom_wal_bytes_per_sample > 0.0, "Prometheus ran: {r:?}");
    }
}
