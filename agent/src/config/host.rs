//! `[host]` and `[net]` sections: thresholds and lists for the host checks.

use serde::Deserialize;

/// `[host]`: the root filesystem thresholds and the daemons a compute node needs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// `host.rootfs_fill` turns WARNING when bytes or inodes of `/` are used above this share,
    /// in percent.
    #[serde(default = "default_warning")]
    pub rootfs_fill_warning_percent: f64,
    /// `host.rootfs_fill` turns CRITICAL above this share, in percent.
    #[serde(default = "default_critical")]
    pub rootfs_fill_critical_percent: f64,
    /// Daemons that must run (`host.daemon_down` otherwise). An entry may list alternatives
    /// separated by `|` (`libvirtd|virtqemud`: either). A name matches a process's comm, its
    /// argv[0] file name, or the script an interpreter runs. Empty list: no check.
    #[serde(default = "default_daemons")]
    pub daemons: Vec<String>,
}

fn default_warning() -> f64 {
    80.0
}
fn default_critical() -> f64 {
    90.0
}
fn default_daemons() -> Vec<String> {
    [
        "libvirtd|virtqemud",
        "ovs-vswitchd",
        "ovsdb-server",
        "iscsid",
        "nova-compute",
    ]
    .map(str::to_owned)
    .to_vec()
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            rootfs_fill_warning_percent: default_warning(),
            rootfs_fill_critical_percent: default_critical(),
            daemons: default_daemons(),
        }
    }
}

/// `[net]`: which interfaces are uplinks (`net.uplink_down`, `net.uplinks_all_down`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NetConfig {
    /// Uplink interfaces by name (`eno1`, `ens2f0`).
    #[serde(default)]
    pub uplinks: Vec<String>,
    /// Bonds whose members are uplinks (`bond0`): the members are read from the bond at each
    /// collection. When both lists are empty, the members of every bond on the host are the
    /// uplinks (none: no uplink check).
    #[serde(default)]
    pub uplink_bonds: Vec<String>,
}

impl HostConfig {
    /// Checks the thresholds: 0 < warning <= critical <= 100.
    pub fn validate(&self) -> Result<(), String> {
        let (w, c) = (
            self.rootfs_fill_warning_percent,
            self.rootfs_fill_critical_percent,
        );
        if !(w > 0.0 && w <= c && c <= 100.0) {
            return Err(format!(
                "[host] needs 0 < rootfs_fill_warning_percent ({w}) <= rootfs_fill_critical_percent ({c}) <= 100"
            ));
        }
        if self
            .daemons
            .iter()
            .any(|d| d.split('|').all(|n| n.trim().is_empty()))
        {
            return Err("[host] daemons: empty entry".into());
        }
        Ok(())
    }
}
