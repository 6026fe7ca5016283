//! The thin reader: lists directories, resolves links, reads attributes (once, or keeping the
//! file open to read it again next cycle), and hands the text to the pure parsers in
//! [`sysfs`](super::sysfs) and [`diskstats`](super::diskstats). What is kept between cycles and
//! when it is read again is [`IscsiSource`](super::IscsiSource)'s business; the complete read of
//! one session is in [`session`](super::session).
//!
//! Files below a directory read together (a session's attributes, its connections, its LUNs) are
//! opened relative to that directory's descriptor ([`Base`]), so the kernel does not walk the
//! whole path from the root for each of them.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::fcntl::{AT_FDCWD, OFlag, openat};
use nix::sys::stat::Mode;

use super::{IscsiError, MAX_ENTRIES, Multipath, diskstats};
use crate::host_root::{HostRoot, ReadError};

/// Source part names (for [`SourceError::source`](crate::sources::SourceError)).
pub const PART_SESSIONS: &str = "iscsi.sessions";
pub const PART_DISKSTATS: &str = "proc.diskstats";
/// `sys/block` (the block devices of the LUNs and the multipath maps).
pub const PART_MULTIPATH: &str = "iscsi.multipath";

/// Sysfs attributes are at most a page; one read of this size returns the whole of it.
pub(super) const ATTR_BYTES: usize = 4096;

/// Reads and parses `proc/diskstats`.
pub fn read_diskstats(root: &HostRoot) -> Result<Vec<diskstats::DiskStat>, IscsiError> {
    let text = root.read_string("proc/diskstats")?;
    diskstats::parse(&text).map_err(|source| IscsiError::Parse {
        path: root.path("proc/diskstats"),
        source,
    })
}

/// How many more attribute files may be kept open this cycle.
#[derive(Debug)]
pub(super) struct Fds {
    pub left: usize,
}

/// An attribute read again every cycle: its open file, read at offset 0 (sysfs regenerates the
/// text on every read from 0; a removed device's attribute fails with ENODEV), or, past the fd
/// budget, its path, opened anew each time.
#[derive(Debug)]
pub(super) enum Attr {
    Open(File),
    Path(PathBuf),
}

impl Attr {
    /// The trimmed text, `None` when it cannot be read or is not UTF-8.
    pub fn read<'b>(&self, buf: &'b mut [u8; ATTR_BYTES]) -> Option<&'b str> {
        let n = match self {
            Self::Open(f) => f.read_at(buf, 0).ok()?,
            Self::Path(p) => File::open(p).ok()?.read_at(buf, 0).ok()?,
        };
        Some(std::str::from_utf8(&buf[..n]).ok()?.trim())
    }

    pub fn is_open(&self) -> bool {
        matches!(self, Self::Open(_))
    }
}

/// The handles of the attributes of a session read again every cycle: its state, each
/// connection's state and the state of each LUN that has a block device, in the order of the
/// session's connections and LUNs. Everything else of a session (names, portals, timeouts,
/// `target_state`, LUNs without a block device) is read when the session is read completely.
#[derive(Debug)]
pub(super) struct Volatile {
    pub state: Attr,
    pub conns: Vec<Attr>,
    /// Index in the session's `luns`, and its `state`.
    pub luns: Vec<(usize, Attr)>,
}

