//! The thin reader: lists the sysfs class directories and the session device trees, reads the
//! attributes, and hands the text to the pure parsers in [`sysfs`](super::sysfs) and
//! [`diskstats`](super::diskstats).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use super::sysfs::{self, ConnState, SessionState};
use super::{Connection, IscsiError, IscsiState, Lun, MAX_ENTRIES, Multipath, Session, diskstats};
use crate::host_root::{HostRoot, ReadError};
use crate::sources::SourceError;

/// Source part names (for [`SourceError::source`]).
pub const PART_SESSIONS: &str = "iscsi.sessions";
pub const PART_DISKSTATS: &str = "proc.diskstats";

/// Sysfs attributes are at most a page; one read of this size returns the whole of it.
const ATTR_BYTES: usize = 4096;

/// Reads the initiator state below `root`. A host without the iSCSI transport (no
/// `sys/class/iscsi_session`) has no sessions, which is not an error; a session that cannot be
/// read is kept with its `error` and reported in `errors` as `iscsi.session.<name>`.
pub fn collect(root: &HostRoot, errors: &mut Vec<SourceError>) -> IscsiState {
    let mut st = IscsiState::default();
    match list(root, "sys/class/iscsi_session") {
        Ok(names) => {
            let mut names: Vec<_> = names
                .into_iter()
                .filter_map(|n| Some((sysfs::session_number(&n)?, n)))
                .collect();
            names.sort();
            for (_, name) in names {
                let s = read_session(root, &name);
                if let Some(e) = &s.error {
                    tracing::debug!(session = %name, error = %e, "iscsi session unreadable");
                    errors.push(SourceError::new(format!("iscsi.session.{name}"), e));
                }
                st.sessions.push(s);
            }
        }
        // No iSCSI transport loaded: no sessions.
        Err(IscsiError::Read(ReadError::Gone { .. })) => {}
        Err(e) => errors.push(SourceError::new(PART_SESSIONS, e)),
    }
    for (dir, map) in [
        ("dev/disk/by-path", &mut st.by_path),
        ("dev/disk/by-id", &mut st.by_id),
    ] {
        match links(root, dir) {
            Ok(m) => *map = m,
            Err(e) => errors.push(SourceError::new(format!("iscsi.{}", &dir[9..]), e)),
        }
    }
    match read_multipath(root) {
        Ok(m) => st.multipath = m,
        Err(e) => errors.push(SourceError::new("iscsi.multipath", e)),
    }
    let wanted: BTreeSet<&str> = st
        .sessions
        .iter()
        .flat_map(|s| s.disks())
        .chain(st.multipath.iter().map(|m| m.device.as_str()))
        .collect();
    if !wanted.is_empty() {
        match read_diskstats(root) {
            Ok(all) => {
                st.diskstats = all
                    .into_iter()
                    .filter(|d| wanted.contains(d.name.as_str()))
                    .collect()
            }
            Err(e) => errors.push(SourceError::new(PART_DISKSTATS, e)),
        }
    }
    st
}

/// Reads and parses `proc/diskstats`.
pub fn read_diskstats(root: &HostRoot) -> Result<Vec<diskstats::DiskStat>, IscsiError> {
    let text = root.read_string("proc/diskstats")?;
    diskstats::parse(&text).map_err(|source| IscsiError::Parse {
        path: root.path("proc/diskstats"),
        source,
    })
}

fn read_session(root: &HostRoot, name: &str) -> Session {
    let mut s = Session {
        name: name.to_owned(),
        ..Default::default()
    };
    if let Err(e) = fill_session(root, name, &mut s) {
        s.error = Some(e.to_string());
    }
    s
}

fn fill_session(root: &HostRoot, name: &str, s: &mut Session) -> Result<(), IscsiError> {
    let link = PathBuf::from("sys/class/iscsi_session").join(name);
    let class_dir = resolve(root, &link)?;
    let (dev_dir, host) =
        sysfs::session_device_dir(&class_dir).ok_or_else(|| IscsiError::NotSessionDir {
            path: root.path(&class_dir),
        })?;
    s.host = host;
    s.target = attr(root, &class_dir.join("targetname"))?;
    let state_path = class_dir.join("state");
    let state = attr(root, &state_path)?;
    s.state = Some(
        SessionState::parse(&state).ok_or_else(|| IscsiError::UnknownValue {
            path: root.path(&state_path),
            what: "session state",
            value: state,
        })?,
    );
    s.target_state = opt_attr(root, &class_dir.join("target_state"));
    s.recovery_tmo_secs =
        opt_attr(root, &class_dir.join("recovery_tmo")).and_then(|v| v.parse().ok());
    s.tpgt = opt_attr(root, &class_dir.join("tpgt")).and_then(|v| v.parse().ok());
    s.initiator = opt_attr(root, &class_dir.join("initiatorname"));
    s.iface = opt_attr(root, &class_dir.join("ifacename"));
    let host_dir = PathBuf::from("sys/class/iscsi_host").join(&s.host);
    s.local_address = opt_attr(root, &host_dir.join("ipaddress"));

    let mut entries = list(root, &dev_dir)?;
    entries.sort();
    for e in &entries {
        if e.starts_with("connection") {
            let dir = dev_dir.join(e).join("iscsi_connection").join(e);
            s.connections.push(read_connection(root, e, &dir)?);
        } else if let Some(t) = e.strip_prefix("target") {
            if sysfs::parse_hctl(&format!("{t}:0")).is_none() {
                continue;
            }
            read_luns(root, &dev_dir.join(e), &mut s.luns)?;
        }
    }
    Ok(())
}

