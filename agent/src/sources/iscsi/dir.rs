//! Reading below a directory held open: files below a directory read together (a session's
//! attributes, its connections, its LUNs) are opened relative to that directory's descriptor
//! ([`Base`], or a [`Listed`] directory's), so the kernel does not walk the whole path from the
//! root for each of them; directory listings are bounded by [`MAX_ENTRIES`] and compared with
//! the previous listing name by name ([`same_listing`]).

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::fcntl::{AT_FDCWD, OFlag, openat};
use nix::sys::stat::Mode;

use super::read::ATTR_BYTES;
use super::{IscsiError, MAX_ENTRIES};
use crate::io::{HostRoot, ReadError};

/// A directory below the host root held open (`O_PATH`) to open the files below it relative to
/// it, and its host path for error messages.
pub(super) struct Base {
    fd: OwnedFd,
    path: PathBuf,
}

/// How a directory whose files are read by relative paths is held: open as a [`Base`], or as a
/// listing [`Dir`] (whose descriptor serves the same purpose).
pub(super) trait RelDir {
    fn fd(&self) -> BorrowedFd<'_>;
    fn path(&self) -> &Path;
}

impl RelDir for Base {
    fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
    fn path(&self) -> &Path {
        &self.path
    }
}

/// A directory opened for listing, whose descriptor then serves to open the files below it.
pub(super) struct Listed {
    dir: Dir,
    path: PathBuf,
}

impl RelDir for Listed {
    fn fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }
    fn path(&self) -> &Path {
        &self.path
    }
}

impl Base {
    /// Opens directory `rel` (host-root relative). Fails as a path-based open of its file `first`
    /// would (the error names that file: a missing directory is a missing attribute).
    pub fn open(root: &HostRoot, rel: &Path, first: &str) -> Result<Self, ReadError> {
        let path = root.path(rel);
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        match openat(AT_FDCWD, path.as_path(), flags, Mode::empty()) {
            Ok(fd) => Ok(Self { fd, path }),
            Err(e) => Err(read_error(path.join(first), e.into())),
        }
    }
}

/// The error of reading `path`: a missing file (or directory) is [`ReadError::Gone`].
fn read_error(path: PathBuf, source: std::io::Error) -> ReadError {
    if source.kind() == std::io::ErrorKind::NotFound {
        ReadError::Gone { path }
    } else {
        ReadError::Io { path, source }
    }
}

/// Opens `rel` below `dir` and reads it with one `pread` at offset 0 (sysfs hands out the whole
/// attribute at once; the usual read to the end would cost a second syscall per attribute,
/// thousands per cycle on a busy node). Returns the trimmed text, and the open file when `keep`.
pub(super) fn read_rel<R: AsRef<Path> + nix::NixPath + ?Sized>(
    dir: &impl RelDir,
    rel: &R,
    keep: bool,
    buf: &mut [u8; ATTR_BYTES],
) -> Result<(String, Option<File>), ReadError> {
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let f = match openat(dir.fd(), rel, flags, Mode::empty()) {
        Ok(fd) => File::from(fd),
        Err(e) => return Err(read_error(dir.path().join(rel), e.into())),
    };
    let n = f
        .read_at(buf, 0)
        .map_err(|e| read_error(dir.path().join(rel), e))?;
    let text = std::str::from_utf8(&buf[..n]).map_err(|_| ReadError::NotUtf8 {
        path: dir.path().join(rel),
    })?;
    Ok((text.trim().to_owned(), keep.then_some(f)))
}

/// An attribute that may be absent or unreadable (ENOTCONN on a down connection); `(null)` is
/// the kernel's spelling of unset.
pub(super) fn opt_rel<R: AsRef<Path> + nix::NixPath + ?Sized>(
    dir: &impl RelDir,
    rel: &R,
    buf: &mut [u8; ATTR_BYTES],
) -> Option<String> {
    opt_value(read_rel(dir, rel, false, buf).ok().map(|(t, _)| t))
}

pub(super) fn opt_value(v: Option<String>) -> Option<String> {
    v.filter(|v| !v.is_empty() && v != "(null)")
}

