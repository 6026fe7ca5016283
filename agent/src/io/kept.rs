//! Host files read again and again: [`KeptFile`].

use std::fs::File;
use std::path::{Path, PathBuf};

use super::root::{HostRoot, ReadError, io_error, pread_whole};

impl HostRoot {
    /// A handle on host file `rel` to read it again and again (see [`KeptFile`]). On the live
    /// host and when `keep`, the file stays open; otherwise the path is kept and opened anew on
    /// each read. Fails like a read when the file does not exist or cannot be opened.
    pub fn keep(&self, rel: impl AsRef<Path>, keep: bool) -> Result<KeptFile, ReadError> {
        let path = self.path(rel);
        let file = File::open(&path).map_err(|e| io_error(&path, e))?;
        Ok(KeptFile {
            file: (keep && self.is_live()).then_some(file),
            path,
        })
    }
}

/// The files a source may keep open: `1/share` of the soft `RLIMIT_NOFILE` (the agent raises it
/// to the hard limit at start; 1024 assumed when unreadable), at most `max`.
pub fn fd_budget(share: u64, max: usize) -> usize {
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| soft);
    usize::try_from(soft / share.max(1)).map_or(max, |n| n.min(max))
}

/// A host file read again every collection. On the live host it is kept open and read with
/// `pread` at offset 0: procfs, sysfs and cgroupfs produce the text anew on every read from
/// offset 0, and once the process, thread, cgroup or device behind the file is gone the read
/// fails (ESRCH, ENODEV; a recycled pid is another `struct pid`), so a kept file never shows
/// another object's figures. It saves the path walk, open and close of each read. Below a
/// fixture tree (regular files, which may be rewritten or removed) the path is opened anew on
/// each read.
///
/// The same pattern, with its own budget, serves the iSCSI source's sysfs attributes.
#[derive(Debug)]
pub struct KeptFile {
    path: PathBuf,
    file: Option<File>,
}

impl KeptFile {
    /// True when the file is held open (it counts against an fd budget).
    pub fn is_open(&self) -> bool {
        self.file.is_some()
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
    /// [`MAX_FILE_BYTES`]; a vanished object (ENOENT, ESRCH, ENODEV) is [`ReadError::Gone`].
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
        let f = self.file.as_ref()?;
        let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLPRI)];
        poll(&mut fds, PollTimeout::ZERO).ok()?;
        let events = fds[0].revents()?;
        Some(events.intersects(PollFlags::POLLPRI | PollFlags::POLLERR))
    }

    fn read_with<'b>(&self, buf: &'b mut Vec<u8>, to_eof: bool) -> Result<&'b str, ReadError> {
        let n = match &self.file {
            Some(f) => pread_whole(f, &self.path, buf, to_eof)?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_file_below_a_fixture_sees_rewrites_and_removal() {
        let dir = std::env::temp_dir().join(format!("hvscope-kept-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let r = HostRoot::new(&dir);
        assert!(matches!(r.keep("nope", true), Err(ReadError::Gone { .. })));
        std::fs::write(dir.join("f"), "one\n").unwrap();
        let k = r.keep("f", true).unwrap();
        assert!(!k.is_open(), "below a fixture tree the path is kept");
        let mut buf = Vec::new();
        assert_eq!(k.read(&mut buf).unwrap(), "one\n");
        // Replaced by rename (a new inode), as tools rewrite files: the new text is read.
        std::fs::write(dir.join("g"), "two\n").unwrap();
        std::fs::rename(dir.join("g"), dir.join("f")).unwrap();
        assert_eq!(k.read(&mut buf).unwrap(), "two\n");
        // Longer than the first buffer: read whole.
        let long = "x".repeat(10_000);
        std::fs::write(dir.join("f"), &long).unwrap();
        assert_eq!(k.read(&mut buf).unwrap(), long);
        assert_eq!(k.read_all(&mut buf).unwrap(), long);
        std::fs::remove_file(dir.join("f")).unwrap();
        assert!(matches!(k.read(&mut buf), Err(ReadError::Gone { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn kept_proc_file_is_fresh_and_fails_once_the_process_is_gone() {
        let r = HostRoot::default();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let k = r.keep(format!("proc/{}/stat", child.id()), true).unwrap();
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
        let smaps = r.keep("proc/self/smaps", true).unwrap();
        let text = smaps.read_all(&mut buf).unwrap().to_owned();
        assert!(text.len() > 8192 && text.ends_with('\n'), "{}", text.len());
        assert!(smaps.read(&mut buf).unwrap().len() < text.len());
        child.kill().unwrap();
        child.wait().unwrap();
        // Reaped: the pid is gone, and so is what the kept handle reads.
        assert!(matches!(k.read(&mut buf), Err(ReadError::Gone { .. })));
    }
}
