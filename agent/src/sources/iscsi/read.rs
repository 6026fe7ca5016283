//! The thin reader: lists directories, resolves links, reads attributes (once, or keeping the
//! file open to read it again next cycle), and hands the text to the pure parsers in
//! [`sysfs`](super::sysfs) and [`diskstats`](super::diskstats). What is kept between cycles and
//! when it is read again is [`IscsiSource`](super::IscsiSource)'s business.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::sysfs::{self, ConnState, SessionState};
use super::{Connection, IscsiError, Lun, MAX_ENTRIES, Multipath, Session, diskstats};
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

/// Reads `proc/diskstats`, parsing the lines of the devices in `wanted` only.
pub(super) fn read_diskstats_of(
    root: &HostRoot,
    wanted: &std::collections::HashSet<String>,
) -> Result<Vec<diskstats::DiskStat>, IscsiError> {
    let text = root.read_string("proc/diskstats")?;
    diskstats::parse_some(&text, |name| wanted.contains(name)).map_err(|source| IscsiError::Parse {
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
            Self::Path(p) => File::open(p).ok()?.read(buf).ok()?,
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

/// Reads session `name` completely. The block devices of its LUNs come from `blocks` (LUN
/// directory → device name, from the `sys/block` links). A session that cannot be read is
/// returned with its `error` and no handles.
pub(super) fn read_session(
    root: &HostRoot,
    name: &str,
    blocks: &HashMap<PathBuf, String>,
    fds: &mut Fds,
) -> (Session, Option<Volatile>) {
    let mut s = Session {
        name: name.to_owned(),
        ..Default::default()
    };
    match fill_session(root, name, blocks, fds, &mut s) {
        Ok(v) => (s, Some(v)),
        Err(e) => {
            s.error = Some(e.to_string());
            (s, None)
        }
    }
}

fn fill_session(
    root: &HostRoot,
    name: &str,
    blocks: &HashMap<PathBuf, String>,
    fds: &mut Fds,
    s: &mut Session,
) -> Result<Volatile, IscsiError> {
    let link = PathBuf::from("sys/class/iscsi_session").join(name);
    let class_dir = resolve(root, &link)?;
    let (dev_dir, host) =
        sysfs::session_device_dir(&class_dir).ok_or_else(|| IscsiError::NotSessionDir {
            path: root.path(&class_dir),
        })?;
    s.host = host;
    s.target = attr(root, &class_dir.join("targetname"))?;
    let state_path = class_dir.join("state");
    let (state, state_h) = kept_attr(root, &state_path, fds)?;
    s.state = Some(known(
        root,
        &state_path,
        "session state",
        state,
        SessionState::parse,
    )?);
    s.target_state = opt_attr(root, &class_dir.join("target_state"));
    s.recovery_tmo_secs =
        opt_attr(root, &class_dir.join("recovery_tmo")).and_then(|v| v.parse().ok());
    s.tpgt = opt_attr(root, &class_dir.join("tpgt")).and_then(|v| v.parse().ok());
    s.initiator = opt_attr(root, &class_dir.join("initiatorname"));
    s.iface = opt_attr(root, &class_dir.join("ifacename"));
    let host_dir = PathBuf::from("sys/class/iscsi_host").join(&s.host);
    s.local_address = opt_attr(root, &host_dir.join("ipaddress"));

    let mut v = Volatile {
        state: state_h,
        conns: Vec::new(),
        luns: Vec::new(),
    };
    let mut entries = list(root, &dev_dir)?;
    entries.sort();
    for e in &entries {
        if e.starts_with("connection") {
            let dir = dev_dir.join(e).join("iscsi_connection").join(e);
            let (c, h) = read_connection(root, e, &dir, fds)?;
            s.connections.push(c);
            v.conns.push(h);
        } else if let Some(t) = e.strip_prefix("target") {
            if sysfs::parse_hctl(&format!("{t}:0")).is_none() {
                continue;
            }
            read_luns(
                root,
                &dev_dir.join(e),
                blocks,
                fds,
                &mut s.luns,
                &mut v.luns,
            )?;
        }
    }
    Ok(v)
}

/// `value` (read from `path`) parsed by `parse`; an unknown value is an error naming the file.
fn known<T>(
    root: &HostRoot,
    path: &Path,
    what: &'static str,
    value: String,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, IscsiError> {
    parse(&value).ok_or_else(|| IscsiError::UnknownValue {
        path: root.path(path),
        what,
        value,
    })
}

fn read_connection(
    root: &HostRoot,
    name: &str,
    dir: &Path,
    fds: &mut Fds,
) -> Result<(Connection, Attr), IscsiError> {
    let state_path = dir.join("state");
    let (state, h) = kept_attr(root, &state_path, fds)?;
    let state = known(
        root,
        &state_path,
        "connection state",
        state,
        ConnState::parse,
    )?;
    Ok((
        Connection {
            name: name.to_owned(),
            state: Some(state),
            portal: portal_pair(root, dir, "persistent_address", "persistent_port"),
            current: current_portal(root, dir),
        },
        h,
    ))
}

/// `address:port` of a connection's live TCP connection (absent while it is down).
fn current_portal(root: &HostRoot, conn_dir: &Path) -> Option<String> {
    portal_pair(root, conn_dir, "address", "port")
}

fn portal_pair(root: &HostRoot, dir: &Path, a: &str, p: &str) -> Option<String> {
    Some(sysfs::portal(
        &opt_attr(root, &dir.join(a))?,
        &opt_attr(root, &dir.join(p))?,
    ))
}

fn read_luns(
    root: &HostRoot,
    target_dir: &Path,
    blocks: &HashMap<PathBuf, String>,
    fds: &mut Fds,
    out: &mut Vec<Lun>,
    handles: &mut Vec<(usize, Attr)>,
) -> Result<(), IscsiError> {
    let mut names: Vec<_> = list(root, target_dir)?
        .into_iter()
        .filter_map(|n| Some((sysfs::parse_hctl(&n)?, n)))
        .collect();
    names.sort();
    for (hctl, name) in names {
        let dir = target_dir.join(&name);
        let block = blocks.get(&dir).cloned();
        // Only the LUNs with a block device are paths I/O goes through: their state is read
        // every cycle; a controller LUN's with the rest of the session.
        let state = if block.is_some() {
            let (state, h) = kept_attr(root, &dir.join("state"), fds)?;
            handles.push((out.len(), h));
            state
        } else {
            attr(root, &dir.join("state"))?
        };
        out.push(Lun {
            lun: hctl[3],
            scsi_type: opt_attr(root, &dir.join("type")).and_then(|v| v.parse().ok()),
            state: Some(state),
            block,
            hctl: name,
        });
    }
    Ok(())
}

/// The device-mapper devices among `names` (a `sys/block` listing) that have slaves.
pub(super) fn read_multipath<'a>(
    root: &HostRoot,
    names: impl Iterator<Item = &'a String>,
) -> Result<Vec<Multipath>, IscsiError> {
    let mut dms: Vec<_> = names
        .filter_map(|n| Some((n.strip_prefix("dm-")?.parse::<u32>().ok()?, n)))
        .collect();
    dms.sort();
    let mut out = Vec::new();
    for (_, dev) in dms {
        let dir = PathBuf::from("sys/block").join(dev);
        let mut slaves = match list(root, dir.join("slaves")) {
            Ok(s) => s,
            Err(IscsiError::Read(ReadError::Gone { .. })) => continue,
            Err(e) => return Err(e),
        };
        if slaves.is_empty() {
            continue;
        }
        slaves.sort();
        out.push(Multipath {
            name: opt_attr(root, &dir.join("dm/name")),
            uuid: opt_attr(root, &dir.join("dm/uuid")),
            device: dev.clone(),
            slaves,
        });
    }
    Ok(out)
}

/// The LUN directory a `sys/block/<name>` link points at (one `readlink`), `None` for devices
/// that are not SCSI LUNs and links that vanished.
pub(super) fn block_lun_dir(root: &HostRoot, name: &str) -> Option<PathBuf> {
    let link = PathBuf::from("sys/block").join(name);
    let resolved = resolve(root, &link).ok()?;
    sysfs::block_lun_dir(&resolved, name).map(Path::to_path_buf)
}

/// `dir`'s symlinks as link name → the last component of their target (udev's `../../sda`).
/// A missing directory is empty.
pub(super) fn links(root: &HostRoot, dir: &str) -> Result<BTreeMap<String, String>, IscsiError> {
    let names = match list(root, dir) {
        Ok(n) => n,
        Err(IscsiError::Read(ReadError::Gone { .. })) => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    let mut out = BTreeMap::new();
    for n in names {
        let path = root.path(dir).join(&n);
        // Device nodes need not exist (fixtures, vanished devices): resolve by name only.
        if let Ok(t) = std::fs::read_link(&path)
            && let Some(dev) = t.file_name().and_then(|f| f.to_str())
        {
            out.insert(n, dev.to_owned());
        }
    }
    Ok(out)
}

/// Whether directory `rel` holds exactly the `known` names, `len` of them (compared one by one
/// as they are listed: no name is copied). Any error is a change (the caller lists again).
pub(super) fn same_names(
    root: &HostRoot,
    rel: &str,
    len: usize,
    known: impl Fn(&str) -> bool,
) -> bool {
    let Ok(rd) = std::fs::read_dir(root.path(rel)) else {
        return false;
    };
    let mut n = 0;
    for e in rd {
        let Ok(e) = e else { return false };
        // Names that are not UTF-8 are not listed by `list` either.
        if let Some(name) = e.file_name().to_str() {
            if n == len || !known(name) {
                return false;
            }
            n += 1;
        }
    }
    n == len
}

/// The names in directory `rel`, bounded by [`MAX_ENTRIES`].
pub(super) fn list(root: &HostRoot, rel: impl AsRef<Path>) -> Result<Vec<String>, IscsiError> {
    let path = root.path(rel);
    let rd = std::fs::read_dir(&path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            IscsiError::Read(ReadError::Gone { path: path.clone() })
        } else {
            IscsiError::List {
                path: path.clone(),
                source,
            }
        }
    })?;
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|source| IscsiError::List {
            path: path.clone(),
            source,
        })?;
        if out.len() == MAX_ENTRIES {
            return Err(IscsiError::TooMany {
                path,
                limit: MAX_ENTRIES,
            });
        }
        if let Some(n) = e.file_name().to_str() {
            out.push(n.to_owned());
        }
    }
    Ok(out)
}

