//! The one place host paths are resolved. Every read of `/proc`, `/sys`, `/run` or `/dev` goes
//! through a [`HostRoot`], so the same code runs against the live host (`/`) and against fixture
//! trees in tests. Files read again every collection are [`KeptFile`](super::KeptFile)s.

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

    /// The whole text of a file the kernel produces in one piece (see [`KeptFile::read`](super::KeptFile::read)), read
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
}

/// Reads `f` from offset 0 into `buf` (grown to a page at least). A one-piece pseudo-file is
/// generated anew by a read at offset 0 and handed out whole when it fits: a short read is its
/// end, and one that fills the buffer is read again from 0 into a buffer twice the size (so the
/// text stays one snapshot). With `to_eof`, reads go on at the next offset until one returns 0.
pub(super) fn pread_whole(
    f: &File,
    path: &Path,
    buf: &mut Vec<u8>,
    to_eof: bool,
) -> Result<usize, ReadError> {
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
pub(super) fn io_error(path: &Path, source: std::io::Error) -> ReadError {
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
}
