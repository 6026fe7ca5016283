//! The kernel iSCSI initiator, read through the host root: sessions
//! (`sys/class/iscsi_session`), their connections, SCSI targets, LUNs and block devices (the
//! session's device directory), `dev/disk/by-path` and `by-id` links, multipath `dm-*` devices
//! with their `slaves/`, and `proc/diskstats` for the devices involved.
//!
//! **Fails** per session: a session whose attributes are missing, hold an unknown state string
//! or sit behind a dangling or looping link is kept with its `error` set (and reported as an
//! unknown source part `iscsi.session.<name>`); the other sessions are read as usual. Every
//! directory listing is bounded ([`MAX_ENTRIES`]) and links are resolved lexically with one
//! `readlink` each, so no tree shape makes the walk endless.

mod blocks;
pub mod config;
mod dir;
mod disks;
pub mod join;
mod links;
mod read;
pub mod series;
mod session;
pub mod source;

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

/// The sysfs attribute parsers, under the path the iSCSI readers name them by.
pub use hvscope_parse::iscsi::sysfs;

pub use config::IscsiConfig;
pub use source::IscsiSource;
use sysfs::{ConnState, SessionState};

use crate::io::{HostRoot, ReadError};
use crate::sources::proc::files::DiskstatsFile;
use hvscope_parse::proc::diskstats::{DiskRates, DiskStat};

/// Upper bound of the entries read from one directory (sessions, block devices, links, LUNs).
pub const MAX_ENTRIES: usize = 16384;

/// Reading part of the iSCSI state failed.
#[derive(Debug, thiserror::Error)]
pub enum IscsiError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{path}: cannot list: {source}")]
    List {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: more than {limit} entries")]
    TooMany { path: PathBuf, limit: usize },
    #[error("{path}: cannot read link: {source}")]
    Link {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: link target is not a session device directory")]
    NotSessionDir { path: PathBuf },
    #[error("{path}: unknown {what} {value:?}")]
    UnknownValue {
        path: PathBuf,
        what: &'static str,
        value: String,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: hvscope_parse::ParseError,
    },
}

/// Everything read of the initiator. What rarely changes (each session, the link maps, the
/// multipath maps) is shared with the [`IscsiSource`] that read it, so a steady collection hands
/// out the same values again instead of copying them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IscsiState {
    /// By session number.
    pub sessions: Vec<Arc<Session>>,
    /// `dev/disk/by-path` link name → device name (`sda`); links that do not point at a
    /// device name are left out.
    pub by_path: Arc<BTreeMap<String, String>>,
    /// `dev/disk/by-id` link name → device name.
    pub by_id: Arc<BTreeMap<String, String>>,
    /// Device-mapper devices with at least one slave.
    pub multipath: Arc<Vec<Multipath>>,
    /// `proc/diskstats` lines of the sessions' disks and the multipath devices (the kernel's
    /// counters, serialized as they are).
    #[serde(serialize_with = "counters")]
    pub diskstats: Vec<DiskStat>,
    /// Their rates since the previous collection of the same [`IscsiSource`] (empty on the
    /// first, and for a one-shot [`collect`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rates: Vec<DiskRates>,
    /// The label sets of the series of the previous states of the same source (see
    /// [`series::LabelCache`]); not part of the state: ignored by equality, not serialized.
    #[serde(skip)]
    pub labels: series::LabelCache,
}

/// Reads the initiator state below `root` once (no state kept, no file left open), reading
/// `proc/diskstats` itself; see [`IscsiSource::read`].
pub fn collect(root: &HostRoot, errors: &mut Vec<crate::sources::SourceError>) -> IscsiState {
    let fds = crate::io::FdBudget::none();
    let mut disks = DiskstatsFile::default();
    let disks = disks.read(root, &fds);
    IscsiSource::new().read(root, &fds, disks, errors)
}

/// One device's counters in the iSCSI part's JSON form (the kernel's units: sectors and
/// milliseconds, 0 for counters the kernel lacks).
#[derive(Serialize)]
struct Counters<'a> {
    major: u32,
    minor: u32,
    name: &'a str,
    reads: u64,
    read_sectors: u64,
    read_ms: u64,
    writes: u64,
    write_sectors: u64,
    write_ms: u64,
    in_flight: u64,
    io_ms: u64,
    discards: u64,
    discard_ms: u64,
    flushes: u64,
    flush_ms: u64,
}

/// Serializes [`IscsiState::diskstats`].
fn counters<S: serde::Serializer>(disks: &[DiskStat], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(disks.iter().map(|d| Counters {
        major: d.major,
        minor: d.minor,
        name: &d.name,
        reads: d.reads,
        read_sectors: d.read_sectors,
        read_ms: d.read_ms,
        writes: d.writes,
        write_sectors: d.write_sectors,
        write_ms: d.write_ms,
        in_flight: d.in_flight,
        io_ms: d.io_ms,
        discards: d.discards,
        discard_ms: d.discard_ms,
        flushes: d.flushes,
        flush_ms: d.flush_ms,
    }))
}

