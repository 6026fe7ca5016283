//! Host files read again and again: [`KeptFile`] (opened by path), and [`HeldFile`] (a file a
//! source opened itself, relative to a directory it holds), both kept open under a [`Lease`] of
//! the one [`FdBudget`].

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::budget::{FdBudget, Holder, Lease};
use super::root::{HostRoot, ReadError, io_error, pread_whole};

impl HostRoot {
    /// A handle on host file `rel` to read it again and again (see [`KeptFile`]), kept open for
    /// `who` when the budget grants it a slot; otherwise the path is kept and opened anew on each
    /// read. Fails like a read when the file does not exist or cannot be opened.
    pub fn keep(
        &self,
        rel: impl AsRef<Path>,
        fds: &FdBudget,
        who: Holder,
    ) -> Result<KeptFile, ReadError> {
        let path = self.path(rel);
        let file = File::open(&path).map_err(|e| io_error(&path, e))?;
        let open = fds.grant(who).and_then(|lease| {
            // Below a fixture tree, the file's identity, checked against its path at each read.
            let identity = if self.is_live() {
                None
            } else {
                Some(identity(&file.metadata().ok()?))
            };
            Some(Open {
                file,
                identity,
                _lease: lease,
            })
        });
        Ok(KeptFile { path, open })
    }
}

/// Device and inode: which file a path names.
fn identity(m: &std::fs::Metadata) -> (u64, u64) {
    (m.dev(), m.ino())
}

/// A host file read again every collection, kept open while the [`FdBudget`] allows and read
/// with `pread` at offset 0.
///
/// **On the live host** procfs, sysfs and cgroupfs produce the text anew on every read from
/// offset 0, and once the process, thread, cgroup or device behind the file is gone the read
/// fails (ESRCH, ENODEV; a recycled pid is another `struct pid`), so a kept file never shows
/// another object's figures. It saves the path walk, open and close of each read.
///
/// **Below a fixture tree** the files are regular files, which a test rewrites in place, replaces
/// (renamed over) or removes. They are kept open alike, so fixture tests run the same keeping
/// code as the live host; before each read one `stat` of the path checks that it still names
/// the kept file: a removed file is [`ReadError::Gone`] (as a vanished object's file is on the
/// live host), and a replaced one is read by its path (what a reopen would read).
///
/// A file the budget refused a slot keeps only its path and is opened anew on each read.
#[derive(Debug)]
pub struct KeptFile {
    path: PathBuf,
    open: Option<Open>,
}

#[derive(Debug)]
struct Open {
    file: File,
    /// Below a fixture tree: device and inode of the file when it was opened.
    identity: Option<(u64, u64)>,
    _lease: Lease,
}

impl KeptFile {
    /// True when the file is held open (it holds a slot of the budget).
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// The host path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole text of a file the kernel produces in one piece, read into `buf` (reused
    /// between reads) with one `pread` at offset 0: a one-value sysfs attribute, a
    /// `/proc/<pid>/{stat,status,schedstat,cgroup}`, a cgroup control file (`cpu.stat`,
    /// `io.stat`, `*.pressure`, …), a regular file. A multi-record file (`/proc/mounts`,
    /// `smaps`) hands out a page per read: use [`read_all`](Self::read_all). Bounded by
    /// [`MAX_FILE_BYTES`](super::MAX_FILE_BYTES); a vanished object (ENOENT, ESRCH, ENODEV) is
    /// [`ReadError::Gone`].
    pub fn read<'b>(&self, buf: &'b mut Vec<u8>) -> Result<&'b str, ReadError> {
        self.read_with(buf, false)
    }

    /// Like [`read`](Self::read), for any file: reads on until end of file (one more `pread`).
    pub fn read_all<'b>(&self, buf: &'b mut Vec<u8>) -> Result<&'b str, ReadError> {
        self.read_with(buf, true)
    }

    /// Whether `poll` reports `POLLPRI`/`POLLERR` on the open file now (without waiting): the
    /// kernel's change signal of `/proc/self/mounts` (and of sysfs attributes that notify).
    /// Reporting it acknowledges it. `None` when the file is not held open or poll fails.
    pub fn poll_changed(&self) -> Option<bool> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let f = &self.open.as_ref()?.file;
        let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLPRI)];
        poll(&mut fds, PollTimeout::ZERO).ok()?;
        let events = fds[0].revents()?;
        Some(events.intersects(PollFlags::POLLPRI | PollFlags::POLLERR))
    }

    fn read_with<'b>(&self, buf: &'b mut Vec<u8>, to_eof: bool) -> Result<&'b str, ReadError> {
        let kept = match &self.open {
            Some(Open {
                identity: Some(id), ..
            }) => {
                let now = std::fs::metadata(&self.path).map_err(|e| io_error(&self.path, e))?;
                self.open.as_ref().filter(|_| identity(&now) == *id)
            }
            open => open.as_ref(),
        };
        let n = match kept {
            Some(o) => pread_whole(&o.file, &self.path, buf, to_eof)?,
            None => {
                let f = File::open(&self.path).map_err(|e| io_error(&self.path, e))?;
                pread_whole(&f, &self.path, buf, to_eof)?
            }
        };
        std::str::from_utf8(&buf[..n]).map_err(|_| ReadError::NotUtf8 {
            path: self.path.clone(),
        })
    }
}