impl Volatile {
    /// Open files held.
    pub fn open_files(&self) -> usize {
        usize::from(self.state.is_open())
            + self.conns.iter().filter(|a| a.is_open()).count()
            + self.luns.iter().filter(|(_, a)| a.is_open()).count()
    }
}

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
pub(super) fn read_rel(
    dir: &impl RelDir,
    rel: &str,
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
pub(super) fn opt_rel(dir: &impl RelDir, rel: &str, buf: &mut [u8; ATTR_BYTES]) -> Option<String> {
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

fn list_error(path: PathBuf, source: std::io::Error) -> IscsiError {
    if source.kind() == std::io::ErrorKind::NotFound {
        IscsiError::Read(ReadError::Gone { path })
    } else {
        IscsiError::List { path, source }
    }
}

impl Listed {
    /// The names in the directory (UTF-8 ones; no `.` or `..`), bounded by [`MAX_ENTRIES`].
    pub fn names(&mut self) -> Result<Vec<String>, IscsiError> {
        let mut out = Vec::new();
        for e in self.dir.iter() {
            let e = e.map_err(|e| IscsiError::List {
                path: self.path.clone(),
                source: e.into(),
            })?;
            let Some(name) = entry_name(e.file_name().to_bytes()) else {
                continue;
            };
            if out.len() == MAX_ENTRIES {
                return Err(IscsiError::TooMany {
                    path: self.path.clone(),
                    limit: MAX_ENTRIES,
                });
            }
            out.push(name.to_owned());
        }
        Ok(out)
    }
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
    open_listed(root, rel.as_ref())?.names()
}

/// Whether directory `rel` lists exactly `names` in that order (a listing of it by [`list`]: the
/// kernel lists an unchanged directory in the same order). Compared one by one as they are
/// listed: no name is copied. Any error is a change (the caller lists again).
pub(super) fn same_listing(root: &HostRoot, rel: &str, names: &[String]) -> bool {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let Ok(dir) = Dir::open(root.path(rel).as_path(), flags, Mode::empty()) else {
        return false;
    };
    let mut known = names.iter();
    for e in dir {
        let Ok(e) = e else { return false };
        if let Some(name) = entry_name(e.file_name().to_bytes())
            && known.next().map(String::as_str) != Some(name)
        {
            return false;
        }
    }
    known.next().is_none()
}

/// The multipath map `sys/block/<dev>`: `None` when it has no slaves (or vanished).
pub(super) fn read_dm(root: &HostRoot, dev: &str) -> Result<Option<Multipath>, IscsiError> {
    let dir = PathBuf::from("sys/block").join(dev);
    let mut slaves = match list(root, dir.join("slaves")) {
        Ok(s) => s,
        Err(IscsiError::Read(ReadError::Gone { .. })) => return Ok(None),
        Err(e) => return Err(e),
    };
    if slaves.is_empty() {
        return Ok(None);
    }
    slaves.sort();
    let mut buf = [0u8; ATTR_BYTES];
    let (name, uuid) = match Base::open(root, &dir, "dm/name") {
        Ok(base) => (
            opt_rel(&base, "dm/name", &mut buf),
            opt_rel(&base, "dm/uuid", &mut buf),
        ),
        Err(_) => (None, None),
    };
    Ok(Some(Multipath {
        name,
        uuid,
        device: dev.to_owned(),
        slaves,
    }))
}

/// The device-mapper devices `dms` (names of a `sys/block` listing, sorted by their number) that
/// have slaves.
pub(super) fn read_multipath<'a>(
    root: &HostRoot,
    dms: impl Iterator<Item = &'a str>,
) -> Result<Vec<Multipath>, IscsiError> {
    let mut out = Vec::new();
    for dev in dms {
        out.extend(read_dm(root, dev)?);
    }
    Ok(out)
}

/// The LUN directory a `sys/block/<name>` link points at (one `readlink`), `None` for devices
/// that are not SCSI LUNs and links that vanished.
pub(super) fn block_lun_dir(root: &HostRoot, name: &str) -> Option<PathBuf> {
    let link = PathBuf::from("sys/block").join(name);
    let resolved = resolve(root, &link).ok()?;
    super::sysfs::block_lun_dir(&resolved, name).map(Path::to_path_buf)
}

/// `dir`'s symlinks as link name → the last component of their target (udev's `../../sda`).
/// A missing directory is empty.
pub(super) fn links(root: &HostRoot, dir: &str) -> Result<BTreeMap<String, String>, IscsiError> {
    let mut listed = match open_listed(root, Path::new(dir)) {
        Ok(l) => l,
        Err(IscsiError::Read(ReadError::Gone { .. })) => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    let names = listed.names()?;
    let mut out = BTreeMap::new();
    for n in names {
        // Device nodes need not exist (fixtures, vanished devices): resolve by name only.
        if let Some(dev) = link_device(&listed, &n) {
            out.insert(n, dev);
        }
    }
    Ok(out)
}

/// The last component of the target of link `name` below `dir`, if it is one.
pub(super) fn link_device(dir: &impl RelDir, name: &str) -> Option<String> {
    let t = nix::fcntl::readlinkat(dir.fd(), name).ok()?;
    Some(Path::new(&t).file_name()?.to_str()?.to_owned())
}

/// Opens directory `rel` (host-root relative) to read links below it by name.
pub(super) fn open_base(root: &HostRoot, rel: &str) -> Option<Base> {
    Base::open(root, Path::new(rel), "").ok()
}

/// The host-root-relative path a class link points at (one `readlink`, resolved lexically).
pub(super) fn resolve(root: &HostRoot, link: &Path) -> Result<PathBuf, IscsiError> {
    let path = root.path(link);
    let target = std::fs::read_link(&path).map_err(|source| IscsiError::Link { path, source })?;
    Ok(super::sysfs::resolve_link(link, &target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_compare_in_order_and_relative_reads_name_their_file() {
        let t = super::super::testtree::TestTree::new("read");
        t.write("d/a", "one\n");
        t.write("d/b", "(null)\n");
        let root = HostRoot::new(t.root());
        let names = list(&root, "d").unwrap();
        assert_eq!(names.len(), 2);
        assert!(same_listing(&root, "d", &names));
        let mut reversed = names.clone();
        reversed.reverse();
        assert!(!same_listing(&root, "d", &reversed), "order matters");
        assert!(!same_listing(&root, "d", &names[..1]));
        assert!(!same_listing(&root, "nope", &[]));
        let mut buf = [0u8; ATTR_BYTES];
        let base = Base::open(&root, Path::new("d"), "a").unwrap();
        assert_eq!(read_rel(&base, "a", false, &mut buf).unwrap().0, "one");
        assert_eq!(opt_rel(&base, "b", &mut buf), None);
        match read_rel(&base, "c", false, &mut buf) {
            Err(ReadError::Gone { path }) => assert_eq!(path, t.root().join("d/c")),
            other => panic!("{other:?}"),
        }
        // A missing directory fails as its file would.
        match Base::open(&root, Path::new("e"), "state") {
            Err(ReadError::Gone { path }) => assert_eq!(path, t.root().join("e/state")),
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("opened a missing directory"),
        }
    }
}
