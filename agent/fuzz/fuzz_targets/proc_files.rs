//! The other `/proc` formats: loadavg, vmstat, PSI, diskstats, mounts (and the root layout
//! derived from them), process stat and cmdline. Never panic; PSI totals are non-negative.
#![no_main]

use hvscope_agent::sources::proc::{diskstats, loadavg, mounts, pressure, process, vmstat};
use hvscope_agent::sources::rootfs;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = process::parse_cmdline(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = loadavg::parse(text);
    let _ = vmstat::parse(text);
    if let Ok(p) = pressure::parse(text) {
        assert!(p.some.total_seconds >= 0.0);
    }
    let _ = diskstats::parse(text);
    if let Ok(m) = mounts::parse(text) {
        let _ = rootfs::layout(&m);
        let _ = rootfs::mount_of(&m, "/run/x");
    }
    let _ = mounts::unescape(text);
    if let Ok((comm, _)) = process::parse_stat(text) {
        assert!(comm.len() < text.len());
    }
});
