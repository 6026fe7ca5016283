//! The live host's sysfs files that every collection reads while the set of them only changes
//! with hotplug: the CPU lists (`online`, `present`, `isolated`), each NUMA node's `cpulist` and
//! `meminfo`, the hugepage pool counters. Opening one costs a path walk through kernfs, and a
//! two-node host with two page sizes has ~30 of them plus four directory listings: ~100 syscalls
//! per collection for ~20 values. Here each file is opened once and read again with one `pread`
//! at offset 0 ([`KeptFile`]: sysfs regenerates an attribute on every read from 0, and the read
//! of a removed object's attribute fails with ENODEV, which drops the handle). The directory
//! listings that name those files (NUMA nodes, hugepage pool sizes) are reused for
//! [`RELIST_AFTER`]; a kept file that fails to read drops every listing, so a removed node or
//! pool is seen at once and an added one within [`RELIST_AFTER`] (memory hotplug; pool sizes
//! are fixed when the kernel boots).
//!
//! Below a fixture tree (regular files a test may rewrite) nothing is kept: every call reads
//! and lists anew, exactly as [`read_parsed`](super::read_parsed) and
//! [`list_dir`](super::list_dir).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hvscope_parse::ParseError;

use super::{SysError, list_dir, read_parsed};
use crate::host_root::{HostRoot, KeptFile, ReadError};

/// How long a directory listing is reused (30 collections at the default 10 s interval).
pub const RELIST_AFTER: Duration = Duration::from_secs(300);

/// At most this many files (and as many listings) are kept; past it, files are read by path.
/// A host with 8 NUMA nodes and 3 page sizes needs ~130.
const MAX_KEPT: usize = 256;

/// A file as last seen: open, or absent (an optional attribute the kernel does not offer, such
/// as a node pool's `resv_hugepages`) since that instant.
enum Slot {
    Open(KeptFile),
    Absent(Instant),
}

#[derive(Default)]
struct Kept {
    files: HashMap<PathBuf, Slot>,
    listings: HashMap<PathBuf, (Instant, Option<Vec<String>>)>,
    buf: Vec<u8>,
}

static KEPT: Mutex<Option<Kept>> = Mutex::new(None);

fn with_kept<R>(f: impl FnOnce(&mut Kept) -> R) -> R {
    let mut k = KEPT.lock().unwrap_or_else(|p| p.into_inner());
    f(k.get_or_insert_with(Kept::default))
}

