//! cgroup formats: `/proc/<pid>/cgroup` (and the path logic over it), `io.stat`,
//! `blkio.throttle.io_service_bytes`, memory limits. Never panic.
#![no_main]

use hvscope_parse::cgroup::{self, CgroupMounts, stats};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = cgroup::parse_proc_cgroup(text) {
        for line in &m {
            if let Some(d) = cgroup::domain_path(&line.path) {
                assert!(line.path.starts_with(d));
            }
            let _ = cgroup::thread_group(&line.path);
        }
        let _ = CgroupMounts::default().dirs(&m);
    }
    let _ = stats::parse_io_stat(text);
    let _ = stats::parse_blkio_service_bytes(text);
    let _ = stats::parse_limit(text);
    let _ = stats::parse_flat_keyed(text);
});
