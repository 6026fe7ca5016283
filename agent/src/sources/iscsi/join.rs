//! The join of the libvirt domains' disks with the initiator state: for each live domain's disk,
//! which host device, which multipath map, which sessions and which `by-path` paths are behind
//! it. Pure: the checks, the series and the disk-delay SLI all use it.

use hvscope_parse::libvirt::model::{Disk, DiskSource, Domain};
use serde::Serialize;

use super::sysfs::parse_by_path;
use super::{DiskIndex, IscsiState};

/// What backs one domain disk.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Backing {
    /// Kernel iSCSI LUN(s), directly or under a multipath map.
    Kernel {
        /// The device the domain opens (`sda`, `dm-0`).
        device: String,
        /// The multipath map, when `device` is one.
        multipath: Option<String>,
        /// The SCSI disks under it (`sda`, `sdc`).
        disks: Vec<String>,
        /// Their sessions (`session1`), in the order of `disks`, without repeats.
        sessions: Vec<String>,
        /// `dev/disk/by-path` names of `disks`.
        paths: Vec<String>,
    },
    /// `<source protocol='iscsi'>`: QEMU logs in itself (libiscsi); no kernel session exists and
    /// none is expected.
    Libiscsi {
        target: String,
        portals: Vec<String>,
    },
    /// An iSCSI disk with nothing behind it on the host.
    Missing {
        /// Why, for an operator.
        reason: String,
        /// Target and portal the source names, when it is a by-path name.
        target: Option<String>,
        portal: Option<String>,
    },
    /// Not an iSCSI disk (a file, a local device, rbd, an empty CD-ROM).
    NotIscsi,
}

/// One disk of one domain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiskMapping {
    pub domain_name: String,
    pub domain_uuid: String,
    /// `<target dev>` (`vda`).
    pub disk: String,
    /// The source as the domain XML has it.
    pub source: String,
    pub backing: Backing,
}

/// Maps every disk of every live (not shut off) domain.
pub fn join(st: &IscsiState, domains: &[Domain]) -> Vec<DiskMapping> {
    join_refs(st, &domains.iter().collect::<Vec<_>>())
}

/// [`join`] over borrowed domains (as a snapshot holds them).
pub fn join_refs(st: &IscsiState, domains: &[&Domain]) -> Vec<DiskMapping> {
    let index = DiskIndex::new(st);
    domains
        .iter()
        .filter(|d| d.state != "shutoff")
        .flat_map(|d| {
            d.disks.iter().map(|disk| DiskMapping {
                domain_name: d.name.clone(),
                domain_uuid: d.uuid.clone(),
                disk: disk.target.clone(),
                source: source_text(disk),
                backing: backing_in(st, &index, &disk.source),
            })
        })
        .collect()
}

fn source_text(disk: &Disk) -> String {
    match &disk.source {
        DiskSource::Block { dev } => dev.clone(),
        DiskSource::File { path } => path.clone(),
        DiskSource::Network { protocol, name, .. } => format!("{protocol}:{name}"),
        DiskSource::None => String::new(),
    }
}

/// What backs one disk source.
pub fn backing(st: &IscsiState, source: &DiskSource) -> Backing {
    backing_in(st, &DiskIndex::new(st), source)
}

/// [`backing`] with the state's [`DiskIndex`] built once by the caller.
fn backing_in(st: &IscsiState, index: &DiskIndex<'_>, source: &DiskSource) -> Backing {
    match source {
        DiskSource::Network {
            protocol,
            name,
            hosts,
        } if protocol == "iscsi" => Backing::Libiscsi {
            // libvirt's name is `<iqn>/<lun>`.
            target: name
                .rsplit_once('/')
                .map_or(name.as_str(), |(t, _)| t)
                .to_owned(),
            portals: hosts
                .iter()
                .map(|(h, p)| super::sysfs::portal(h, &p.to_string()))
                .collect(),
        },
        DiskSource::Block { dev } => block_backing(st, index, dev),
        _ => Backing::NotIscsi,
    }
}

fn block_backing(st: &IscsiState, index: &DiskIndex<'_>, dev: &str) -> Backing {
    let rel = dev.strip_prefix("/dev/").unwrap_or(dev);
    let by_path = rel.strip_prefix("disk/by-path/").and_then(parse_by_path);
    let missing = |reason: String| Backing::Missing {
        reason,
        target: by_path.as_ref().map(|b| b.target.clone()),
        portal: by_path.as_ref().map(|b| b.portal.clone()),
    };
    let device = if let Some(name) = rel.strip_prefix("disk/by-path/") {
        st.by_path.get(name).cloned()
    } else if let Some(name) = rel.strip_prefix("disk/by-id/") {
        st.by_id.get(name).cloned()
    } else if let Some(name) = rel.strip_prefix("mapper/") {
        st.multipath
            .iter()
            .find(|m| m.name.as_deref() == Some(name))
            .map(|m| m.device.clone())
    } else if !rel.contains('/') {
        Some(rel.to_owned())
    } else {
        return Backing::NotIscsi;
    };
    let Some(device) = device else {
        if rel.starts_with("disk/by-path/") && by_path.is_none() {
            return Backing::NotIscsi;
        }
        return missing(format!("{dev} does not exist on the host"));
    };
    let (multipath, disks) = match st.dm(&device) {
        Some(m) => (Some(device.clone()), m.slaves.clone()),
        None => (None, vec![device.clone()]),
    };
    let mut sessions: Vec<String> = Vec::new();
    let mut iscsi_disks = Vec::new();
    for d in &disks {
        if let Some(s) = index.session(d) {
            iscsi_disks.push(d.clone());
            if !sessions.contains(&s.name) {
                sessions.push(s.name.clone());
            }
        }
    }
    if sessions.is_empty() {
        // A by-path iSCSI name (or a multipath map) whose device no session holds.
        if by_path.is_some() || multipath.is_some() {
            return missing(format!(
                "{dev} ({device}) is not a LUN of any iSCSI session"
            ));
        }
        return Backing::NotIscsi;
    }
    let paths = st
        .by_path
        .iter()
        .filter(|(_, d)| iscsi_disks.contains(d))
        .map(|(n, _)| n.clone())
        .collect();
    Backing::Kernel {
        device,
        multipath,
        disks: iscsi_disks,
        sessions,
        paths,
    }
}

/// The names of the sessions used by any mapped disk.
pub fn used_sessions(maps: &[DiskMapping]) -> impl Iterator<Item = (&DiskMapping, &str)> {
    maps.iter().flat_map(|m| match &m.backing {
        Backing::Kernel { sessions, .. } => sessions.iter().map(|s| (m, s.as_str())).collect(),
        _ => Vec::new(),
    })
}
