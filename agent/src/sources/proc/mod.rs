//! `/proc` of the host: the thin reader that feeds the pure parsers of `hvscope_parse::proc`
//! (one module per file format) through the [`HostRoot`].

pub mod diskstats;

/// The parsers' error, under the path the `/proc/diskstats` parsers of this crate name it by.
pub use hvscope_parse::ParseError;
use hvscope_parse::proc::mounts;

use crate::host_root::{HostRoot, KeptFile, ReadError};

/// Reading or parsing one `/proc` file failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{file}: {source}")]
    Parse {
        file: &'static str,
        #[source]
        source: ParseError,
    },
}

/// Reads `rel` below the root and parses it with `parse`. On the live host the file is kept
/// open between calls and read with `pread` from offset 0 ([`KeptFile`]; these host-wide files
/// are a fixed handful, one handle each), which saves the path walk, open and close of every
/// collection; a kept file that fails is reopened by path.
pub fn read_parsed<T>(
    root: &HostRoot,
    rel: &'static str,
    parse: fn(&str) -> Result<T, ParseError>,
) -> Result<T, ProcError> {
    if root.is_live() {
        let mut kept = KEPT.lock().unwrap_or_else(|p| p.into_inner());
        let KeptFiles { files, buf } = &mut *kept;
        let i = match files.iter().position(|(r, _)| *r == rel) {
            Some(i) => Some(i),
            None if files.len() < MAX_KEPT => root.keep(rel, true).ok().map(|k| {
                files.push((rel, k));
                files.len() - 1
            }),
            None => None,
        };
        if let Some(i) = i {
            let read = if ONE_PIECE.contains(&rel) {
                files[i].1.read(buf)
            } else {
                files[i].1.read_all(buf)
            };
            match read {
                Ok(text) => {
                    return parse(text).map_err(|source| ProcError::Parse { file: rel, source });
                }
                Err(_) => {
                    files.swap_remove(i);
                }
            }
        }
    }
    let text = root.read_string(rel)?;
    parse(&text).map_err(|source| ProcError::Parse { file: rel, source })
}

/// The mount table (`proc/mounts`), parsed. On the live host it is read again only when it
/// changed: a kept `/proc/self/mounts` reports every change of this mount namespace to `poll`
/// with `POLLPRI`/`POLLERR` (the kernel's change notification, which systemd and libmount
/// use), so an unchanged table costs one `poll` instead of formatting and parsing every mount.
/// The signal is taken before the read, so a change during the read is seen next time.
pub fn read_mounts(root: &HostRoot) -> Result<Vec<mounts::Mount>, ProcError> {
    const REL: &str = "proc/mounts";
    if !root.is_live() {
        return read_parsed(root, REL, mounts::parse);
    }
    let mut cached = MOUNTS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((file, table)) = &*cached
        && file.poll_changed() == Some(false)
    {
        return Ok(table.clone());
    }
    let file = match cached.take() {
        Some((file, _)) => file,
        None => root.keep(REL, true)?,
    };
    let mut buf = Vec::new();
    let table = match file.read_all(&mut buf) {
        Ok(text) => mounts::parse(text).map_err(|source| ProcError::Parse { file: REL, source })?,
        // Reopened next time.
        Err(e) => return Err(e.into()),
    };
    *cached = Some((file, table.clone()));
    Ok(table)
}

static MOUNTS: std::sync::Mutex<Option<(KeptFile, Vec<mounts::Mount>)>> =
    std::sync::Mutex::new(None);

/// The files [`read_parsed`] is given that the kernel produces in one piece (`single_open`:
/// one `pread` returns all of it); the others (`mounts`, `diskstats`, `vmstat`, one record at a
/// time) are read on to end of file.
const ONE_PIECE: [&str; 6] = [
    "proc/stat",
    "proc/meminfo",
    "proc/loadavg",
    "proc/pressure/cpu",
    "proc/pressure/memory",
    "proc/pressure/io",
];

/// The live host's `/proc` files kept open by [`read_parsed`], with their read buffer.
struct KeptFiles {
    files: Vec<(&'static str, KeptFile)>,
    buf: Vec<u8>,
}

static KEPT: std::sync::Mutex<KeptFiles> = std::sync::Mutex::new(KeptFiles {
    files: Vec::new(),
    buf: Vec::new(),
});
/// At most this many files kept by [`read_parsed`] (the callers name about ten).
const MAX_KEPT: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;
    use hvscope_parse::proc::{meminfo, stat, vmstat};

    #[test]
    fn the_mount_table_is_read_again_only_after_a_change() {
        let root = HostRoot::default();
        let fresh = || mounts::parse(&root.read_string("proc/mounts").unwrap()).unwrap();
        assert_eq!(read_mounts(&root).unwrap(), fresh());
        assert_eq!(read_mounts(&root).unwrap(), fresh());
        let file = root.keep("proc/mounts", true).unwrap();
        assert_eq!(file.poll_changed(), Some(false), "no change since the open");
        // A mount in a namespace of its own would not be seen here; this test's namespace is
        // the host's, so mount and unmount a tmpfs below a fresh directory.
        let dir = std::env::temp_dir().join(format!("hvscope-mnt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "hvscope-test"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            std::fs::remove_dir(&dir).unwrap();
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(!ci, "mount -t tmpfs failed (the tests run as root in CI)");
            eprintln!("SKIPPED: the mount change signal needs root to mount a tmpfs");
            return;
        }
        assert_eq!(file.poll_changed(), Some(true));
        assert_eq!(file.poll_changed(), Some(false), "reported once");
        let with = read_mounts(&root).unwrap();
        assert!(with.iter().any(|m| m.device == "hvscope-test"), "{with:?}");
        let umounted = std::process::Command::new("umount")
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(umounted);
        std::fs::remove_dir(&dir).unwrap();
        let without = read_mounts(&root).unwrap();
        assert!(!without.iter().any(|m| m.device == "hvscope-test"));
    }

    #[test]
    fn live_files_read_through_kept_handles_match_fresh_reads() {
        let root = HostRoot::default();
        for _ in 0..3 {
            // Multi-record files (mounts, diskstats, vmstat) are read to their end.
            let kept = read_parsed(&root, "proc/mounts", mounts::parse).unwrap();
            let fresh = mounts::parse(&root.read_string("proc/mounts").unwrap()).unwrap();
            assert_eq!(kept, fresh);
            let kept = read_parsed(&root, "proc/meminfo", meminfo::parse).unwrap();
            let fresh = meminfo::parse(&root.read_string("proc/meminfo").unwrap()).unwrap();
            assert_eq!(kept.get("MemTotal"), fresh.get("MemTotal"));
            let kept = read_parsed(&root, "proc/stat", stat::parse).unwrap();
            let fresh = stat::parse(&root.read_string("proc/stat").unwrap()).unwrap();
            assert_eq!(kept.per_cpu.len(), fresh.per_cpu.len());
            assert_eq!(kept.boot_time_seconds, fresh.boot_time_seconds);
            let kept = read_parsed(&root, "proc/vmstat", vmstat::parse).unwrap();
            let fresh = vmstat::parse(&root.read_string("proc/vmstat").unwrap()).unwrap();
            assert_eq!(kept.entries.len(), fresh.entries.len());
        }
        let kept = KEPT.lock().unwrap();
        assert!(
            kept.files
                .iter()
                .any(|(r, k)| *r == "proc/mounts" && k.is_open())
        );
    }
}
