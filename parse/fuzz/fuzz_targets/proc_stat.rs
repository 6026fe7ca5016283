//! `/proc/stat`: never panics; per-CPU times are finite and non-negative.
#![no_main]

use hvscope_parse::proc::stat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(s) = stat::parse(text)
    {
        for (_, t) in std::iter::once(&(0, s.total)).chain(&s.per_cpu) {
            assert!(t.seconds.iter().all(|v| v.is_finite() && *v >= 0.0));
        }
    }
});