/// One `sys/class/iscsi_session/sessionN`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Session {
    /// `session1`.
    pub name: String,
    /// SCSI host (`host0`).
    pub host: String,
    pub target: String,
    /// `None` only together with `error`.
    pub state: Option<SessionState>,
    /// `target_state` (`SCANNED`, …), as the kernel spells it.
    pub target_state: Option<String>,
    pub recovery_tmo_secs: Option<u32>,
    pub tpgt: Option<u32>,
    pub initiator: Option<String>,
    pub iface: Option<String>,
    /// The initiator host's address (`iscsi_host/hostN/ipaddress`), when readable.
    pub local_address: Option<String>,
    pub connections: Vec<Connection>,
    pub luns: Vec<Lun>,
    /// Why this session could not be read completely; its other fields are then partial and
    /// checks treat the session as unknown.
    pub error: Option<String>,
}

impl Session {
    /// The portal of the first connection (`persistent_address:persistent_port`: the address
    /// the session logs in to, kept while the connection is down).
    pub fn portal(&self) -> Option<&str> {
        self.connections.first().and_then(|c| c.portal.as_deref())
    }

    /// Logged in with every connection up.
    pub fn is_up(&self) -> bool {
        self.error.is_none()
            && self.state == Some(SessionState::LoggedIn)
            && !self.connections.is_empty()
            && self
                .connections
                .iter()
                .all(|c| c.state == Some(ConnState::Up))
    }

    /// The block devices (`sdX`) of this session's LUNs.
    pub fn disks(&self) -> impl Iterator<Item = &str> {
        self.luns.iter().filter_map(|l| l.block.as_deref())
    }
}

/// One `connectionN:M` of a session.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Connection {
    /// `connection1:0`.
    pub name: String,
    pub state: Option<ConnState>,
    /// `persistent_address:persistent_port`.
    pub portal: Option<String>,
    /// `address:port` of the live TCP connection (absent while it is down: ENOTCONN).
    pub current: Option<String>,
}

/// One SCSI device (`H:C:T:L`) under a session.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Lun {
    /// `0:0:0:1`.
    pub hctl: String,
    pub lun: u64,
    /// SCSI peripheral type (0 disk, 12 storage array controller).
    pub scsi_type: Option<u32>,
    /// SCSI device `state` (`running`, `blocked`, `offline`, `transport-offline`, …).
    pub state: Option<String>,
    /// Its block device (`sda`), if it has one.
    pub block: Option<String>,
}

/// A device-mapper device (`dm-0`) and the devices under it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Multipath {
    /// `dm-0`.
    pub device: String,
    /// `dm/name` (`mpatha`, or the WWID with user_friendly_names off).
    pub name: Option<String>,
    /// `dm/uuid` (`mpath-3600…` for multipath maps).
    pub uuid: Option<String>,
    /// `slaves/` entries (`sda`, `sdc`).
    pub slaves: Vec<String>,
}

impl Multipath {
    /// A multipath map (as opposed to LVM or crypt), by its dm uuid prefix.
    pub fn is_multipath(&self) -> bool {
        self.uuid
            .as_deref()
            .is_some_and(|u| u.starts_with("mpath-"))
    }
}

/// Block device → its session and LUN: the lookups of the checks, the series and the join (for
/// every multipath slave and every domain disk) through one index built per pass, not a search
/// of every session's LUNs per lookup.
pub struct DiskIndex<'a> {
    by_disk: HashMap<&'a str, (&'a Session, &'a Lun), BuildHasherDefault<NameHasher>>,
}

/// A hasher for device names: short strings from the host's own sysfs, not chosen by anyone who
/// could flood a table with collisions, hashed a word at a time (FxHash's multiply and rotate)
/// rather than with SipHash, which costs several times more on them.
#[derive(Debug, Default, Clone, Copy)]
struct NameHasher(u64);

impl NameHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for NameHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let word = chunk
                .iter()
                .rev()
                .fold(0u64, |w, &b| (w << 8) | u64::from(b));
            self.add(word);
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
}

impl<'a> DiskIndex<'a> {
    /// Indexes every LUN's block device (the first session holding it wins, as a linear
    /// search in session order would have it).
    pub fn new(st: &'a IscsiState) -> Self {
        let n = st.sessions.iter().map(|s| s.luns.len()).sum();
        let mut by_disk = HashMap::with_capacity_and_hasher(n, BuildHasherDefault::default());
        for s in &st.sessions {
            for l in &s.luns {
                if let Some(dev) = l.block.as_deref() {
                    by_disk.entry(dev).or_insert((&**s, l));
                }
            }
        }
        Self { by_disk }
    }

    /// The session whose LUNs include block device `dev`.
    pub fn session(&self, dev: &str) -> Option<&'a Session> {
        self.by_disk.get(dev).map(|(s, _)| *s)
    }

    /// The LUN behind block device `dev`.
    pub fn lun(&self, dev: &str) -> Option<&'a Lun> {
        self.by_disk.get(dev).map(|(_, l)| *l)
    }

    /// Whether SCSI disk `dev` is an active path: its LUN `running` under a session that is up.
    pub fn path_active(&self, dev: &str) -> bool {
        self.by_disk
            .get(dev)
            .is_some_and(|(s, l)| s.is_up() && l.state.as_deref() == Some("running"))
    }

    /// Active paths of multipath map `m`.
    pub fn active_paths(&self, m: &Multipath) -> usize {
        m.slaves.iter().filter(|s| self.path_active(s)).count()
    }
}

impl IscsiState {
    /// The dm device `dev` (`dm-0`), if it is one.
    pub fn dm(&self, dev: &str) -> Option<&Multipath> {
        self.multipath.iter().find(|m| m.device == dev)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testtree;
