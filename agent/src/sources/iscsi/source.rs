//! The iSCSI source with what it keeps between collections. Sessions, their connections, LUNs
//! and block devices almost never change between cycles, so a steady cycle reads:
//! - the listings of `sys/class/iscsi_session` and `sys/block`, compared name by name with the
//!   previous ones (what appeared or vanished);
//! - the attributes a failure changes, for each known session: the session `state`, each
//!   connection's `state` and the `state` of each LUN that has a block device (a path I/O goes
//!   through), with `pread` at offset 0 on files kept open (within the share of
//!   [`Holder::Iscsi`](crate::io::Holder::Iscsi) of the agent's fd budget; past it by path). A
//!   failed session or connection, a blocked or offline disk is therefore seen in the first
//!   cycle after it happened;
//! - `stat` of `dev/disk/by-path` and `by-id` (re-listed when they changed: `links.rs`);
//! - the lines of its devices in the collection's one reading of `proc/diskstats`;
//! - the safety-net share of the cycle (see below).
//!
//! A session is read completely (its tree walked) when it is new, when a block device of it
//! appeared or vanished, when one of those states changed or cannot be read or parsed (the device
//! went away: ENODEV), while it is in error, and otherwise at the latest one refresh period
//! ([`REFRESH`](crate::io::REFRESH), 30 cycles) after its last complete read. Those periodic
//! re-reads are spread: each cycle re-reads about 1/30 of the sessions ([`Schedule`]), not all of
//! them in one cycle.
//! A re-read takes over the session's kept state files (read with `pread`, not reopened); a
//! re-read that finds nothing changed hands out the session read before. So a session's other
//! attributes — `targetname`, `tpgt`, `initiatorname`, `ifacename`, the host's address, the
//! connections' portals, `target_state`, `recovery_tmo`, and the state of LUNs without a block
//! device (array controllers) — are as fresh as its last state change, and at most
//! 30 cycles old; a LUN added without a block device is seen within as many.
//!
//! New `sys/block` entries cost one `readlink` each (the link names the session and LUN);
//! multipath maps are read again when `sys/block` changed (`blocks.rs`). The same
//! safety net walks the other lists a slice per cycle ([`Cursor`](crate::io::Cursor)), each
//! entry at least once per refresh period: the
//! `sys/block` links are resolved again (a device re-created under the same name for another
//! LUN: its sessions are read again), the multipath maps read again (a path added to or removed
//! from a map without a device coming or going; any difference re-reads them all), and the
//! `by-path` and `by-id` links resolved again (any difference re-lists the directory). Apart from
//! those re-reads' delay, the results equal a fresh [`collect`](super::collect).
//!
//! Unchanged sessions, link maps and multipath maps are handed out as the same [`Arc`]s cycle
//! after cycle, and the series label sets are kept with them ([`LabelCache`]).

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Instant;

use super::blocks::Blocks;
use super::dir;
use super::disks::WantedDisks;
use super::links::{LinkDir, read_link_dir};
use super::read::{self, ATTR_BYTES, Volatile};
use super::series::LabelCache;
use super::session::{Kept, Reader};
use super::sysfs::{self, ConnState, SessionState};
use super::{IscsiError, IscsiState, Session};
use crate::io::{FdBudget, HostRoot, ReadError, Schedule};
use crate::sources::proc::files::Diskstats;
use crate::sources::{Context, Source, SourceError};
use hvscope_parse::proc::diskstats::RateTracker;

const SESSIONS_DIR: &str = "sys/class/iscsi_session";

#[derive(Debug)]
struct Cached {
    session: Arc<Session>,
    handles: Volatile,
    /// The cycle by which it is read completely again.
    due: u64,
}

/// A session of the last listing.
#[derive(Debug)]
struct Known {
    num: u32,
    name: String,
    /// `None` until read, and while it cannot be read (it is then read completely each cycle).
    kept: Option<Cached>,
}

/// The iSCSI source: reads the initiator state, keeping what does not change between cycles.
#[derive(Debug)]
pub struct IscsiSource {
    /// The sessions listed, by number (then name).
    sessions: Vec<Known>,
    /// `sys/class/iscsi_session` as last listed (kernel order, every entry).
    session_listing: Vec<String>,
    schedule: Schedule,
    /// `sys/block`: the block devices' LUNs, the dm devices, the multipath maps.
    blocks: Blocks,
    by_path: LinkDir,
    by_id: LinkDir,
    /// The devices whose `proc/diskstats` lines are kept (the sessions' disks and the multipath
    /// maps); `None` after a session or the multipath maps changed.
    wanted: Option<HashSet<String>>,
    diskstats: WantedDisks,
    cycle: u64,
    /// Sessions read completely in the last cycle.
    complete_reads: usize,
    rates: RateTracker,
    labels: LabelCache,
    started: Instant,
}

