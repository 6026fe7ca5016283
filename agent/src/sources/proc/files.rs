//! The host-wide `/proc` files read every collection (`stat`, `meminfo`, `loadavg`, `vmstat`,
//! `pressure/*`), kept open ([`KeptFile`]: a fixed handful, one handle each, under
//! [`Holder::Proc`]) and read with `pread` from offset 0, which saves the path walk, open and
//! close of every collection; the mount table, parsed again only when it changed; and
//! `diskstats`, read once per collection for every part that needs it ([`DiskstatsFile`]).

use std::sync::Arc;

use hvscope_parse::ParseError;
use hvscope_parse::proc::diskstats::{self, DiskStat};
use hvscope_parse::proc::mounts;

use super::ProcError;
use crate::io::{FdBudget, Holder, HostRoot, KeptFile, MAX_PROC_FILES, ReadError};

/// The files the kernel produces in one piece (`single_open`: one `pread` returns all of it);
/// the others (`mounts`, `diskstats`, `vmstat`, one record at a time) are read on to end of file.
const ONE_PIECE: [&str; 6] = [
    "proc/stat",
    "proc/meminfo",
    "proc/loadavg",
    "proc/pressure/cpu",
    "proc/pressure/memory",
    "proc/pressure/io",
];

/// What the host part keeps of `/proc`: one kept handle per file read, the read buffer, and the
/// mount table with the file that signals its changes.
#[derive(Debug, Default)]
pub struct ProcFiles {
    files: Vec<(&'static str, KeptFile)>,
    buf: Vec<u8>,
    mounts: Option<(KeptFile, Arc<[mounts::Mount]>)>,
}

impl ProcFiles {
    /// Reads `rel` below the root and parses it with `parse`, through its kept handle (opened
    /// on first use); a kept file that fails is dropped and the path read once more (the next
    /// call keeps it again).
    pub fn read_parsed<T>(
        &mut self,
        root: &HostRoot,
        fds: &FdBudget,
        rel: &'static str,
        parse: fn(&str) -> Result<T, ParseError>,
    ) -> Result<T, ProcError> {
        let Self { files, buf, .. } = self;
        let i = match files.iter().position(|(r, _)| *r == rel) {
            Some(i) => Some(i),
            None if files.len() < MAX_PROC_FILES => {
                root.keep(rel, fds, Holder::Proc).ok().map(|k| {
                    files.push((rel, k));
                    files.len() - 1
                })
            }
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
        let text = root.read_string(rel)?;
        parse(&text).map_err(|source| ProcError::Parse { file: rel, source })
    }

    /// The mount table (`proc/mounts`), parsed. On the live host it is read again only when it
    /// changed: a kept `/proc/self/mounts` reports every change of this mount namespace to
    /// `poll` with `POLLPRI`/`POLLERR` (the kernel's change notification, which systemd and
    /// libmount use), so an unchanged table costs one `poll` instead of formatting and parsing
    /// every mount, and is shared, not copied. The signal is taken before the read, so a change during the read is seen
    /// next time. A fixture tree's file gives no such signal: it is read and parsed every time,
    /// like the other files.
    pub fn read_mounts(
        &mut self,
        root: &HostRoot,
        fds: &FdBudget,
    ) -> Result<Arc<[mounts::Mount]>, ProcError> {
        const REL: &str = "proc/mounts";
        if !root.is_live() {
            return self
                .read_parsed(root, fds, REL, mounts::parse)
                .map(Arc::from);
        }
        if let Some((file, table)) = &self.mounts
            && file.poll_changed() == Some(false)
        {
            return Ok(table.clone());
        }
        let file = match self.mounts.take() {
            Some((file, _)) => file,
            None => root.keep(REL, fds, Holder::Proc)?,
        };
        let table = match file.read_all(&mut self.buf) {
            Ok(text) => Arc::<[mounts::Mount]>::from(
                mounts::parse(text).map_err(|source| ProcError::Parse { file: REL, source })?,
            ),
            // Reopened next time.
            Err(e) => return Err(e.into()),
        };
        self.mounts = Some((file, table.clone()));
        Ok(table)
    }

    /// Files held open.
    pub fn open_files(&self) -> usize {
        self.files.iter().filter(|(_, k)| k.is_open()).count()
            + self.mounts.iter().filter(|(k, _)| k.is_open()).count()
    }
}

/// `proc/diskstats`, read for a whole collection at once: the collector reads it once and hands
/// the reading ([`Diskstats`]) to the host part, the iSCSI part (and reads it once per sample for
/// the disk-delay SLI). The file is kept open, the devices' names are shared from one reading to
/// the next (no allocation per device while the devices stay), and the previous reading's
/// vector is reused.
#[derive(Debug)]
pub struct DiskstatsFile {
    file: Option<KeptFile>,
    buf: Vec<u8>,
    /// The last reading (its devices, in file order) and the one before, whose storage the next
    /// reading reuses.
    stats: Vec<DiskStat>,
    prev: Vec<DiskStat>,
    /// The length of the last reading's text in `buf` (`None`: the read failed).
    text_len: Option<usize>,
    /// The last reading's outcome.
    last: Result<(), DiskstatsError>,
}

impl Default for DiskstatsFile {
    fn default() -> Self {
        Self {
            file: None,
            buf: Vec::new(),
            stats: Vec::new(),
            prev: Vec::new(),
            text_len: None,
            last: Ok(()),
        }
    }
}

/// Why `proc/diskstats` could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum DiskstatsError {
    #[error(transparent)]
    Read(ReadError),
    /// The text did not parse (the text is still handed out: see [`Diskstats::text`]).
    #[error("proc/diskstats: {0}")]
    Parse(ParseError),
}

/// One reading of `proc/diskstats`.
#[derive(Debug, Clone, Copy)]
pub struct Diskstats<'a> {
    text: Option<&'a str>,
    stats: Result<&'a [DiskStat], &'a DiskstatsError>,
}