/// Opens directory `rel` (host-root relative) to list it.
pub(super) fn open_listed(root: &HostRoot, rel: &Path) -> Result<Listed, IscsiError> {
    let path = root.path(rel);
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    match Dir::open(path.as_path(), flags, Mode::empty()) {
        Ok(dir) => Ok(Listed { dir, path }),
        Err(e) => Err(list_error(path, e.into())),
    }
}

/// Opens directory `rel` below `parent` to list it.
pub(super) fn open_listed_at(parent: &impl RelDir, rel: &str) -> Result<Listed, IscsiError> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    match Dir::openat(parent.fd(), rel, flags, Mode::empty()) {
        Ok(dir) => Ok(Listed {
            dir,
            path: parent.path().join(rel),
        }),
        Err(e) => Err(list_error(parent.path().join(rel), e.into())),
    }
}

/// A failure to open or list a directory, as the failure to read `file` below it by its path
/// (a missing directory is a missing file).
pub(super) fn as_read_of(e: IscsiError, file: PathBuf) -> IscsiError {
    match e {
        IscsiError::Read(ReadError::Gone { .. }) => ReadError::Gone { path: file }.into(),
        IscsiError::List { source, .. } => ReadError::Io { path: file, source }.into(),
        other => other,
    }
}

fn list_error(path: PathBuf, source: std::io::Error) -> IscsiError {
    if source.kind() == std::io::ErrorKind::NotFound {
        IscsiError::Read(ReadError::Gone { path })
    } else {
        IscsiError::List { path, source }
    }
}

impl Listed {
    /// The names in the directory (UTF-8 ones; no `.` or `..`), bounded by [`MAX_ENTRIES`]. The
    /// directory stays open to reach the files below it.
    pub fn names(&mut self) -> Result<Vec<String>, IscsiError> {
        names_of(self.dir.iter(), &self.path)
    }

    /// [`names`](Self::names), closing the directory (without rewinding it first: one syscall
    /// less).
    pub fn into_names(self) -> Result<Vec<String>, IscsiError> {
        names_of(self.dir, &self.path)
    }
}

fn names_of(
    entries: impl IntoIterator<Item = nix::Result<nix::dir::Entry>>,
    path: &Path,
) -> Result<Vec<String>, IscsiError> {
    let mut out = Vec::new();
    for e in entries {
        let e = e.map_err(|e| IscsiError::List {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        let Some(name) = entry_name(e.file_name().to_bytes()) else {
            continue;
        };
        if out.len() == MAX_ENTRIES {
            return Err(IscsiError::TooMany {
                path: path.to_path_buf(),
                limit: MAX_ENTRIES,
            });
        }
        out.push(name.to_owned());
    }
    Ok(out)
}

/// A directory entry's name as listed: UTF-8, not `.` or `..`.
fn entry_name(bytes: &[u8]) -> Option<&str> {
    if bytes == b"." || bytes == b".." {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

/// The names in directory `rel`, in the order the kernel lists them, bounded by [`MAX_ENTRIES`].
pub(super) fn list(root: &HostRoot, rel: impl AsRef<Path>) -> Result<Vec<String>, IscsiError> {
    open_listed(root, rel.as_ref())?.into_names()
}

/// Whether directory `rel` lists exactly `names` in that order (a listing of it by [`list`]: the
/// kernel lists an unchanged directory in the same order). Compared one by one as they are
/// listed: no name is copied. Any error is a change (the caller lists again).
pub(super) fn same_listing(root: &HostRoot, rel: &str, names: &[String]) -> bool {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let Ok(dir) = Dir::open(root.path(rel).as_path(), flags, Mode::empty()) else {
        return false;
    };
    let mut known = names.iter().peekable();
    for e in dir {
        let Ok(e) = e else { return false };
        let name = e.file_name().to_bytes();
        if known.peek().is_some_and(|k| k.as_bytes() == name) {
            known.next();
        } else if entry_name(name).is_some() {
            return false;
        }
    }
    known.next().is_none()
}
