//! `/proc/diskstats` parsing and the rate delta over arbitrary text: no panic, and rates that
//! are finite and non-negative whenever a delta is given.
#![no_main]

use hvscope_parse::proc::diskstats::{delta, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(stats) = parse(s) else {
        return;
    };
    for w in stats.windows(2) {
        for dt in [1, 1000, u64::MAX] {
            if let Some(r) = delta(&w[0], &w[1], dt) {
                assert!(r.iops.is_finite() && r.iops >= 0.0);
                assert!((0.0..=1.0).contains(&r.utilisation));
                assert!(r.avg_latency_secs.is_none_or(|l| l.is_finite() && l >= 0.0));
            }
        }
    }
});