impl<'a> Diskstats<'a> {
    /// Every device, in file order, or why the file could not be read or parsed.
    pub fn stats(&self) -> Result<&'a [DiskStat], &'a DiskstatsError> {
        self.stats
    }

    /// The text read (`None` when the read failed), for a part that parses only the lines it
    /// wants when the whole text does not parse.
    pub fn text(&self) -> Option<&'a str> {
        self.text
    }

    /// The host part's figures: every device (sharing the reading's names), or why not.
    pub fn for_host(&self) -> Result<Vec<DiskStat>, &'a DiskstatsError> {
        self.stats.map(<[DiskStat]>::to_vec)
    }
}

impl DiskstatsFile {
    const REL: &'static str = "proc/diskstats";

    /// Reads and parses the file (a multi-record file: read to its end), through its kept handle.
    /// A kept handle that fails is dropped (opened again next time).
    pub fn read(&mut self, root: &HostRoot, fds: &FdBudget) -> Diskstats<'_> {
        std::mem::swap(&mut self.stats, &mut self.prev);
        self.stats.clear();
        self.text_len = None;
        self.last = self.read_parse(root, fds);
        Diskstats {
            // UTF-8, as the read checked.
            text: self
                .text_len
                .map(|n| std::str::from_utf8(&self.buf[..n]).unwrap_or("")),
            stats: match &self.last {
                Ok(()) => Ok(&self.stats),
                Err(e) => Err(e),
            },
        }
    }

    fn read_parse(&mut self, root: &HostRoot, fds: &FdBudget) -> Result<(), DiskstatsError> {
        let file = match &self.file {
            Some(f) => f,
            None => self.file.insert(
                root.keep(Self::REL, fds, Holder::Proc)
                    .map_err(DiskstatsError::Read)?,
            ),
        };
        let n = match file.read_all(&mut self.buf) {
            Ok(text) => text.len(),
            Err(e) => {
                self.file = None;
                return Err(DiskstatsError::Read(e));
            }
        };
        self.text_len = Some(n);
        let text = std::str::from_utf8(&self.buf[..n]).unwrap_or("");
        // The names of the last reading, in order: an unchanged device gets its name back.
        let mut known = self.prev.iter();
        let named = |name: &str| {
            Some(match known.clone().next() {
                Some(k) if *k.name == *name => {
                    known.next();
                    Arc::clone(&k.name)
                }
                _ => name.into(),
            })
        };
        diskstats::parse_into(text, named, &mut self.stats).map_err(|e| {
            self.stats.clear();
            DiskstatsError::Parse(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hvscope_parse::proc::{meminfo, stat, vmstat};

    #[test]
    fn the_mount_table_is_read_again_only_after_a_change() {
        let root = HostRoot::default();
        let fds = FdBudget::for_process();
        let mut files = ProcFiles::default();
        let fresh = || mounts::parse(&root.read_string("proc/mounts").unwrap()).unwrap();
        let first = files.read_mounts(&root, &fds).unwrap();
        assert_eq!(*first, fresh());
        let second = files.read_mounts(&root, &fds).unwrap();
        assert!(
            Arc::ptr_eq(&first, &second),
            "an unchanged table is shared, not copied"
        );
        let file = root.keep("proc/mounts", &fds, Holder::Proc).unwrap();
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
        let with = files.read_mounts(&root, &fds).unwrap();
        assert!(with.iter().any(|m| m.device == "hvscope-test"), "{with:?}");
        let umounted = std::process::Command::new("umount")
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(umounted);
        std::fs::remove_dir(&dir).unwrap();
        let without = files.read_mounts(&root, &fds).unwrap();
        assert!(!without.iter().any(|m| m.device == "hvscope-test"));
    }

    #[test]
    fn live_files_read_through_kept_handles_match_fresh_reads() {
        let root = HostRoot::default();
        let fds = FdBudget::for_process();
        let mut files = ProcFiles::default();
        for _ in 0..3 {
            // Multi-record files (mounts, diskstats, vmstat) are read to their end.
            let kept = files
                .read_parsed(&root, &fds, "proc/mounts", mounts::parse)
                .unwrap();
            let fresh = mounts::parse(&root.read_string("proc/mounts").unwrap()).unwrap();
            assert_eq!(kept, fresh);
            let kept = files
                .read_parsed(&root, &fds, "proc/meminfo", meminfo::parse)
                .unwrap();
            let fresh = meminfo::parse(&root.read_string("proc/meminfo").unwrap()).unwrap();
            assert_eq!(kept.get("MemTotal"), fresh.get("MemTotal"));
            let kept = files
                .read_parsed(&root, &fds, "proc/stat", stat::parse)
                .unwrap();
            let fresh = stat::parse(&root.read_string("proc/stat").unwrap()).unwrap();
            assert_eq!(kept.per_cpu.len(), fresh.per_cpu.len());
            assert_eq!(kept.boot_time_seconds, fresh.boot_time_seconds);
            let kept = files
                .read_parsed(&root, &fds, "proc/vmstat", vmstat::parse)
                .unwrap();
            let fresh = vmstat::parse(&root.read_string("proc/vmstat").unwrap()).unwrap();
            assert_eq!(kept.entries.len(), fresh.entries.len());
        }
        assert!(
            files
                .files
                .iter()
                .any(|(r, k)| *r == "proc/mounts" && k.is_open())
        );
        assert_eq!(files.open_files(), 4);
        assert_eq!(fds.held(Holder::Proc), 4);
    }

    /// A fixture tree goes through the same kept handles: a file rewritten between two
    /// collections is read anew, a removed one is an error (and a file that comes back is read
    /// again), and the budget's share is what is held.
    #[test]
    fn fixture_files_are_kept_and_their_changes_seen() {
        let dir = std::env::temp_dir().join(format!("hvscope-procfiles-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("proc")).unwrap();
        let loadavg = dir.join("proc/loadavg");
        std::fs::write(&loadavg, "0.50 0.40 0.30 1/100 42\n").unwrap();
        let root = HostRoot::new(&dir);
        let fds = FdBudget::with_caps([(Holder::Proc, 1)]);
        let mut files = ProcFiles::default();
        let parse = hvscope_parse::proc::loadavg::parse;
        let one = |f: &mut ProcFiles| f.read_parsed(&root, &fds, "proc/loadavg", parse);
        assert_eq!(one(&mut files).unwrap().load1, 0.5);
        assert_eq!(fds.held(Holder::Proc), 1);
        std::fs::write(&loadavg, "2.00 0.40 0.30 1/100 42\n").unwrap();
        assert_eq!(one(&mut files).unwrap().load1, 2.0);
        std::fs::remove_file(&loadavg).unwrap();
        assert!(matches!(
            one(&mut files),
            Err(ProcError::Read(crate::io::ReadError::Gone { .. }))
        ));
        assert_eq!(fds.held(Holder::Proc), 0, "the failed handle was dropped");
        std::fs::write(&loadavg, "3.00 0.40 0.30 1/100 42\n").unwrap();
        assert_eq!(one(&mut files).unwrap().load1, 3.0);
        assert_eq!(files.open_files(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
