//! Network interfaces from `/sys/class/net/<if>/`: `operstate`, `carrier`, `speed` (Mb/s),
//! `mtu`, `statistics/*`, bonding masters' `bonding/slaves` and members'
//! `bonding_slave/mii_status`. `carrier` and `speed` fail with EINVAL on a down link: read as
//! unknown (`None`), not as an error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hvscope_parse::netlink::bond_members;
use hvscope_parse::sys::net::{parse_carrier, parse_slaves, parse_speed};
use hvscope_parse::sys::{parse_u64, parse_word};

use super::{SysError, list_dir, read_optional};
use crate::io::{HostRoot, REFRESH};
use hvscope_parse::netlink::NlLink;

/// The counters exported per interface, as named in `statistics/`.
pub const STATS: [&str; 8] = [
    "rx_bytes",
    "tx_bytes",
    "rx_packets",
    "tx_packets",
    "rx_errors",
    "tx_errors",
    "rx_dropped",
    "tx_dropped",
];

/// One interface.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Interface {
    pub name: String,
    /// RFC 2863 state: `up`, `down`, `lowerlayerdown`, `dormant`, `unknown`, …
    pub operstate: String,
    /// Physical link: `Some(true)` carrier, `Some(false)` none, `None` when the kernel cannot
    /// tell (administratively down).
    pub carrier: Option<bool>,
    /// Link speed in bits per second, when known.
    pub speed_bps: Option<u64>,
    pub mtu: Option<u64>,
    /// Counters of [`STATS`] in that order (`None` where the file is absent).
    pub stats: [Option<u64>; 8],
    /// Members, when this is a bonding master.
    pub bond_members: Option<Vec<String>>,
    /// MII status as the bond sees it (`up`/`down`), when this is a bond member.
    pub bond_mii_status: Option<String>,
}

impl Interface {
    /// True when the link has carrier and is operationally up (or `unknown`, which drivers
    /// without operstate support report while passing traffic).
    pub fn link_up(&self) -> bool {
        self.carrier == Some(true) && matches!(self.operstate.as_str(), "up" | "unknown")
    }
}

fn read_interface(root: &HostRoot, dir: &Path, name: &str) -> Result<Interface, SysError> {
    let operstate = read_optional(root, &dir.join("operstate"), parse_word)?
        .unwrap_or_else(|| "unknown".into());
    let mut stats = [None; 8];
    for (slot, stat) in stats.iter_mut().zip(STATS) {
        *slot = read_optional(root, &dir.join("statistics").join(stat), parse_u64)?;
    }
    Ok(Interface {
        name: name.to_owned(),
        operstate,
        carrier: read_optional(root, &dir.join("carrier"), parse_carrier)?,
        speed_bps: read_optional(root, &dir.join("speed"), parse_speed)?.flatten(),
        mtu: read_optional(root, &dir.join("mtu"), parse_u64)?,
        stats,
        bond_members: read_optional(root, &dir.join("bonding/slaves"), parse_slaves)?,
        bond_mii_status: read_optional(root, &dir.join("bonding_slave/mii_status"), parse_word)?,
    })
}