impl Default for IscsiSource {
    fn default() -> Self {
        Self::new()
    }
}

impl Source for IscsiSource {
    type Output = IscsiState;
    /// Its unknowns are per session (`iscsi.session.<name>`) and per listing (`iscsi.sessions`,
    /// `iscsi.multipath`, `iscsi.by-path`, `iscsi.by-id`, `proc.diskstats`): reported through
    /// errors and findings, without `source_up` series.
    const PARTS: &'static [&'static str] = &[];

    fn collect(&mut self, cx: &Context<'_>, errors: &mut Vec<SourceError>) -> IscsiState {
        self.read(cx.root, cx.fds, cx.diskstats, errors)
    }
}

impl IscsiSource {
    /// A source that has read nothing yet.
    pub fn new() -> Self {
        Self {
            sessions: Vec::new(),
            session_listing: Vec::new(),
            schedule: Schedule::default(),
            blocks: Blocks::default(),
            by_path: LinkDir::default(),
            by_id: LinkDir::default(),
            wanted: None,
            diskstats: WantedDisks::default(),
            cycle: 0,
            complete_reads: 0,
            rates: RateTracker::default(),
            labels: LabelCache::default(),
            started: Instant::now(),
        }
    }

    /// Attribute files held open now.
    pub fn open_files(&self) -> usize {
        self.sessions
            .iter()
            .filter_map(|k| k.kept.as_ref())
            .map(|c| c.handles.open_files())
            .sum()
    }

    /// Sessions read completely (their tree walked) in the last collection.
    pub fn complete_reads(&self) -> usize {
        self.complete_reads
    }

