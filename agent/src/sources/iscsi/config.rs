//! The `[iscsi]` section of the agent configuration.

use std::collections::BTreeMap;

use serde::Deserialize;

/// iSCSI checks and the disk-delay SLI.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IscsiConfig {
    /// Paths a multipath device should have, when every device has the same number (2 for a
    /// dual-fabric SAN). Unset: a device is degraded when one of its own paths is not active
    /// (fewer active paths than slaves).
    pub expected_paths: Option<u32>,
    /// Expected paths per multipath device, by dm name (`mpatha`) or WWID, overriding
    /// `expected_paths`.
    pub expected_paths_by_device: BTreeMap<String, u32>,
    /// A VM disk whose average I/O latency over a sampling interval is above this many
    /// milliseconds counts that interval as delayed (`hvscope_vm_disk_delayed_seconds_total`).
    pub delay_threshold_ms: f64,
    /// Report `iscsi.orphan_session` (logged-in sessions no running domain uses). Only ever
    /// reported when the libvirt domains could be read.
    pub report_orphans: bool,
    /// Target names (exact IQNs) that are never orphans: sessions the node itself uses (a
    /// boot LUN, a shared image store).
    pub ignore_targets: Vec<String>,
}

impl Default for IscsiConfig {
    fn default() -> Self {
        Self {
            expected_paths: None,
            expected_paths_by_device: BTreeMap::new(),
            delay_threshold_ms: 100.0,
            report_orphans: true,
            ignore_targets: Vec::new(),
        }
    }
}

impl IscsiConfig {
    /// Checks the values; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.delay_threshold_ms.is_finite() && self.delay_threshold_ms > 0.0) {
            return Err("iscsi.delay_threshold_ms must be a positive number".into());
        }
        if self.expected_paths == Some(0) || self.expected_paths_by_device.values().any(|v| *v == 0)
        {
            return Err("iscsi expected paths must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_defaults_and_refuses_unknown_fields() {
        let c: IscsiConfig = toml::from_str("").unwrap();
        assert_eq!(c, IscsiConfig::default());
        c.validate().unwrap();
        let c: IscsiConfig = toml::from_str(
            "expected_paths = 2\ndelay_threshold_ms = 20\n[expected_paths_by_device]\nmpathb = 4",
        )
        .unwrap();
        assert_eq!(c.expected_paths, Some(2));
        assert_eq!(c.expected_paths_by_device["mpathb"], 4);
        assert!(toml::from_str::<IscsiConfig>("expected_path = 2").is_err());
        let bad: IscsiConfig = toml::from_str("delay_threshold_ms = 0").unwrap();
        assert!(bad.validate().is_err());
        let bad: IscsiConfig = toml::from_str("expected_paths = 0").unwrap();
        assert!(bad.validate().unwrap_err().contains("expected paths"));
    }
}
