//! The iSCSI source with what it keeps between collections. Sessions, their connections, LUNs
//! and block devices almost never change between cycles, so a steady cycle reads only:
//! - the listings of `sys/class/iscsi_session` and `sys/block` (what appeared or vanished);
//! - the attributes a failure changes, for each known session: the session `state`, each
//!   connection's `state` and the `state` of each LUN that has a block device (a path I/O goes
//!   through), with `pread` at offset 0 on files kept open (up to an fd budget, [`fd_budget`];
//!   past it by path). A failed session or connection, a blocked or offline disk is therefore
//!   seen in the first cycle after it happened;
//! - `stat` of `dev/disk/by-path` and `by-id` (re-listed when they changed);
//! - `proc/diskstats`, once.
//!
//! A session is read completely (its tree walked) when it is new, when a block device of it
//! appeared or vanished, when one of those states changed or cannot be read or parsed (the device
//! went away: ENODEV), while it is in error, and every [`RESCAN_EVERY`] cycles for all sessions.
//! So its other attributes — `targetname`, `tpgt`, `initiatorname`, `ifacename`, the host's
//! address, the connections' portals, `target_state`, `recovery_tmo`, and the state of LUNs
//! without a block device (array controllers) — are as fresh as its last state change, and at
//! most [`RESCAN_EVERY`] cycles old. New `sys/block` entries cost one `readlink` each (the link
//! names the session and LUN); multipath maps are read again when `sys/block` changed. Apart
//! from those attributes between rescans, the results equal a fresh [`collect`](super::collect).
//!
//! Unchanged sessions, link maps and multipath maps are handed out as the same [`Arc`]s cycle
//! after cycle, and the series label sets are kept with them ([`LabelCache`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::diskstats::RateTracker;
use super::read::{self, ATTR_BYTES, Fds, Volatile};
use super::series::LabelCache;
use super::sysfs::{self, ConnState, SessionState};
use super::{IscsiError, IscsiState, Multipath, Session};
use crate::host_root::{HostRoot, ReadError};
use crate::sources::SourceError;

/// Every this many cycles every session is read completely (a safety net for changes no listing
/// shows, such as a LUN without a block device added to a live session, and the bound on how old
/// a session's attributes other than its states may be).
pub const RESCAN_EVERY: u64 = 30;

/// Most attribute files kept open (each holds a page of kernel memory for its sysfs buffer).
pub const MAX_OPEN_ATTRS: usize = 4096;

/// The attribute files the source may keep open: half the soft `RLIMIT_NOFILE`, at most
/// [`MAX_OPEN_ATTRS`].
pub fn fd_budget() -> usize {
    crate::host_root::fd_budget(2, MAX_OPEN_ATTRS)
}

#[derive(Debug)]
struct Cached {
    session: Arc<Session>,
    handles: Volatile,
}

/// A directory's identity and change times, to re-list it only when it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirStamp {
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl DirStamp {
    fn of(m: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            ino: m.ino(),
            size: m.size(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        }
    }
}

/// Whether a listing taken when the directory had stamp `prev` still holds for `cur`. A change
/// less than 2 s before `now_ns` is not trusted (the clock behind mtime is coarse: a second change
/// in the same tick leaves the stamp alone), so a recently changed directory is listed again.
pub fn listing_holds(prev: Option<&DirStamp>, cur: &DirStamp, now_ns: i128) -> bool {
    prev == Some(cur) && now_ns - cur.mtime_ns.max(cur.ctime_ns) > 2_000_000_000
}

#[derive(Debug, Default)]
struct LinkDir {
    stamp: Option<DirStamp>,
    map: Arc<BTreeMap<String, String>>,
}

/// The iSCSI source: reads the initiator state, keeping what does not change between cycles.
#[derive(Debug)]
pub struct IscsiSource {
    sessions: BTreeMap<u32, Cached>,
    /// `sys/block` entries → the LUN directory their link points at (`None`: not a SCSI LUN).
    blocks: BTreeMap<String, Option<PathBuf>>,
    multipath: Option<Arc<Vec<Multipath>>>,
    by_path: LinkDir,
    by_id: LinkDir,
    /// The devices whose `proc/diskstats` lines are kept (the sessions' disks and the multipath
    /// maps); `None` after a session or the multipath maps changed.
    wanted: Option<HashSet<String>>,
    cycle: u64,
    budget: usize,
    rates: RateTracker,
    labels: LabelCache,
    started: Instant,
}

impl Default for IscsiSource {
    fn default() -> Self {
        Self::new(fd_budget())
    }
}

