//! The `sys/block` side of the iSCSI source: which LUN each block device is (one `readlink` per
//! new entry, the link names the session and LUN), the device-mapper devices and their
//! multipath maps. A steady cycle compares the listing name by name; new entries are resolved
//! at once, and a slice of the known ones per cycle ([`Cursor`]) so that every link is resolved
//! again and every multipath map read again within each refresh period (a device re-created
//! under the same name for another LUN, a path added to or removed from a map without a device
//! coming or going).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use super::sysfs;
use super::{IscsiError, Multipath, read};
use crate::io::{Cursor, HostRoot, ReadError};
use crate::sources::SourceError;

/// What the source knows of `sys/block`.
#[derive(Debug, Default)]
pub(super) struct Blocks {
    /// `sys/block` entries → their link and the LUN directory it points at.
    entries: BTreeMap<String, BlockLink>,
    /// `sys/block` as last listed (kernel order).
    listing: Vec<String>,
    /// The `sys/block` links resolved again next.
    cursor: Cursor,
    /// LUN directory → block device, from `entries`.
    pub lun_devices: HashMap<PathBuf, String>,
    /// The `dm-N` entries, by number.
    pub dms: Vec<String>,
    /// The multipath maps read again next.
    dm_cursor: Cursor,
    /// The multipath maps as last read (`None`: to be read again).
    pub multipath: Option<Arc<Vec<Multipath>>>,
}

impl Blocks {
    /// Lists `sys/block`; readlinks new entries; marks the sessions of added and removed LUN
    /// devices dirty. True when the listing changed. When it did not, resolves this cycle's
    /// share of the links again.
    pub fn update(
        &mut self,
        root: &HostRoot,
        errors: &mut Vec<SourceError>,
        dirty: &mut BTreeSet<String>,
    ) -> bool {
        if !self.listing.is_empty() && super::dir::same_listing(root, "sys/block", &self.listing) {
            self.recheck(root, dirty);
            return false;
        }
        let listing = match super::dir::list(root, "sys/block") {
            Ok(n) => n,
            Err(IscsiError::Read(ReadError::Gone { .. })) => Vec::new(),
            Err(e) => {
                errors.push(SourceError::new(super::read::PART_MULTIPATH, e));
                Vec::new()
            }
        };
        let mut names = listing.clone();
        self.listing = listing;
        names.sort();
        if names.len() == self.entries.len()
            && names.iter().zip(self.entries.keys()).all(|(a, b)| a == b)
        {
            return false;
        }
        let mut mark = |dir: &Option<PathBuf>| {
            if let Some(s) = dir.as_deref().and_then(sysfs::session_of_path) {
                dirty.insert(s.to_owned());
            }
        };
        self.entries.retain(|n, b| {
            let keep = names.binary_search(n).is_ok();
            if !keep {
                mark(&b.lun);
            }
            keep
        });
        let dir = super::read::open_base(root, "sys/block");
        for n in names {
            if let std::collections::btree_map::Entry::Vacant(e) = self.entries.entry(n) {
                let b = BlockLink::read(dir.as_ref(), e.key());
                mark(&b.lun);
                e.insert(b);
            }
        }
        let mut dms: Vec<(u32, &String)> = self
            .entries
            .keys()
            .filter_map(|n| Some((n.strip_prefix("dm-")?.parse().ok()?, n)))
            .collect();
        dms.sort();
        self.dms = dms.into_iter().map(|(_, n)| n.clone()).collect();
        self.lun_devices = lun_devices(&self.entries);
        true
    }

    /// Resolves this cycle's share of the `sys/block` links again; a link that names another
    /// LUN than before (a device re-created under the same name) marks both sessions dirty.
    fn recheck(&mut self, root: &HostRoot, dirty: &mut BTreeSet<String>) {
        let mut share = self.cursor.next(self.listing.len()).peekable();
        if share.peek().is_none() {
            return;
        }
        let dir = super::read::open_base(root, "sys/block");
        let mut moved = false;
        for i in share {
            let name = &self.listing[i];
            let Some(known) = self.entries.get_mut(name) else {
                continue;
            };
            if name.starts_with("dm-") {
                continue;
            }
            let target = dir.as_ref().and_then(|d| super::read::block_link(d, name));
            if target == known.target {
                continue;
            }
            let now = BlockLink {
                lun: target
                    .as_deref()
                    .and_then(|t| super::read::block_lun_dir(name, t)),
                target,
            };
            if now.lun != known.lun {
                for lun in [&now.lun, &known.lun] {
                    if let Some(s) = lun.as_deref().and_then(sysfs::session_of_path) {
                        dirty.insert(s.to_owned());
                    }
                }
                moved = true;
            }
            *known = now;
        }
        if moved {
            self.lun_devices = lun_devices(&self.entries);
        }
    }

    /// Reads this cycle's share of the multipath maps again; true when one differs from what
    /// was read (or cannot be read).
    pub fn multipath_moved(&mut self, root: &HostRoot) -> bool {
        let Some(maps) = &self.multipath else {
            return false;
        };
        for i in self.dm_cursor.next(self.dms.len()) {
            let dev = self.dms[i].as_str();
            let known = maps.iter().find(|m| m.device == dev);
            match super::read::read_dm(root, dev) {
                Ok(now) if now.as_ref() == known => {}
                _ => return true,
            }
        }
        false
    }
}

/// A `sys/block` entry's link: its target as read, and the LUN directory that names (`None`:
/// not a SCSI LUN; dm devices are not read).
#[derive(Debug, Default, PartialEq)]
struct BlockLink {
    target: Option<PathBuf>,
    lun: Option<PathBuf>,
}

impl BlockLink {
    fn read(dir: Option<&super::dir::Base>, name: &str) -> Self {
        if name.starts_with("dm-") {
            return Self::default();
        }
        let target = dir.and_then(|d| read::block_link(d, name));
        let lun = target.as_deref().and_then(|t| read::block_lun_dir(name, t));
        Self { target, lun }
    }
}

/// LUN directory → its block device, from the `sys/block` links (the first name wins).
fn lun_devices(blocks: &BTreeMap<String, BlockLink>) -> HashMap<PathBuf, String> {
    let mut m = HashMap::new();
    for (name, b) in blocks {
        if let Some(d) = &b.lun {
            m.entry(d.clone()).or_insert_with(|| name.clone());
        }
    }
    m
}