/// Like [`read_parsed`](super::read_parsed); on the live host the file stays open.
pub fn read_parsed_kept<T>(
    root: &HostRoot,
    rel: &Path,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Result<T, SysError> {
    if !root.is_live() {
        return read_parsed(root, rel, parse);
    }
    let parsed = with_kept(|k| read_kept(k, root, rel, parse, Instant::now()))?;
    parsed.map_err(|source| SysError::Parse {
        path: root.path(rel),
        source,
    })
}

/// Like [`read_optional`](super::read_optional); on the live host the file stays open.
pub fn read_optional_kept<T>(
    root: &HostRoot,
    rel: &Path,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Result<Option<T>, SysError> {
    super::optional(read_parsed_kept(root, rel, parse))
}

/// Like [`list_dir`](super::list_dir); on the live host a listing is reused for
/// [`RELIST_AFTER`] or until a kept file fails.
pub fn list_dir_kept(root: &HostRoot, rel: &Path) -> Result<Option<Vec<String>>, SysError> {
    if !root.is_live() {
        return list_dir(root, rel);
    }
    list_cached(root, rel, Instant::now())
}

fn list_cached(root: &HostRoot, rel: &Path, now: Instant) -> Result<Option<Vec<String>>, SysError> {
    let hit = with_kept(|k| {
        k.listings
            .get(rel)
            .filter(|(at, _)| now.saturating_duration_since(*at) < RELIST_AFTER)
            .map(|(_, names)| names.clone())
    });
    if let Some(names) = hit {
        return Ok(names);
    }
    let names = list_dir(root, rel)?;
    with_kept(|k| {
        if k.listings.len() < MAX_KEPT || k.listings.contains_key(rel) {
            k.listings.insert(rel.to_path_buf(), (now, names.clone()));
        }
    });
    Ok(names)
}

/// Reads `rel` through its kept handle (opened on first use); a failed kept read drops the
/// handle and every listing, and the file is opened again by path. A file found absent is
/// absent without looking again for [`RELIST_AFTER`].
fn read_kept<T>(
    k: &mut Kept,
    root: &HostRoot,
    rel: &Path,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
    now: Instant,
) -> Result<Result<T, ParseError>, ReadError> {
    let Kept {
        files,
        listings,
        buf,
    } = k;
    match files.get(rel) {
        Some(Slot::Open(f)) => match f.read(buf) {
            Ok(text) => return Ok(parse(text)),
            Err(_) => {
                files.remove(rel);
                listings.clear();
            }
        },
        Some(Slot::Absent(since)) if now.saturating_duration_since(*since) < RELIST_AFTER => {
            return Err(ReadError::Gone {
                path: root.path(rel),
            });
        }
        _ => {}
    }
    let f = match root.keep(rel, true) {
        Ok(f) => f,
        Err(e @ ReadError::Gone { .. }) => {
            if files.len() < MAX_KEPT || files.contains_key(rel) {
                files.insert(rel.to_path_buf(), Slot::Absent(now));
            }
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let parsed = parse(f.read(buf)?);
    if files.len() < MAX_KEPT || files.contains_key(rel) {
        files.insert(rel.to_path_buf(), Slot::Open(f));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::sys::read_optional;
    use hvscope_parse::sys::{cpulist, parse_u64};

    #[test]
    fn kept_reads_match_fresh_reads_on_the_live_host() {
        let root = HostRoot::default();
        let online = Path::new("sys/devices/system/cpu/online");
        for _ in 0..3 {
            let kept = read_parsed_kept(&root, online, cpulist::parse).unwrap();
            let fresh = read_parsed(&root, online, cpulist::parse).unwrap();
            assert_eq!(kept, fresh);
        }
        assert!(with_kept(|k| matches!(
            k.files.get(online),
            Some(Slot::Open(f)) if f.is_open()
        )));
        let missing = Path::new("sys/devices/system/cpu/hvscope-no-such-attribute");
        assert!(
            read_optional_kept(&root, missing, parse_u64)
                .unwrap()
                .is_none()
        );
        assert!(read_optional(&root, missing, parse_u64).unwrap().is_none());
        let cpus = list_dir_kept(&root, Path::new("sys/devices/system/cpu"))
            .unwrap()
            .unwrap();
        assert!(cpus.iter().any(|n| n == "online"), "{cpus:?}");
    }

    #[test]
    fn listings_are_reused_until_they_age_or_a_kept_file_fails() {
        let dir = std::env::temp_dir().join(format!("hvscope-kept-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("d")).unwrap();
        std::fs::write(dir.join("d/a"), "1\n").unwrap();
        let root = HostRoot::new(&dir);
        let d = Path::new("d");
        let t0 = Instant::now();
        assert_eq!(list_cached(&root, d, t0).unwrap().unwrap(), ["a"]);
        std::fs::write(dir.join("d/b"), "2\n").unwrap();
        // Within RELIST_AFTER the listing holds.
        let later = t0 + RELIST_AFTER / 2;
        assert_eq!(list_cached(&root, d, later).unwrap().unwrap(), ["a"]);
        // Past it, the directory is listed again.
        let aged = t0 + RELIST_AFTER;
        assert_eq!(list_cached(&root, d, aged).unwrap().unwrap(), ["a", "b"]);
        // A kept file that cannot be read any more drops every listing at once.
        std::fs::write(dir.join("d/c"), "3\n").unwrap();
        let b = dir.join("d/b");
        let read = |p: &Path| with_kept(|k| read_kept(k, &root, p, parse_u64, aged));
        assert_eq!(read(Path::new("d/b")).unwrap().unwrap(), 2);
        assert_eq!(list_cached(&root, d, aged).unwrap().unwrap(), ["a", "b"]);
        std::fs::remove_file(&b).unwrap();
        assert!(matches!(
            read(Path::new("d/b")),
            Err(ReadError::Gone { .. })
        ));
        assert_eq!(list_cached(&root, d, aged).unwrap().unwrap(), ["a", "c"]);
        // An absent file is not looked for again until RELIST_AFTER has passed.
        let e = Path::new("d/e");
        let read_at = |t: Instant| with_kept(|k| read_kept(k, &root, e, parse_u64, t));
        assert!(matches!(read_at(aged), Err(ReadError::Gone { .. })));
        std::fs::write(dir.join("d/e"), "5\n").unwrap();
        assert!(matches!(read_at(aged), Err(ReadError::Gone { .. })));
        assert_eq!(read_at(aged + RELIST_AFTER).unwrap().unwrap(), 5);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