    /// Reads the initiator state below `root`. A host without the iSCSI transport (no
    /// `sys/class/iscsi_session`) has no sessions, which is not an error; a session that cannot
    /// be read is kept with its `error` and reported in `errors` as `iscsi.session.<name>`.
    /// From the second call on, `rates` holds each device's rates since the previous call.
    /// Attribute files are kept open within `fds`; the devices' counters are picked from
    /// `disks`, the collection's reading of `proc/diskstats`.
    pub fn read(
        &mut self,
        root: &HostRoot,
        fds: &FdBudget,
        disks: Diskstats<'_>,
        errors: &mut Vec<SourceError>,
    ) -> IscsiState {
        self.cycle += 1;
        self.complete_reads = 0;
        let mut st = IscsiState {
            labels: self.labels.clone(),
            ..Default::default()
        };
        let mut dirty: BTreeSet<String> = BTreeSet::new();
        let blocks_changed = self.blocks.update(root, errors, &mut dirty);
        let mut sessions_changed = false;
        let listed = if !self.session_listing.is_empty()
            && dir::same_listing(root, SESSIONS_DIR, &self.session_listing)
        {
            Ok(())
        } else {
            dir::list(root, SESSIONS_DIR).map(|names| sessions_changed |= self.relist(names))
        };
        match listed {
            Ok(()) => sessions_changed |= self.read_sessions(root, fds, &dirty, &mut st, errors),
            // No iSCSI transport loaded: no sessions.
            Err(IscsiError::Read(ReadError::Gone { .. })) => {
                sessions_changed = true;
                self.forget_sessions();
            }
            Err(e) => {
                sessions_changed = true;
                self.forget_sessions();
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
        let b = &mut self.blocks;
        if !blocks_changed && b.multipath_moved(root) {
            b.multipath = None;
        }
        if blocks_changed || b.multipath.is_none() {
            sessions_changed = true;
            match read::read_multipath(root, b.dms.iter().map(String::as_str)) {
                Ok(m) => b.multipath = Some(Arc::new(m)),
                Err(e) => {
                    b.multipath = None;
                    errors.push(SourceError::new(read::PART_MULTIPATH, e));
                }
            }
        }
        st.multipath = b.multipath.clone().unwrap_or_default();
        if sessions_changed {
            self.wanted = None;
            self.diskstats.order.clear();
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
            match self.diskstats.pick(root, disks, wanted) {
                Ok(stats) => st.diskstats = stats,
                Err(e) => errors.push(SourceError::new(read::PART_DISKSTATS, e)),
            }
        }
        let now_ms = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        st.rates = self.rates.update(now_ms, &st.diskstats);
        st
    }

    /// Takes a new listing of `sys/class/iscsi_session`: keeps what is known of the sessions
    /// still listed. True when a session came or went.
    fn relist(&mut self, names: Vec<String>) -> bool {
        let mut listed: Vec<(u32, &String)> = names
            .iter()
            .filter_map(|n| Some((sysfs::session_number(n)?, n)))
            .collect();
        listed.sort();
        let mut old = std::mem::take(&mut self.sessions).into_iter().peekable();
        let mut changed = false;
        for (num, name) in listed {
            while let Some(o) = old.next_if(|o| (o.num, &o.name) < (num, name)) {
                self.unschedule(&o);
                changed = true;
            }
            match old.next_if(|o| o.num == num && o.name == *name) {
                Some(o) => self.sessions.push(o),
                None => {
                    changed = true;
                    self.sessions.push(Known {
                        num,
                        name: name.clone(),
                        kept: None,
                    });
                }
            }
        }
        for o in old {
            self.unschedule(&o);
            changed = true;
        }
        self.session_listing = names;
        changed
    }

    fn unschedule(&mut self, k: &Known) {
        if let Some(c) = &k.kept {
            self.schedule.remove(c.due);
        }
    }

    fn forget_sessions(&mut self) {
        self.sessions.clear();
        self.session_listing.clear();
        self.schedule.clear();
    }

    /// Reads each listed session: its states again when it is kept and not due, else completely.
    /// True when a session read completely differs from what was known of it.
    fn read_sessions(
        &mut self,
        root: &HostRoot,
        fds: &FdBudget,
        dirty: &BTreeSet<String>,
        st: &mut IscsiState,
        errors: &mut Vec<SourceError>,
    ) -> bool {
        let cycle = self.cycle;
        let cap = self.schedule.cap(self.sessions.len());
        let mut reader = Reader::new(root, fds);
        let mut buf = [0u8; ATTR_BYTES];
        let mut changed = false;
        for k in &mut self.sessions {
            if let Some(c) = &k.kept
                && c.due > cycle
                && !dirty.contains(&k.name)
                && unchanged(c, &mut buf)
            {
                st.sessions.push(Arc::clone(&c.session));
                continue;
            }
            let old = k.kept.take();
            if let Some(c) = &old {
                self.schedule.remove(c.due);
            }
            let before = old.as_ref().map(|c| Arc::clone(&c.session));
            let kept = old.map(|c| Kept {
                session: c.session,
                handles: c.handles,
            });
            let (s, handles) = reader.session(&k.name, &self.blocks.lun_devices, kept);
            self.complete_reads += 1;
            if let Some(e) = &s.error {
                tracing::debug!(session = %k.name, error = %e, "iscsi session unreadable");
                errors.push(SourceError::new(format!("iscsi.session.{}", k.name), e));
            }
            let s = match before {
                Some(b) if *b == s => b,
                _ => {
                    changed = true;
                    Arc::new(s)
                }
            };
            st.sessions.push(Arc::clone(&s));
            if let Some(handles) = handles {
                let due = self.schedule.place(cycle, cap);
                k.kept = Some(Cached {
                    session: s,
                    handles,
                    due,
                });
            }
        }
        changed
    }
}

/// Reads the states of a cached session again (session, connections, LUNs with a block device);
/// true when each reads as the cached value. False when one changed or cannot be read or parsed:
/// the session is then read completely.
fn unchanged(c: &Cached, buf: &mut [u8; ATTR_BYTES]) -> bool {
    let (s, h) = (&c.session, &c.handles);
    // A state reads as the cached one when its text, trimmed, is the cached state's spelling
    // (the parsers accept nothing else for it).
    let same = match s.state {
        Some(st) => h.state.reads_as(buf, st.as_str()),
        None => h.state.read(buf).and_then(SessionState::parse).is_none(),
    };
    if !same {
        return false;
    }
    for (conn, a) in s.connections.iter().zip(&h.conns) {
        let same = match conn.state {
            Some(st) => a.reads_as(buf, st.as_str()),
            None => a.read(buf).and_then(ConnState::parse).is_none(),
        };
        if !same {
            return false;
        }
    }
    h.luns.iter().all(|(i, a)| {
        s.luns
            .get(*i)
            .and_then(|l| l.state.as_deref())
            .is_some_and(|cached| a.reads_as(buf, cached))
    })
}