/// A file a source opened itself (relative to a directory descriptor it holds, as the iSCSI
/// source opens sysfs attributes) and keeps open under a [`Lease`]. It is read with one `pread`
/// at offset 0 and not checked against a path: the iSCSI source reads sysfs attributes, which a
/// fixture test rewrites in place, and notices removed objects by its listings and its refresh
/// period (on the live host the read fails with ENODEV).
#[derive(Debug)]
pub struct HeldFile {
    file: File,
    _lease: Lease,
}

impl HeldFile {
    /// `file`, kept under `lease`.
    pub fn new(file: File, lease: Lease) -> Self {
        Self {
            file,
            _lease: lease,
        }
    }

    /// One `pread` at offset 0 into `buf`: the bytes read.
    pub fn read_at_start(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.file.read_at(buf, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_file_below_a_fixture_sees_rewrites_and_removal() {
        let dir = std::env::temp_dir().join(format!("hvscope-kept-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let r = HostRoot::new(&dir);
        let fds = FdBudget::with_caps([(Holder::Proc, 1)]);
        assert!(matches!(
            r.keep("nope", &fds, Holder::Proc),
            Err(ReadError::Gone { .. })
        ));
        assert_eq!(fds.held(Holder::Proc), 0, "a failed open holds nothing");
        std::fs::write(dir.join("f"), "one\n").unwrap();
        let k = r.keep("f", &fds, Holder::Proc).unwrap();
        assert!(
            k.is_open(),
            "below a fixture tree the file is kept open too"
        );
        assert_eq!(fds.held(Holder::Proc), 1);
        let past = r.keep("f", &fds, Holder::Proc).unwrap();
        assert!(!past.is_open(), "past the budget the path is kept");
        let mut buf = Vec::new();
        assert_eq!(k.read(&mut buf).unwrap(), "one\n");
        // Rewritten in place: the kept file reads the new text.
        std::fs::write(dir.join("f"), "1\n").unwrap();
        assert_eq!(k.read(&mut buf).unwrap(), "1\n");
        // Replaced by rename (a new inode), as tools rewrite files: the new text is read.
        std::fs::write(dir.join("g"), "two\n").unwrap();
        std::fs::rename(dir.join("g"), dir.join("f")).unwrap();
        assert_eq!(k.read(&mut buf).unwrap(), "two\n");
        assert_eq!(past.read(&mut buf).unwrap(), "two\n");
        // Longer than the first buffer: read whole.
        let long = "x".repeat(10_000);
        std::fs::write(dir.join("f"), &long).unwrap();
        assert_eq!(k.read(&mut buf).unwrap(), long);
        assert_eq!(k.read_all(&mut buf).unwrap(), long);
        std::fs::remove_file(dir.join("f")).unwrap();
        assert!(matches!(k.read(&mut buf), Err(ReadError::Gone { .. })));
        assert!(matches!(past.read(&mut buf), Err(ReadError::Gone { .. })));
        drop(k);
        assert_eq!(fds.held(Holder::Proc), 0, "closing gives the slot back");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn kept_proc_file_is_fresh_and_fails_once_the_process_is_gone() {
        let r = HostRoot::default();
        let fds = FdBudget::with_caps([(Holder::Proc, 2)]);
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let k = r
            .keep(format!("proc/{}/stat", child.id()), &fds, Holder::Proc)
            .unwrap();
        assert!(k.is_open());
        let mut buf = Vec::new();
        let first = k.read(&mut buf).unwrap().to_owned();
        assert!(
            first.starts_with(&format!("{} (sleep) ", child.id())),
            "{first}"
        );
        // The same handle reads again (offset 0 regenerates the text).
        assert_eq!(k.read(&mut buf).unwrap().split(' ').nth(1), Some("(sleep)"));
        // A pseudo-file larger than a page is read whole through the kept handle.
        // A multi-record file hands out a page per read: read_all goes on to its end.
        let smaps = r.keep("proc/self/smaps", &fds, Holder::Proc).unwrap();
        let text = smaps.read_all(&mut buf).unwrap().to_owned();
        assert!(text.len() > 8192 && text.ends_with('\n'), "{}", text.len());
        assert!(smaps.read(&mut buf).unwrap().len() < text.len());
        child.kill().unwrap();
        child.wait().unwrap();
        // Reaped: the pid is gone, and so is what the kept handle reads.
        assert!(matches!(k.read(&mut buf), Err(ReadError::Gone { .. })));
    }
}
