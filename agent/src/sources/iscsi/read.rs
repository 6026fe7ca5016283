//! The thin reader: lists directories, resolves links, reads attributes (once, or keeping the
//! file open to read it again next cycle), and hands the text to the pure parsers in
//! [`sysfs`](super::sysfs). What is kept between cycles and
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

use super::{IscsiError, MAX_ENTRIES, Multipath};
use crate::io::{HeldFile, HostRoot, ReadError};

/// Source part names (for [`SourceError::source`](crate::sources::SourceError)).
pub const PART_SESSIONS: &str = "iscsi.sessions";
pub const PART_DISKSTATS: &str = "proc.diskstats";
/// `sys/block` (the block devices of the LUNs and the multipath maps).
pub const PART_MULTIPATH: &str = "iscsi.multipath";

/// Sysfs attributes are at most a page; one read of this size returns the whole of it.
pub(super) const ATTR_BYTES: usize = 4096;

/// An attribute read again every cycle: its open file, read at offset 0 (sysfs regenerates the
/// text on every read from 0; a removed device's attribute fails with ENODEV), or, past the fd
/// budget's share of [`Holder::Iscsi`](crate::io::Holder::Iscsi), its path, opened anew each
/// time.
#[derive(Debug)]
pub(super) enum Attr {
    Open(HeldFile),
    Path(PathBuf),
}

impl Attr {
    /// The trimmed text, `None` when it cannot be read or is not UTF-8.
    pub fn read<'b>(&self, buf: &'b mut [u8; ATTR_BYTES]) -> Option<&'b str> {
        let n = match self {
            Self::Open(f) => f.read_at_start(buf).ok()?,
            Self::Path(p) => File::open(p).ok()?.read_at(buf, 0).ok()?,
        };
        Some(std::str::from_utf8(&buf[..n]).ok()?.trim())
    }

    /// Whether the attribute reads as `text` ([`read`](Self::read) gives `Some(text)`). A read
    /// of exactly `text` and the kernel's newline, the usual case, is settled on the bytes.
    pub fn reads_as(&self, buf: &mut [u8; ATTR_BYTES], text: &str) -> bool {
        let n = match self {
            Self::Open(f) => f.read_at_start(buf),
            Self::Path(p) => File::open(p).and_then(|f| f.read_at(buf, 0)),
        };
        let Ok(n) = n else { return false };
        let raw = &buf[..n];
        if raw.len() == text.len() + 1
            && raw.starts_with(text.as_bytes())
            && raw[text.len()] == b'\n'
        {
            // `text` was trimmed when it was read: `text\n` trims to it.
            return text.trim() == text;
        }
        std::str::from_utf8(raw).is_ok_and(|t| t.trim() == text)
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

/// An optional attribute opened by its host-root-relative path (one file of a directory: no
/// directory descriptor to open first).
pub(super) fn opt_path(root: &HostRoot, rel: &Path, buf: &mut [u8; ATTR_BYTES]) -> Option<String> {
    let f = File::open(root.path(rel)).ok()?;
    let n = f.read_at(buf, 0).ok()?;
    opt_value(
        std::str::from_utf8(&buf[..n])
            .ok()
            .map(|t| t.trim().to_owned()),
    )
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
    let name = opt_path(root, &dir.join("dm/name"), &mut buf);
    let uuid = opt_path(root, &dir.join("dm/uuid"), &mut buf);
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

/// The target of link `sys/block/<name>` (`None` when it cannot be read), read through `dir`
/// (`sys/block` opened with [`open_base`]).
pub(super) fn block_link(dir: &impl RelDir, name: &str) -> Option<PathBuf> {
    nix::fcntl::readlinkat(dir.fd(), name)
        .ok()
        .map(PathBuf::from)
}

/// The LUN directory `sys/block/<name>` points at when its link's target is `target`, `None`
/// for devices that are not SCSI LUNs.
pub(super) fn block_lun_dir(name: &str, target: &Path) -> Option<PathBuf> {
    let link = PathBuf::from("sys/block").join(name);
    let resolved = super::sysfs::resolve_link(&link, target);
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
        let fds = crate::io::FdBudget::with_caps([(crate::io::Holder::Iscsi, 100)]);
        let base = Base::open(&root, Path::new("d"), "a").unwrap();
        assert_eq!(read_rel(&base, "a", false, &mut buf).unwrap().0, "one");
        assert_eq!(opt_rel(&base, "b", &mut buf), None);
        match read_rel(&base, "c", false, &mut buf) {
            Err(ReadError::Gone { path }) => assert_eq!(path, t.root().join("d/c")),
            other => panic!("{other:?}"),
        }
        // `reads_as` answers as comparing `read` would, whatever the file holds.
        let contents: [&[u8]; 9] = [
            b"running\n",
            b"running",
            b" running\n",
            b"running\r\n",
            b"runnin\n",
            b"running\n\n",
            b"\n",
            b"",
            b"\xffrunning\n",
        ];
        for (i, c) in contents.iter().enumerate() {
            std::fs::write(t.root().join("d/a"), c).unwrap();
            for attr in [
                Attr::Path(t.root().join("d/a")),
                Attr::Open(HeldFile::new(
                    File::open(t.root().join("d/a")).unwrap(),
                    fds.grant(crate::io::Holder::Iscsi).unwrap(),
                )),
            ] {
                for text in ["running", "", " running", "runnin"] {
                    let by_read = attr.read(&mut buf) == Some(text);
                    assert_eq!(attr.reads_as(&mut buf, text), by_read, "{i}: {text:?}");
                }
            }
        }
        // A missing directory fails as its file would.
        match Base::open(&root, Path::new("e"), "state") {
            Err(ReadError::Gone { path }) => assert_eq!(path, t.root().join("e/state")),
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("opened a missing directory"),
        }
    }
}