/// The host-root-relative path a class link points at (one `readlink`, resolved lexically).
fn resolve(root: &HostRoot, link: &Path) -> Result<PathBuf, IscsiError> {
    let path = root.path(link);
    let target = std::fs::read_link(&path).map_err(|source| IscsiError::Link { path, source })?;
    Ok(sysfs::resolve_link(link, &target))
}

/// Opens and reads an attribute; the open file when `keep` (else it is closed).
fn open_read(root: &HostRoot, rel: &Path, keep: bool) -> Result<(String, Option<File>), ReadError> {
    let path = root.path(rel);
    let io = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ReadError::Gone { path: path.clone() }
        } else {
            ReadError::Io {
                path: path.clone(),
                source,
            }
        }
    };
    let f = File::open(&path).map_err(io)?;
    // One read: sysfs returns the whole attribute at once (the usual read_to_end would cost a
    // second syscall per attribute, thousands per cycle on a busy node).
    let mut buf = [0u8; ATTR_BYTES];
    let n = f.read_at(&mut buf, 0).map_err(io)?;
    let text =
        std::str::from_utf8(&buf[..n]).map_err(|_| ReadError::NotUtf8 { path: path.clone() })?;
    Ok((text.trim().to_owned(), keep.then_some(f)))
}

/// A required attribute, trimmed.
fn attr(root: &HostRoot, rel: &Path) -> Result<String, IscsiError> {
    Ok(open_read(root, rel, false)?.0)
}

/// A required attribute read again every cycle: its text and its handle (the open file while
/// `fds` allows).
fn kept_attr(root: &HostRoot, rel: &Path, fds: &mut Fds) -> Result<(String, Attr), IscsiError> {
    let (text, f) = open_read(root, rel, fds.left > 0)?;
    Ok((text, handle(root, rel, f, fds)))
}

fn handle(root: &HostRoot, rel: &Path, f: Option<File>, fds: &mut Fds) -> Attr {
    match f {
        Some(f) => {
            fds.left -= 1;
            Attr::Open(f)
        }
        None => Attr::Path(root.path(rel)),
    }
}

/// An attribute that may be absent or unreadable (ENOTCONN on a down connection); `(null)` is
/// the kernel's spelling of unset.
fn opt_attr(root: &HostRoot, rel: &Path) -> Option<String> {
    opt_value(attr(root, rel).ok())
}

pub(super) fn opt_value(v: Option<String>) -> Option<String> {
    v.filter(|v| !v.is_empty() && v != "(null)")
}
