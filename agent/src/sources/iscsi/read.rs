//! The thin reader: reads attributes (once, or keeping the file open to read it again next
//! cycle), resolves links, reads the multipath maps, and hands the text to the pure parsers in
//! [`sysfs`](super::sysfs); reading below a directory held open is [`dir`](super::dir). What is
//! kept between cycles and when it is read again is [`IscsiSource`](super::IscsiSource)'s
//! business; the complete read of one session is in [`session`](super::session).

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::dir::{Base, RelDir, list, open_listed, opt_value};
use super::{IscsiError, Multipath};
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
    use super::super::dir::{opt_rel, read_rel, same_listing};
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