/// Reads every interface in `/sys/class/net`. `None` when the directory is absent (a fixture
/// tree without network captures). An interface that vanishes while being read is skipped.
pub fn read(root: &HostRoot) -> Result<Option<Vec<Interface>>, SysError> {
    let base = PathBuf::from("sys/class/net");
    let Some(names) = list_dir(root, &base)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let dir = base.join(&name);
        if !root.path(&dir).join("operstate").exists()
            && !root.path(&dir).join("statistics").exists()
        {
            continue; // bonding_masters and other plain files
        }
        match read_interface(root, &dir, &name) {
            Ok(i) => out.push(i),
            Err(SysError::Read(crate::io::ReadError::Gone { .. })) => {
                tracing::debug!(interface = %name, "interface vanished while read");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Some(out))
}

/// What the last read of one link's speed saw.
#[derive(Debug, Clone, PartialEq)]
struct SpeedSeen {
    index: u32,
    operstate: String,
    carrier_changes: Option<u32>,
    /// Collections since the speed was read.
    age: u32,
    speed_bps: Option<u64>,
}

/// Whether the speed `seen` read still holds for `link`: the same link (index), no carrier
/// change or operstate change since, and read less than a refresh period ([`REFRESH`]) ago.
/// A bond's or team's speed (the sum of its active members') is always read.
fn speed_holds(seen: &SpeedSeen, link: &NlLink) -> bool {
    !matches!(link.kind.as_deref(), Some("bond" | "team"))
        && seen.index == link.index
        && seen.operstate == link.operstate
        && seen.carrier_changes == link.carrier_changes
        && !REFRESH.is_due(u64::from(seen.age) + 1)
}

/// Link speeds as last read, by interface name (kept by the host part in its
/// [`SysFiles`](super::files::SysFiles)).
#[derive(Debug, Default)]
pub struct Speeds(HashMap<String, SpeedSeen>);

/// Interfaces from a live netlink dump (link list, state, carrier, MTU, counters, bond
/// membership), completed from sysfs with what rtnetlink does not carry: speed and a bond
/// member's MII status (see [`crate::sources::netlink`] for the split).
///
/// Speed is ethtool's: each sysfs read is a driver call under the RTNL lock behind a path walk,
/// for every link every collection (a host with dozens of VM taps pays most of its interface
/// cost there), while it changes only with the link. So it is read again only for a new link,
/// after a carrier change (`IFLA_CARRIER_CHANGES` moved: renegotiation drops the carrier) or an
/// operstate change, and at least once per refresh period ([`REFRESH`]: 30 collections, 5 minutes at the
/// default 10 s interval; a speed change without any carrier event is that late at most). A
/// bond's speed follows its members' without a carrier change of its own: bonds and teams are
/// read every collection.
pub fn from_netlink(
    root: &HostRoot,
    links: &[NlLink],
    speeds: &mut Speeds,
) -> Result<Vec<Interface>, SysError> {
    let mut seen = HashMap::with_capacity(links.len());
    let out = read_links(root, links, &speeds.0, &mut seen);
    speeds.0 = seen;
    out
}

fn read_links(
    root: &HostRoot,
    links: &[NlLink],
    prev: &HashMap<String, SpeedSeen>,
    seen: &mut HashMap<String, SpeedSeen>,
) -> Result<Vec<Interface>, SysError> {
    let bonds = bond_members(links);
    let bond_index: Vec<u32> = links
        .iter()
        .filter(|l| l.kind.as_deref() == Some("bond"))
        .map(|l| l.index)
        .collect();
    let mut out = Vec::with_capacity(links.len());
    for l in links {
        let dir = PathBuf::from("sys/class/net").join(&l.name);
        let member = l.master.is_some_and(|m| bond_index.contains(&m));
        let speed = match prev.get(&l.name).filter(|s| speed_holds(s, l)) {
            Some(s) => SpeedSeen {
                age: s.age + 1,
                ..s.clone()
            },
            None => SpeedSeen {
                index: l.index,
                operstate: l.operstate.clone(),
                carrier_changes: l.carrier_changes,
                age: 0,
                speed_bps: read_optional(root, &dir.join("speed"), parse_speed)?.flatten(),
            },
        };
        let speed_bps = speed.speed_bps;
        seen.insert(l.name.clone(), speed);
        out.push(Interface {
            name: l.name.clone(),
            operstate: l.operstate.clone(),
            carrier: l.carrier,
            speed_bps,
            mtu: l.mtu.map(u64::from),
            stats: l.stats.map(|s| s.map(Some)).unwrap_or([None; 8]),
            bond_members: bonds
                .iter()
                .find(|(b, _)| b == &l.name)
                .map(|(_, m)| m.clone()),
            bond_mii_status: if member {
                read_optional(root, &dir.join("bonding_slave/mii_status"), parse_word)?
            } else {
                None
            },
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_is_read_again_after_a_carrier_or_state_change_and_at_least_every_n() {
        let link = NlLink {
            index: 3,
            name: "eth0".into(),
            operstate: "up".into(),
            carrier_changes: Some(2),
            ..NlLink::default()
        };
        let seen = SpeedSeen {
            index: 3,
            operstate: "up".into(),
            carrier_changes: Some(2),
            age: 0,
            speed_bps: Some(10_000_000_000),
        };
        assert!(speed_holds(&seen, &link));
        let flapped = NlLink {
            carrier_changes: Some(4),
            ..link.clone()
        };
        assert!(!speed_holds(&seen, &flapped));
        let down = NlLink {
            operstate: "down".into(),
            ..link.clone()
        };
        assert!(!speed_holds(&seen, &down));
        // Deleted and created again under the same name: a new index.
        let again = NlLink {
            index: 9,
            ..link.clone()
        };
        assert!(!speed_holds(&seen, &again));
        let old = SpeedSeen {
            age: REFRESH.collections() - 1,
            ..seen.clone()
        };
        assert!(!speed_holds(&old, &link));
        let nearly = SpeedSeen {
            age: REFRESH.collections() - 2,
            ..seen
        };
        assert!(speed_holds(&nearly, &link));
        let bond = NlLink {
            kind: Some("bond".into()),
            ..link
        };
        assert!(
            !speed_holds(&nearly, &bond),
            "a bond's speed is always read"
        );
    }

    #[test]
    fn speeds_are_kept_between_collections_until_the_link_changes() {
        let dir = std::env::temp_dir().join(format!("hvscope-speed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sys/class/net/eth0")).unwrap();
        let root = HostRoot::new(&dir);
        let speed = dir.join("sys/class/net/eth0/speed");
        std::fs::write(&speed, "1000\n").unwrap();
        let mut link = NlLink {
            index: 2,
            name: "eth0".into(),
            operstate: "up".into(),
            carrier_changes: Some(1),
            ..NlLink::default()
        };
        let mut speeds = Speeds::default();
        let mut read = |l: &NlLink| {
            from_netlink(&root, std::slice::from_ref(l), &mut speeds).unwrap()[0].speed_bps
        };
        assert_eq!(read(&link), Some(1_000_000_000));
        std::fs::write(&speed, "10000\n").unwrap();
        assert_eq!(read(&link), Some(1_000_000_000), "kept");
        link.carrier_changes = Some(3);
        assert_eq!(
            read(&link),
            Some(10_000_000_000),
            "read after a carrier change"
        );
        std::fs::write(&speed, "25000\n").unwrap();
        let seen_after =
            (1..=2 * REFRESH.collections()).find(|_| read(&link) == Some(25_000_000_000));
        assert_eq!(
            seen_after,
            Some(REFRESH.collections()),
            "read again within the bound"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_live_sysfs_shape() {
        // The live host's /sys/class/net: every interface has an operstate; lo exists.
        let ifs = read(&HostRoot::default()).unwrap().unwrap();
        let lo = ifs.iter().find(|i| i.name == "lo").expect("lo");
        assert!(lo.stats[0].is_some());
        assert_eq!(lo.bond_members, None);
    }

    #[test]
    fn netlink_and_sysfs_agree_on_the_live_host() {
        let root = HostRoot::default();
        let links = crate::sources::netlink::dump_links().unwrap();
        let nl = from_netlink(&root, &links, &mut Speeds::default()).unwrap();
        let sys = read(&root).unwrap().unwrap();
        assert_eq!(nl.len(), sys.len());
        for (a, b) in nl.iter().zip(&sys) {
            assert_eq!(
                (&a.name, &a.operstate, a.carrier, a.mtu),
                (&b.name, &b.operstate, b.carrier, b.mtu)
            );
            assert_eq!(a.speed_bps, b.speed_bps);
            // Counters move between the two reads; they are never behind sysfs's earlier read
            // by more than the traffic of that instant, and both are present.
            assert_eq!(
                a.stats.iter().all(Option::is_some),
                b.stats.iter().all(Option::is_some)
            );
        }
    }
}
