//! The one place host paths are resolved. Every read of `/proc`, `/sys`, `/run` or `/dev` goes
//! through a [`HostRoot`], so the same code runs against the live host (`/`) and against fixture
//! trees in tests.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Reads larger than this are refused: host files the agent parses are small, and a hostile or
/// broken file must not make the agent allocate without bound.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Failure to read a file below the host root.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file does not exist (a process or VM vanished, or the host lacks the feature).
    #[error("{path}: not found")]
    Gone { path: PathBuf },
    /// Any other I/O error.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("{path}: larger than {limit} bytes")]
    TooLarge { path: PathBuf, limit: u64 },
    /// The file is not UTF-8.
    #[error("{path}: not valid UTF-8")]
    NotUtf8 { path: PathBuf },
}

/// The directory the host's filesystem is seen under (`/` on a live host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoot {
    root: PathBuf,
}

impl Default for HostRoot {
    fn default() -> Self {
        Self::new("/")
    }
}

impl HostRoot {
    /// A host root at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// True when this root is the live host (`/`), where syscalls and netlink describe the
    /// same machine as the files.
    pub fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }

    /// `rel` (a host path such as `proc/stat` or `/proc/stat`) below the root.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        let rel = rel.as_ref();
        let rel = rel.strip_prefix("/").unwrap_or(rel);
        self.root.join(rel)
    }

    /// Reads a host file as UTF-8, bounded by [`MAX_FILE_BYTES`].
    pub fn read_string(&self, rel: impl AsRef<Path>) -> Result<String, ReadError> {
        let path = self.path(rel);
        let bytes = read_bounded(&path, MAX_FILE_BYTES)?;
        String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8 { path })
    }

    /// The whole text of a file the kernel produces in one piece (see [`KeptFile::read`]), read
    /// into `buf` (reused by the caller) with one open, one `pread` and one close: the usual
    /// read to end of file costs a second read for every file.
    pub fn read_once<'b>(
        &self,
        rel: impl AsRef<Path>,
        buf: &'b mut Vec<u8>,
    ) -> Result<&'b str, ReadError> {
        let path = self.path(rel);
        let f = File::open(&path).map_err(|e| io_error(&path, e))?;
        let n = pread_whole(&f, &path, buf, false)?;
        std::str::from_utf8(&buf[..n]).map_err(|_| ReadError::NotUtf8 { path })
    }

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

/// Reads `f` from offset 0 into `buf` (grown to a page at least). A one-piece pseudo-file is
/// generated anew by a read at offset 0 and handed out whole when it fits: a short read is its
/// end, and one that fills the buffer is read again from 0 into a buffer twice the size (so the
/// text stays one snapshot). With `to_eof`, reads go on at the next offset until one returns 0.
fn pread_whole(f: &File, path: &Path, buf: &mut Vec<u8>, to_eof: bool) -> Result<usize, ReadError> {
    if buf.len() < 4096 {
        buf.resize(4096, 0);
    }
    let mut n = 0;
    loop {
        let got = f
            .read_at(&mut buf[n..], n as u64)
            .map_err(|e| io_error(path, e))?;
        n += got;
        if n < buf.len() && (!to_eof || got == 0) {
            return Ok(n);
        }
        if n == buf.len() {
            if buf.len() as u64 > MAX_FILE_BYTES {
                return Err(ReadError::TooLarge {
                    path: path.to_path_buf(),
                    limit: MAX_FILE_BYTES,
                });
            }
            // One byte past the limit tells a file of exactly the limit from a longer one.
            let len = (buf.len() * 2).min(MAX_FILE_BYTES as usize + 1);
            buf.resize(len, 0);
            if !to_eof {
                n = 0;
            }
        }
    }
}

/// An I/O error on `path` as a [`ReadError`]: the object behind the file vanished
/// (ENOENT, or ESRCH / ENODEV on a file kept open) is [`ReadError::Gone`].
fn io_error(path: &Path, source: std::io::Error) -> ReadError {
    let gone = source.kind() == std::io::ErrorKind::NotFound
        || matches!(
            source.raw_os_error(),
            Some(nix::libc::ESRCH | nix::libc::ENODEV)
        );
    if gone {
        ReadError::Gone {
            path: path.to_path_buf(),
        }
    } else {
        ReadError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Reads at most `limit` bytes of `path`; a longer file is an error, not a truncation.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let io = |source: std::io::Error| io_error(path, source);
    let file = std::fs::File::open(path).map_err(io)?;
    // Most host files are attributes under a page: one read fills them, a second sees EOF
    // (an empty Vec would start with small probe reads and regrow).
    let mut buf = Vec::with_capacity(4096);
    // procfs files report size 0: read up to the limit + 1 to detect oversize.
    file.take(limit + 1).read_to_end(&mut buf).map_err(io)?;
    if buf.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_below_root() {
        let r = HostRoot::new("/tmp/fx");
        assert_eq!(r.path("/proc/stat"), PathBuf::from("/tmp/fx/proc/stat"));
        assert_eq!(r.path("proc/stat"), PathBuf::from("/tmp/fx/proc/stat"));
        assert!(!r.is_live());
        assert!(HostRoot::default().is_live());
    }

    #[test]
    fn missing_is_gone_and_large_is_refused() {
        let dir = std::env::temp_dir().join(format!("hvscope-hr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let r = HostRoot::new(&dir);
        assert!(matches!(r.read_string("nope"), Err(ReadError::Gone { .. })));
        std::fs::write(dir.join("big"), vec![b'a'; 100]).unwrap();
        assert!(matches!(
            read_bounded(&dir.join("big"), 10),
            Err(ReadError::TooLarge { .. })
        ));
        assert_eq!(read_bounded(&dir.join("big"), 100).unwrap().len(), 100);
        std::fs::write(dir.join("bin"), [0xff, 0xfe]).unwrap();
        assert!(matches!(
            r.read_string("bin"),
            Err(ReadError::NotUtf8 { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