fn read_connection(root: &HostRoot, name: &str, dir: &Path) -> Result<Connection, IscsiError> {
    let state_path = dir.join("state");
    let state = attr(root, &state_path)?;
    let state = ConnState::parse(&state).ok_or_else(|| IscsiError::UnknownValue {
        path: root.path(&state_path),
        what: "connection state",
        value: state,
    })?;
    let pair = |a: &str, p: &str| {
        Some(sysfs::portal(
            &opt_attr(root, &dir.join(a))?,
            &opt_attr(root, &dir.join(p))?,
        ))
    };
    Ok(Connection {
        name: name.to_owned(),
        state: Some(state),
        portal: pair("persistent_address", "persistent_port"),
        current: pair("address", "port"),
    })
}

fn read_luns(root: &HostRoot, target_dir: &Path, out: &mut Vec<Lun>) -> Result<(), IscsiError> {
    let mut names: Vec<_> = list(root, target_dir)?
        .into_iter()
        .filter_map(|n| Some((sysfs::parse_hctl(&n)?, n)))
        .collect();
    names.sort();
    for (hctl, name) in names {
        let dir = target_dir.join(&name);
        let block = match list(root, dir.join("block")) {
            Ok(mut b) => {
                b.sort();
                b.into_iter().next()
            }
            Err(IscsiError::Read(ReadError::Gone { .. })) => None,
            Err(e) => return Err(e),
        };
        out.push(Lun {
            hctl: name,
            lun: hctl[3],
            scsi_type: opt_attr(root, &dir.join("type")).and_then(|v| v.parse().ok()),
            state: Some(attr(root, &dir.join("state"))?),
            block,
        });
    }
    Ok(())
}

fn read_multipath(root: &HostRoot) -> Result<Vec<Multipath>, IscsiError> {
    let names = match list(root, "sys/block") {
        Ok(n) => n,
        Err(IscsiError::Read(ReadError::Gone { .. })) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut dms: Vec<_> = names
        .into_iter()
        .filter_map(|n| Some((n.strip_prefix("dm-")?.parse::<u32>().ok()?, n)))
        .collect();
    dms.sort();
    let mut out = Vec::new();
    for (_, dev) in dms {
        let dir = PathBuf::from("sys/block").join(&dev);
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
            device: dev,
            slaves,
        });
    }
    Ok(out)
}

/// `dir`'s symlinks as link name → the last component of their target (udev's `../../sda`).
/// A missing directory is empty.
fn links(root: &HostRoot, dir: &str) -> Result<BTreeMap<String, String>, IscsiError> {
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

/// The names in directory `rel`, bounded by [`MAX_ENTRIES`].
fn list(root: &HostRoot, rel: impl AsRef<Path>) -> Result<Vec<String>, IscsiError> {
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

/// A required attribute, trimmed.
fn attr(root: &HostRoot, rel: &Path) -> Result<String, IscsiError> {
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
    let mut f = std::fs::File::open(&path).map_err(io)?;
    // One read: sysfs returns the whole attribute at once (the usual read_to_end would cost a
    // second syscall per attribute, thousands per cycle on a busy node).
    let mut buf = [0u8; ATTR_BYTES];
    let n = f.read(&mut buf).map_err(io)?;
    let text =
        std::str::from_utf8(&buf[..n]).map_err(|_| ReadError::NotUtf8 { path: path.clone() })?;
    Ok(text.trim().to_owned())
}

/// An attribute that may be absent or unreadable (ENOTCONN on a down connection); `(null)` is
/// the kernel's spelling of unset.
fn opt_attr(root: &HostRoot, rel: &Path) -> Option<String> {
    attr(root, rel)
        .ok()
        .filter(|v| !v.is_empty() && v != "(null)")
}