impl IscsiSource {
    /// A source keeping at most `fd_budget` attribute files open.
    pub fn new(fd_budget: usize) -> Self {
        Self {
            sessions: BTreeMap::new(),
            blocks: BTreeMap::new(),
            multipath: None,
            by_path: LinkDir::default(),
            by_id: LinkDir::default(),
            wanted: None,
            cycle: 0,
            budget: fd_budget,
            rates: RateTracker::default(),
            labels: LabelCache::default(),
            started: Instant::now(),
        }
    }

    /// Attribute files held open now.
    pub fn open_files(&self) -> usize {
        self.sessions.values().map(|c| c.handles.open_files()).sum()
    }

    /// Reads the initiator state below `root`. A host without the iSCSI transport (no
    /// `sys/class/iscsi_session`) has no sessions, which is not an error; a session that cannot
    /// be read is kept with its `error` and reported in `errors` as `iscsi.session.<name>`.
    /// From the second call on, `rates` holds each device's rates since the previous call.
    pub fn collect(&mut self, root: &HostRoot, errors: &mut Vec<SourceError>) -> IscsiState {
        if self.cycle.is_multiple_of(RESCAN_EVERY) {
            self.sessions.clear();
            self.blocks.clear();
            self.multipath = None;
            self.by_path = LinkDir::default();
            self.by_id = LinkDir::default();
        }
        self.cycle += 1;
        let mut st = IscsiState {
            labels: self.labels.clone(),
            ..Default::default()
        };
        let mut dirty: BTreeSet<String> = BTreeSet::new();
        let blocks_changed = self.update_blocks(root, errors, &mut dirty);
        // LUN directory → block device, for the sessions read completely (none, most cycles).
        let mut by_lun: Option<HashMap<PathBuf, String>> = None;
        let mut sessions_changed = false;
        match read::list(root, "sys/class/iscsi_session") {
            Ok(names) => {
                let mut names: Vec<_> = names
                    .into_iter()
                    .filter_map(|n| Some((sysfs::session_number(&n)?, n)))
                    .collect();
                names.sort();
                let before = self.sessions.len();
                self.sessions
                    .retain(|n, _| names.binary_search_by_key(n, |(k, _)| *k).is_ok());
                sessions_changed |= self.sessions.len() != before;
                let mut fds = Fds {
                    left: self.budget.saturating_sub(self.open_files()),
                };
                let mut buf = [0u8; ATTR_BYTES];
                for (num, name) in names {
                    if !dirty.contains(&name)
                        && let Some(c) = self.sessions.get(&num)
                    {
                        if unchanged(c, &mut buf) {
                            st.sessions.push(Arc::clone(&c.session));
                            continue;
                        }
                        fds.left += c.handles.open_files();
                        self.sessions.remove(&num);
                    }
                    sessions_changed = true;
                    let by_lun = by_lun.get_or_insert_with(|| lun_devices(&self.blocks));
                    let (s, handles) = read::read_session(root, &name, by_lun, &mut fds);
                    if let Some(e) = &s.error {
                        tracing::debug!(session = %name, error = %e, "iscsi session unreadable");
                        errors.push(SourceError::new(format!("iscsi.session.{name}"), e));
                    }
                    let s = Arc::new(s);
                    st.sessions.push(Arc::clone(&s));
                    if let Some(handles) = handles {
                        self.sessions.insert(
                            num,
                            Cached {
                                session: s,
                                handles,
                            },
                        );
                    }
                }
            }
            // No iSCSI transport loaded: no sessions.
            Err(IscsiError::Read(ReadError::Gone { .. })) => {
                sessions_changed = true;
                self.sessions.clear();
            }
            Err(e) => {
                sessions_changed = true;
                self.sessions.clear();
                errors.push(SourceError::new(read::PART_SESSIONS, e));
            }
        }
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        for (dir, cache, out) in [
            ("dev/disk/by-path", &mut self.by_path, &mut st.by_path),
            ("dev/disk/by-id", &mut self.by_id, &mut st.by_id),
        ] {
            match read_link_dir(root, dir, cache, now_ns) {
                Ok(()) => *out = Arc::clone(&cache.map),
                Err(e) => errors.push(SourceError::new(format!("iscsi.{}", &dir[9..]), e)),
            }
        }
        if blocks_changed || self.multipath.is_none() {
            sessions_changed = true;
            match read::read_multipath(root, self.blocks.keys()) {
                Ok(m) => self.multipath = Some(Arc::new(m)),
                Err(e) => {
                    self.multipath = None;
                    errors.push(SourceError::new(read::PART_MULTIPATH, e));
                }
            }
        }
        st.multipath = self.multipath.clone().unwrap_or_default();
        if sessions_changed {
            self.wanted = None;
        }
        let wanted = self.wanted.get_or_insert_with(|| {
            st.sessions
                .iter()
                .flat_map(|s| s.disks())
                .chain(st.multipath.iter().map(|m| m.device.as_str()))
                .map(str::to_owned)
                .collect()
        });
        if !wanted.is_empty() {
            match read::read_diskstats_of(root, wanted) {
                Ok(stats) => st.diskstats = stats,
                Err(e) => errors.push(SourceError::new(read::PART_DISKSTATS, e)),
            }
        }
        let now_ms = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        st.rates = self.rates.update(now_ms, &st.diskstats);
        st
    }

