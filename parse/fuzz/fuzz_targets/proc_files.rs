//! The other `/proc` formats: loadavg, vmstat, PSI, mounts, process stat, status and cmdline,
//! the kernel command line. Never panic; PSI totals are non-negative.
#![no_main]

use hvscope_parse::proc::{
    cmdline, loadavg, mounts, pidstat, pidstatus, pressure, process, vmstat,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = process::parse_cmdline(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = loadavg::parse(text);
    let _ = vmstat::parse(text);
    let total = pressure::some_total_us(text);
    if let Ok(p) = pressure::parse(text) {
        assert!(p.some.total_seconds >= 0.0);
        // The SLI's `some` total alone agrees with the full parse (exactly, where an f64
        // holds the microseconds).
        let us = total.expect("a full parse has a some total");
        if us < 1 << 50 {
            assert_eq!(us, (p.some.total_seconds * 1e6).round() as u64);
        }
    }
    if let Ok(m) = mounts::parse(text) {
        let _ = mounts::effective(&m, "/");
    }
    let _ = mounts::unescape(text);
    if let Ok((comm, _)) = process::parse_stat(text) {
        assert!(comm.len() < text.len());
    }
    let _ = pidstat::cpu_seconds(text);
    let _ = pidstat::counts(text);
    let _ = pidstatus::parse(text);
    let _ = cmdline::hvscope_params(text);
});
