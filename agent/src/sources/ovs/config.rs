//! The `[ovs]` section of the agent's configuration.

use std::path::PathBuf;

use serde::Deserialize;

/// Open vSwitch: where to read it and what counts as a dirty flow.
///
/// ```toml
/// [ovs]
/// owned_cookies = ["0x9f3c6a1d2e4b7c85"]
/// [[ovs.rules]]
/// name = "flood-on-br-int"
/// severity = "critical"
/// bridge = "br-int"
/// actions_contains = "FLOOD"
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OvsConfig {
    /// Read OVS at all. When true and `<host_root>/run/openvswitch/` does not exist, OVS is
    /// treated as absent (no series, no findings) unless `required` is set; when the directory
    /// exists but OVSDB does not answer, OVS is unknown.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A missing `run/openvswitch/` is "unknown" instead of "no OVS on this node".
    #[serde(default)]
    pub required: bool,
    /// Bridges whose flows are dumped and checked. Empty: every bridge OVSDB lists.
    #[serde(default)]
    pub bridges: Vec<String>,
    /// How each bridge's flows are read: `"openflow"`, the agent's own OpenFlow client on
    /// `<host_root>/run/openvswitch/<bridge>.mgmt` (OpenFlow 1.3 with Nicira extensions, 1.0
    /// when the bridge refuses 1.3; no child process), or `"ofctl"`, spawning
    /// `ovs-ofctl dump-flows` on that socket (the fallback; `ofctl_path`, `ofctl_protocols`).
    /// Both give the audit and the operator rules the same flow text.
    #[serde(default)]
    pub flows_via: FlowsVia,
    /// Keep one OpenFlow connection per bridge subscribed to flow changes
    /// (`NXST_FLOW_MONITOR`, OpenFlow 1.0; nothing of the flows is kept) and dump a bridge again
    /// only when it reports a change, the bridge's ports or the VM MACs changed, or every 30
    /// collections; otherwise the last audit stands. A bridge that refuses OpenFlow 1.0 is
    /// dumped every collection.
    #[serde(default = "yes")]
    pub flow_monitor: bool,
    /// The `ovs-ofctl` binary (a name is looked up in `PATH`; `flows_via = "ofctl"` only).
    #[serde(default = "default_ofctl_path")]
    pub ofctl_path: PathBuf,
    /// OpenFlow versions offered by `ovs-ofctl -O`; empty for the tool's default (OpenFlow 1.0,
    /// which a bridge restricted to OpenFlow 1.3 refuses).
    #[serde(default = "default_ofctl_protocols")]
    pub ofctl_protocols: String,
    /// Deadline of one bridge's flow dump (connect, negotiation and every reply, or the
    /// `ovs-ofctl` run), in milliseconds; past it the dump is abandoned (the process killed)
    /// and the bridge's flows are unknown. Also accepted under its old name `ofctl_timeout_ms`.
    #[serde(default = "default_flows_timeout_ms", alias = "ofctl_timeout_ms")]
    pub flows_timeout_ms: u64,
    /// Deadline of the OVSDB query (connect + request + reply), in milliseconds.
    #[serde(default = "default_ovsdb_timeout_ms")]
    pub ovsdb_timeout_ms: u64,
    /// Cookies the node's agents own (hex `0x…` or decimal strings: cookies are 64-bit). A
    /// flow with any other cookie is `ovs.flow_stale_cookie`. Empty: that check is off.
    #[serde(default)]
    pub owned_cookies: Vec<String>,
    /// MAC prefix of VM-side addresses (OpenStack's `fa:16:3e`); exact `dl_src`/`dl_dst`/
    /// `eth_src`/`eth_dst` matches with it must belong to some interface's `attached-mac`.
    #[serde(default = "default_vm_mac_prefix")]
    pub vm_mac_prefix: String,
    /// Bridges where `ovs.flow_unknown_mac` applies. Tunnel bridges carry remote VMs' MACs
    /// (l2pop), which no local interface has, so by default only `br-int`.
    #[serde(default = "default_mac_check_bridges")]
    pub mac_check_bridges: Vec<String>,
    /// Findings kept per bridge and check; further dirty flows are counted in one summary
    /// finding and in `hvscope_ovs_dirty_flows`.
    #[serde(default = "default_max_findings")]
    pub max_findings_per_check: usize,
    /// Operator rules (`ovs.flow_rule`).
    #[serde(default)]
    pub rules: Vec<FlowRuleConfig>,
}