    /// Lists `sys/block`; readlinks new entries; marks the sessions of added and removed LUN
    /// devices dirty. True when the listing changed.
    fn update_blocks(
        &mut self,
        root: &HostRoot,
        errors: &mut Vec<SourceError>,
        dirty: &mut BTreeSet<String>,
    ) -> bool {
        if !self.blocks.is_empty()
            && read::same_names(root, "sys/block", self.blocks.len(), |n| {
                self.blocks.contains_key(n)
            })
        {
            return false;
        }
        let mut names = match read::list(root, "sys/block") {
            Ok(n) => n,
            Err(IscsiError::Read(ReadError::Gone { .. })) => Vec::new(),
            Err(e) => {
                errors.push(SourceError::new(read::PART_MULTIPATH, e));
                Vec::new()
            }
        };
        names.sort();
        if names.len() == self.blocks.len()
            && names.iter().zip(self.blocks.keys()).all(|(a, b)| a == b)
        {
            return false;
        }
        let mut mark = |dir: &Option<PathBuf>| {
            if let Some(s) = dir.as_deref().and_then(sysfs::session_of_path) {
                dirty.insert(s.to_owned());
            }
        };
        self.blocks.retain(|n, dir| {
            let keep = names.binary_search(n).is_ok();
            if !keep {
                mark(dir);
            }
            keep
        });
        for n in names {
            if let std::collections::btree_map::Entry::Vacant(e) = self.blocks.entry(n) {
                let dir = if e.key().starts_with("dm-") {
                    None
                } else {
                    read::block_lun_dir(root, e.key())
                };
                mark(&dir);
                e.insert(dir);
            }
        }
        true
    }
}

/// LUN directory → its block device, from the `sys/block` links.
fn lun_devices(blocks: &BTreeMap<String, Option<PathBuf>>) -> HashMap<PathBuf, String> {
    let mut m = HashMap::new();
    for (name, dir) in blocks {
        if let Some(d) = dir {
            m.entry(d.clone()).or_insert_with(|| name.clone());
        }
    }
    m
}

/// Reads the states of a cached session again (session, connections, LUNs with a block device);
/// true when each reads as the cached value. False when one changed or cannot be read or parsed:
/// the session is then read completely.
fn unchanged(c: &Cached, buf: &mut [u8; ATTR_BYTES]) -> bool {
    let (s, h) = (&c.session, &c.handles);
    if h.state.read(buf).and_then(SessionState::parse) != s.state {
        return false;
    }
    for (conn, a) in s.connections.iter().zip(&h.conns) {
        if a.read(buf).and_then(ConnState::parse) != conn.state {
            return false;
        }
    }
    h.luns.iter().all(|(i, a)| {
        let cached = s.luns.get(*i).and_then(|l| l.state.as_deref());
        a.read(buf).is_some_and(|v| Some(v) == cached)
    })
}

fn read_link_dir(
    root: &HostRoot,
    dir: &str,
    cache: &mut LinkDir,
    now_ns: i128,
) -> Result<(), IscsiError> {
    let stamp = match std::fs::metadata(root.path(dir)) {
        Ok(m) => Some(DirStamp::of(&m)),
        Err(_) => None,
    };
    if let Some(s) = &stamp
        && listing_holds(cache.stamp.as_ref(), s, now_ns)
    {
        return Ok(());
    }
    cache.stamp = None;
    cache.map = Arc::new(read::links(root, dir)?);
    cache.stamp = stamp;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_hold_only_for_old_unchanged_stamps() {
        let s = DirStamp {
            ino: 1,
            size: 40,
            mtime_ns: 10_000_000_000,
            ctime_ns: 10_000_000_000,
        };
        assert!(listing_holds(Some(&s), &s, 13_000_000_000));
        // Changed within the last 2 s: the coarse clock may hide a second change.
        assert!(!listing_holds(Some(&s), &s, 11_000_000_000));
        assert!(!listing_holds(None, &s, 13_000_000_000));
        let grown = DirStamp {
            size: 60,
            ..s.clone()
        };
        assert!(!listing_holds(Some(&s), &grown, 13_000_000_000));
    }
}
