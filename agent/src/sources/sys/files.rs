//! The sysfs files that every collection reads while the set of them only changes with hotplug:
//! the CPU lists (`online`, `present`, `isolated`), each NUMA node's `cpulist` and `meminfo`,
//! the hugepage pool counters. Opening one costs a path walk through kernfs, and a two-node host
//! with two page sizes has ~30 of them plus four directory listings: ~100 syscalls per
//! collection for ~20 values. Here each file is opened once and read again with one `pread` at
//! offset 0 ([`KeptFile`]: sysfs regenerates an attribute on every read from 0, and the read of
//! a removed object's attribute fails with ENODEV, which drops the handle; a fixture tree's file
//! removed or replaced reads alike). The directory listings that name those files (NUMA nodes,
//! hugepage pool sizes) are reused for one refresh period ([`REFRESH`]); a kept file that fails
//! to read drops every listing, so a removed node or pool is seen at once and an added one
//! within the period (memory hotplug; pool sizes are fixed when the kernel boots).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{SysError, list_dir};
use crate::io::{FdBudget, Holder, HostRoot, KeptFile, REFRESH, ReadError};
use hvscope_parse::ParseError;

/// At most this many files (and as many listings) are remembered; past it, files are opened
/// and read anew each time. A host with 8 NUMA nodes and 3 page sizes needs ~130. Files past
/// the budget's share ([`Holder::Sys`]) are remembered by path.
const MAX_ENTRIES: usize = 256;

/// A file as last seen: kept, or absent (an optional attribute the kernel does not offer, such
/// as a node pool's `resv_hugepages`) since that collection.
#[derive(Debug)]
enum Slot {
    Kept(KeptFile),
    Absent(u64),
}

/// What the host part keeps of sysfs: the files read every collection, the listings that name
/// them, the read buffer, the CPU topology and the link speeds.
#[derive(Debug, Default)]
pub struct SysFiles {
    files: HashMap<PathBuf, Slot>,
    listings: HashMap<PathBuf, (u64, Option<Vec<String>>)>,
    buf: Vec<u8>,
    /// Collections started ([`next_collection`](Self::next_collection)).
    cycle: u64,
    /// The CPU topology of the last read, and the online CPUs it was read for
    /// ([`cpu::read`](super::cpu::read)).
    pub(super) topology: Option<(Vec<u32>, Vec<super::cpu::CpuTopology>)>,
    /// Link speeds as last read ([`net::from_netlink`](super::net::from_netlink)).
    pub speeds: super::net::Speeds,
}

impl SysFiles {
    /// Called once at the start of each collection: ages the listings and absent files.
    pub fn next_collection(&mut self) {
        self.cycle += 1;
    }

