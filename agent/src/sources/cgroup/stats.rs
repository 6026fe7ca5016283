//! Control files of one cgroup, v1 or v2: CPU time and throttling, memory use and limit, block
//! I/O bytes, and PSI (v2). [`read`] reads whichever of them exist in a directory (a controller
//! not enabled there leaves its fields `None`) and hands each to its pure parser in
//! `hvscope_parse::cgroup::stats`.

use std::path::Path;

use hvscope_parse::ParseError;
use hvscope_parse::cgroup::stats::{
    parse_blkio_service_bytes, parse_flat_keyed, parse_io_stat, parse_limit,
};
use hvscope_parse::proc::pressure::{self, Pressure};
use hvscope_parse::sys::parse_u64;

use crate::io::{HostRoot, ReadError};

/// Figures of one cgroup directory; `None` where the file is absent.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CgroupStats {
    /// CPU time of the group's tasks, seconds (v2 `cpu.stat usage_usec`, v1 `cpuacct.usage`).
    pub cpu_usage_seconds: Option<f64>,
    /// Time throttled by the CPU quota, seconds (v2 `throttled_usec`, v1 `throttled_time`).
    pub cpu_throttled_seconds: Option<f64>,
    pub cpu_throttled_periods: Option<u64>,
    /// Memory charged to the group (v2 `memory.current`, v1 `memory.usage_in_bytes`).
    pub memory_bytes: Option<u64>,
    /// Memory limit; `None` when unlimited or absent.
    pub memory_limit_bytes: Option<u64>,
    /// Bytes read and written by the group's tasks (v2 `io.stat`, v1 `blkio.throttle.io_service_bytes`).
    pub io_read_bytes: Option<u64>,
    pub io_written_bytes: Option<u64>,
    pub cpu_pressure: Option<Pressure>,
    pub memory_pressure: Option<Pressure>,
    pub io_pressure: Option<Pressure>,
}

/// Reading a cgroup's control file failed.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{path}: {source}")]
    Parse {
        path: std::path::PathBuf,
        #[source]
        source: ParseError,
    },
}

fn opt<T>(
    root: &HostRoot,
    dir: &Path,
    file: &str,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Result<Option<T>, CgroupError> {
    let rel = dir.join(file);
    match root.read_string(&rel) {
        Ok(t) => parse(&t).map(Some).map_err(|source| CgroupError::Parse {
            path: root.path(&rel),
            source,
        }),
        Err(ReadError::Gone { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn key(entries: &[(String, u64)], k: &str) -> Option<u64> {
    entries.iter().find(|(n, _)| n == k).map(|(_, v)| *v)
}

/// Reads whatever control files exist in `dir` (a host path such as
/// `/sys/fs/cgroup/unified/machine/qemu-1-x.libvirt-qemu`). A vanished cgroup (the domain
/// stopped) is [`ReadError::Gone`] on the first file only if nothing at all could be read.
pub fn read(root: &HostRoot, dir: &Path) -> Result<CgroupStats, CgroupError> {
    if !root.path(dir).is_dir() {
        return Err(ReadError::Gone {
            path: root.path(dir),
        }
        .into());
    }
    let mut s = CgroupStats::default();
    if let Some(cpu) = opt(root, dir, "cpu.stat", parse_flat_keyed)? {
        let us = |k| key(&cpu, k).map(|v| v as f64 / 1e6);
        let ns = |k| key(&cpu, k).map(|v| v as f64 / 1e9);
        s.cpu_usage_seconds = us("usage_usec");
        s.cpu_throttled_seconds = us("throttled_usec").or_else(|| ns("throttled_time"));
        s.cpu_throttled_periods = key(&cpu, "nr_throttled");
    }
    if s.cpu_usage_seconds.is_none() {
        s.cpu_usage_seconds = opt(root, dir, "cpuacct.usage", parse_u64)?.map(|ns| ns as f64 / 1e9);
    }
    s.memory_bytes = match opt(root, dir, "memory.current", parse_u64)? {
        Some(v) => Some(v),
        None => opt(root, dir, "memory.usage_in_bytes", parse_u64)?,
    };
    s.memory_limit_bytes = match opt(root, dir, "memory.max", parse_limit)? {
        Some(v) => v,
        None => opt(root, dir, "memory.limit_in_bytes", parse_limit)?.flatten(),
    };
    let io = match opt(root, dir, "io.stat", parse_io_stat)? {
        Some(v) => Some(v),
        None => opt(
            root,
            dir,
            "blkio.throttle.io_service_bytes",
            parse_blkio_service_bytes,
        )?,
    };
    if let Some((r, w)) = io {
        s.io_read_bytes = Some(r);
        s.io_written_bytes = Some(w);
    }
    s.cpu_pressure = opt(root, dir, "cpu.pressure", pressure::parse)?;
    s.memory_pressure = opt(root, dir, "memory.pressure", pressure::parse)?;
    s.io_pressure = opt(root, dir, "io.pressure", pressure::parse)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fx() -> HostRoot {
        HostRoot::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/libvirt-kvm-2vm"
        ))
    }
    const VM: &str = "machine/qemu-21-instance-0000002a.libvirt-qemu";

    #[test]
    fn reads_v2_fixture_group() {
        let s = read(&fx(), &Path::new("/sys/fs/cgroup/unified").join(VM)).unwrap();
        assert_eq!(s.cpu_usage_seconds, Some(7.223998));
        assert!(s.cpu_pressure.is_some() && s.io_pressure.is_some() && s.memory_pressure.is_some());
        assert_eq!(
            s.memory_bytes, None,
            "memory controller not enabled on unified here"
        );
        let vcpu = read(
            &fx(),
            &Path::new("/sys/fs/cgroup/unified").join(VM).join("vcpu0"),
        )
        .unwrap();
        assert!(vcpu.cpu_usage_seconds.unwrap() > 0.0);
    }

    #[test]
    fn reads_v1_fixture_groups() {
        let m = read(&fx(), &Path::new("/sys/fs/cgroup/memory").join(VM)).unwrap();
        assert_eq!(m.memory_bytes, Some(22138880));
        assert_eq!(m.memory_limit_bytes, None);
        let b = read(&fx(), &Path::new("/sys/fs/cgroup/blkio").join(VM)).unwrap();
        assert_eq!((b.io_read_bytes, b.io_written_bytes), (Some(0), Some(0)));
        let c = read(&fx(), &Path::new("/sys/fs/cgroup/cpu").join(VM)).unwrap();
        assert_eq!(
            (c.cpu_throttled_seconds, c.cpu_throttled_periods),
            (Some(0.0), Some(0))
        );
        assert!(matches!(
            read(&fx(), Path::new("/sys/fs/cgroup/cpu/machine/gone")),
            Err(CgroupError::Read(ReadError::Gone { .. }))
        ));
    }
}