/// One operator rule: a flow matching every condition given is reported with `severity`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FlowRuleConfig {
    /// Name, reported as the finding's `rule` subject.
    pub name: String,
    /// `warning` or `critical`.
    pub severity: RuleSeverity,
    /// Only flows of this bridge.
    #[serde(default)]
    pub bridge: Option<String>,
    /// Only flows of this table.
    #[serde(default)]
    pub table: Option<u8>,
    /// Only flows with priority ≥ this.
    #[serde(default)]
    pub priority_min: Option<u32>,
    /// Only flows with priority ≤ this.
    #[serde(default)]
    pub priority_max: Option<u32>,
    /// Only flows with this cookie (hex `0x…` or decimal).
    #[serde(default)]
    pub cookie: Option<String>,
    /// The match text (as dump-flows prints it) contains this.
    #[serde(default)]
    pub match_contains: Option<String>,
    /// The match text matches this regular expression.
    #[serde(default)]
    pub match_regex: Option<String>,
    /// The actions text contains this.
    #[serde(default)]
    pub actions_contains: Option<String>,
    /// The actions text matches this regular expression.
    #[serde(default)]
    pub actions_regex: Option<String>,
}

/// Where flows are read from.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FlowsVia {
    /// The agent's OpenFlow client.
    #[default]
    OpenFlow,
    /// `ovs-ofctl dump-flows`.
    Ofctl,
}

/// Severity of an operator rule.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RuleSeverity {
    Warning,
    Critical,
}

fn yes() -> bool {
    true
}
fn default_ofctl_path() -> PathBuf {
    PathBuf::from("ovs-ofctl")
}
fn default_ofctl_protocols() -> String {
    "OpenFlow10,OpenFlow13".into()
}
fn default_flows_timeout_ms() -> u64 {
    5000
}
fn default_ovsdb_timeout_ms() -> u64 {
    2000
}
fn default_vm_mac_prefix() -> String {
    "fa:16:3e".into()
}
fn default_mac_check_bridges() -> Vec<String> {
    vec!["br-int".into()]
}
fn default_max_findings() -> usize {
    20
}

impl Default for OvsConfig {
    fn default() -> Self {
        toml::from_str("").expect("empty [ovs] deserializes")
    }
}

/// Parses a cookie written as `0x…` hex or decimal.
pub fn parse_cookie(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

impl OvsConfig {
    /// Checks cookies, timeouts and rules (regexes compile, every rule has a condition).
    pub fn validate(&self) -> Result<(), String> {
        for c in &self.owned_cookies {
            parse_cookie(c).ok_or_else(|| format!("ovs.owned_cookies: {c:?} is not a cookie"))?;
        }
        if self.flows_timeout_ms == 0 || self.ovsdb_timeout_ms == 0 {
            return Err("ovs: flows_timeout_ms and ovsdb_timeout_ms must be at least 1".into());
        }
        super::rules::Rules::compile(&self.rules).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let c = OvsConfig::default();
        assert!(c.enabled && !c.required && c.bridges.is_empty());
        assert_eq!(c.vm_mac_prefix, "fa:16:3e");
        assert_eq!(
            (c.flows_via, c.flows_timeout_ms),
            (FlowsVia::OpenFlow, 5000)
        );
        c.validate().unwrap();
        let c: OvsConfig = toml::from_str("flows_via = 'ofctl'\nofctl_timeout_ms = 700").unwrap();
        assert_eq!((c.flows_via, c.flows_timeout_ms), (FlowsVia::Ofctl, 700));
        assert!(toml::from_str::<OvsConfig>("flows_via = 'netlink'").is_err());
        assert!(toml::from_str::<OvsConfig>("bridge = ['br-int']").is_err());
        assert!(
            toml::from_str::<OvsConfig>("[[rules]]\nname='a'\nseverity='warning'\nx=1").is_err()
        );
        assert_eq!(parse_cookie("0x9f3c6a1d2e4b7c85"), Some(0x9f3c6a1d2e4b7c85));
        assert_eq!(parse_cookie("42"), Some(42));
        assert_eq!(parse_cookie("0xg"), None);
        let c: OvsConfig = toml::from_str("owned_cookies = ['nope']").unwrap();
        assert!(c.validate().unwrap_err().contains("nope"));
    }

    #[test]
    fn the_readme_example_is_valid() {
        let readme = include_str!("../../../../README.md");
        let start = readme.find("```toml\n[ovs]\n").unwrap() + "```toml\n".len();
        let block = &readme[start..];
        let block = &block[..block.find("```").unwrap()];
        let c = crate::config::Config::parse(block, std::path::Path::new("README.md")).unwrap();
        assert_eq!(c.ovs.rules[0].name, "flood-on-br-int");
        assert_eq!(c.ovs.bridges, ["br-int", "br-tun"]);
    }
}