    /// Like [`read_parsed`](super::read_parsed), through the file's kept handle.
    pub fn read_parsed<T>(
        &mut self,
        root: &HostRoot,
        fds: &FdBudget,
        rel: &Path,
        parse: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Result<T, SysError> {
        self.read_kept(root, fds, rel, parse)?
            .map_err(|source| SysError::Parse {
                path: root.path(rel),
                source,
            })
    }

    /// Like [`read_optional`](super::read_optional), through the file's kept handle.
    pub fn read_optional<T>(
        &mut self,
        root: &HostRoot,
        fds: &FdBudget,
        rel: &Path,
        parse: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Result<Option<T>, SysError> {
        super::optional(self.read_parsed(root, fds, rel, parse))
    }

    /// Like [`list_dir`](super::list_dir()); a listing is reused for one refresh period or until
    /// a kept file fails.
    pub fn list_dir(
        &mut self,
        root: &HostRoot,
        rel: &Path,
    ) -> Result<Option<Vec<String>>, SysError> {
        if let Some((at, names)) = self.listings.get(rel)
            && !REFRESH.is_due(self.cycle - at)
        {
            return Ok(names.clone());
        }
        let names = list_dir(root, rel)?;
        if self.listings.len() < MAX_ENTRIES || self.listings.contains_key(rel) {
            self.listings
                .insert(rel.to_path_buf(), (self.cycle, names.clone()));
        }
        Ok(names)
    }

    /// Reads `rel` through its kept handle (opened on first use); a failed kept read drops the
    /// handle and every listing, and the file is opened again by path. A file found absent is
    /// absent without looking again for one refresh period.
    fn read_kept<T>(
        &mut self,
        root: &HostRoot,
        fds: &FdBudget,
        rel: &Path,
        parse: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Result<Result<T, ParseError>, ReadError> {
        let Self {
            files,
            listings,
            buf,
            cycle,
            ..
        } = self;
        match files.get(rel) {
            Some(Slot::Kept(f)) => match f.read(buf) {
                Ok(text) => return Ok(parse(text)),
                Err(_) => {
                    files.remove(rel);
                    listings.clear();
                }
            },
            Some(Slot::Absent(since)) if !REFRESH.is_due(*cycle - since) => {
                return Err(ReadError::Gone {
                    path: root.path(rel),
                });
            }
            _ => {}
        }
        let f = match root.keep(rel, fds, Holder::Sys) {
            Ok(f) => f,
            Err(e @ ReadError::Gone { .. }) => {
                if files.len() < MAX_ENTRIES || files.contains_key(rel) {
                    files.insert(rel.to_path_buf(), Slot::Absent(*cycle));
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let parsed = parse(f.read(buf)?);
        if files.len() < MAX_ENTRIES || files.contains_key(rel) {
            files.insert(rel.to_path_buf(), Slot::Kept(f));
        }
        Ok(parsed)
    }

    /// Files held open.
    pub fn open_files(&self) -> usize {
        self.files
            .values()
            .filter(|s| matches!(s, Slot::Kept(f) if f.is_open()))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::sys::{read_optional, read_parsed};
    use hvscope_parse::sys::parse_u64;

    #[test]
    fn kept_reads_match_fresh_reads_on_the_live_host() {
        let root = HostRoot::default();
        let fds = FdBudget::for_process();
        let mut files = SysFiles::default();
        let online = Path::new("sys/devices/system/cpu/online");
        for _ in 0..3 {
            files.next_collection();
            let kept = files
                .read_parsed(&root, &fds, online, hvscope_parse::sys::cpulist::parse)
                .unwrap();
            let fresh = read_parsed(&root, online, hvscope_parse::sys::cpulist::parse).unwrap();
            assert_eq!(kept, fresh);
        }
        assert!(matches!(
            files.files.get(online),
            Some(Slot::Kept(f)) if f.is_open()
        ));
        assert_eq!(fds.held(Holder::Sys), 1);
        let missing = Path::new("sys/devices/system/cpu/hvscope-no-such-attribute");
        assert!(
            files
                .read_optional(&root, &fds, missing, parse_u64)
                .unwrap()
                .is_none()
        );
        assert!(read_optional(&root, missing, parse_u64).unwrap().is_none());
        let cpus = files
            .list_dir(&root, Path::new("sys/devices/system/cpu"))
            .unwrap()
            .unwrap();
        assert!(cpus.iter().any(|n| n == "online"), "{cpus:?}");
    }

    #[test]
    fn listings_are_reused_until_they_age_or_a_kept_file_fails() {
        let dir = std::env::temp_dir().join(format!("hvscope-sysfiles-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("d")).unwrap();
        std::fs::write(dir.join("d/a"), "1\n").unwrap();
        let root = HostRoot::new(&dir);
        let fds = FdBudget::for_process();
        let mut files = SysFiles::default();
        let d = Path::new("d");
        let every = REFRESH.collections();
        files.next_collection();
        assert_eq!(files.list_dir(&root, d).unwrap().unwrap(), ["a"]);
        std::fs::write(dir.join("d/b"), "2\n").unwrap();
        // Within the period the listing holds.
        for _ in 1..every {
            files.next_collection();
            assert_eq!(files.list_dir(&root, d).unwrap().unwrap(), ["a"]);
        }
        // Past it, the directory is listed again.
        files.next_collection();
        assert_eq!(files.list_dir(&root, d).unwrap().unwrap(), ["a", "b"]);
        // A kept file that cannot be read any more drops every listing at once.
        std::fs::write(dir.join("d/c"), "3\n").unwrap();
        let b = Path::new("d/b");
        assert_eq!(files.read_parsed(&root, &fds, b, parse_u64).unwrap(), 2);
        assert_eq!(fds.held(Holder::Sys), 1, "kept below the fixture tree too");
        files.next_collection();
        assert_eq!(files.list_dir(&root, d).unwrap().unwrap(), ["a", "b"]);
        // Rewritten in place: the next collection reads the new value.
        std::fs::write(dir.join("d/b"), "20\n").unwrap();
        assert_eq!(files.read_parsed(&root, &fds, b, parse_u64).unwrap(), 20);
        std::fs::remove_file(dir.join("d/b")).unwrap();
        assert!(matches!(
            files.read_parsed(&root, &fds, b, parse_u64),
            Err(SysError::Read(ReadError::Gone { .. }))
        ));
        assert_eq!(
            fds.held(Holder::Sys),
            0,
            "the removed file's handle was dropped"
        );
        assert_eq!(files.list_dir(&root, d).unwrap().unwrap(), ["a", "c"]);
        // An absent file is not looked for again until a period has passed.
        let e = Path::new("d/e");
        assert!(files.read_parsed(&root, &fds, e, parse_u64).is_err());
        std::fs::write(dir.join("d/e"), "5\n").unwrap();
        for _ in 1..every {
            files.next_collection();
            assert!(files.read_parsed(&root, &fds, e, parse_u64).is_err());
        }
        files.next_collection();
        assert_eq!(files.read_parsed(&root, &fds, e, parse_u64).unwrap(), 5);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
