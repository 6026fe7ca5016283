//! Pure parsers for the iSCSI transport's sysfs attributes and udev's link names: session and
//! connection states, `H:C:T:L` names, `dev/disk/by-path` names, and the lexical resolution of a
//! sysfs symlink below the host root (one `readlink`, no walk, so a loop cannot spin).

use std::path::{Component, Path, PathBuf};

use serde::Serialize;

/// `iscsi_session/*/state` (kernel `iscsi_session_state_names`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SessionState {
    /// Logged in: I/O flows.
    LoggedIn,
    /// The connection failed; the kernel queues I/O until `recovery_tmo` expires.
    Failed,
    /// Recovery timed out (or the session is being torn down): I/O fails.
    Free,
}

impl SessionState {
    /// Parses the attribute text (trailing newline allowed); `None` for an unknown string.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "LOGGED_IN" => Some(Self::LoggedIn),
            "FAILED" => Some(Self::Failed),
            "FREE" => Some(Self::Free),
            _ => None,
        }
    }

    /// The kernel's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoggedIn => "LOGGED_IN",
            Self::Failed => "FAILED",
            Self::Free => "FREE",
        }
    }
}

/// `iscsi_connection/*/state` (kernel `connection_state_names`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnState {
    Up,
    Down,
    Failed,
    Bound,
}

impl ConnState {
    /// Parses the attribute text; `None` for an unknown string.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "up" => Some(Self::Up),
            "down" => Some(Self::Down),
            "failed" => Some(Self::Failed),
            "bound" => Some(Self::Bound),
            _ => None,
        }
    }

    /// The kernel's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
            Self::Failed => "failed",
            Self::Bound => "bound",
        }
    }
}

/// `session12` → 12.
pub fn session_number(name: &str) -> Option<u32> {
    name.strip_prefix("session")?.parse().ok()
}

/// `H:C:T:L` (a SCSI device name) → its four numbers.
pub fn parse_hctl(s: &str) -> Option<[u64; 4]> {
    let mut it = s.split(':').map(|p| p.parse::<u64>().ok());
    let out = [it.next()??, it.next()??, it.next()??, it.next()??];
    it.next().is_none().then_some(out)
}

/// A udev `dev/disk/by-path` name of an iSCSI LUN: `ip-<portal>-iscsi-<iqn>-lun-<n>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ByPath {
    /// `10.0.2.100:3260` (`[fd00::1]:3260` for IPv6).
    pub portal: String,
    pub target: String,
    pub lun: u64,
}

/// Parses a by-path link name; `None` for non-iSCSI names and partitions (`…-lun-1-part1`).
pub fn parse_by_path(name: &str) -> Option<ByPath> {
    let rest = name.strip_prefix("ip-")?;
    let (portal, rest) = rest.split_once("-iscsi-")?;
    let (target, lun) = rest.rsplit_once("-lun-")?;
    if portal.is_empty() || target.is_empty() {
        return None;
    }
    Some(ByPath {
        portal: portal.to_owned(),
        target: target.to_owned(),
        lun: lun.parse().ok()?,
    })
}

/// `address:port`, with brackets around an IPv6 address.
pub fn portal(address: &str, port: &str) -> String {
    if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    }
}

/// Resolves a symlink's `target` lexically against the directory holding the link `link_rel`
/// (both relative to the host root). `..` never climbs above the root, and an absolute target is
/// taken below the root, so the result always names a path inside the root.
pub fn resolve_link(link_rel: &Path, target: &Path) -> PathBuf {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    if !target.is_absolute()
        && let Some(dir) = link_rel.parent()
    {
        push_components(&mut parts, dir);
    }
    push_components(&mut parts, target);
    parts.iter().collect()
}

fn push_components<'a>(parts: &mut Vec<&'a std::ffi::OsStr>, p: &'a Path) {
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s),
            Component::ParentDir => {
                parts.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
}

/// The SCSI host (`host0`) and session (`session1`) directories on a session's device path
/// (`sys/devices/platform/host0/session1/iscsi_session/session1`): the components just before
/// the `iscsi_session` class directory.
pub fn session_device_dir(class_dir: &Path) -> Option<(PathBuf, String)> {
    let class = class_dir.parent()?;
    if class.file_name()? != "iscsi_session" {
        return None;
    }
    let session_dir = class.parent()?;
    let host = session_dir.parent()?.file_name()?.to_str()?;
    host.starts_with("host")
        .then(|| (session_dir.to_path_buf(), host.to_owned()))
}

/// The LUN directory (`…/sessionN/targetH:C:T/H:C:T:L`) of a `sys/block/<name>` link resolved
/// below the root (`…/H:C:T:L/block/<name>`); `None` for devices that are not SCSI LUNs (dm, loop,
/// virtio) or a path of another shape.
pub fn block_lun_dir<'a>(resolved: &'a Path, name: &str) -> Option<&'a Path> {
    if resolved.file_name()? != name {
        return None;
    }
    let block = resolved.parent()?;
    if block.file_name()? != "block" {
        return None;
    }
    let lun = block.parent()?;
    parse_hctl(lun.file_name()?.to_str()?)?;
    Some(lun)
}

/// The session (`session3`) whose device directory holds `path`: the last component of the form
/// `sessionN`.
pub fn session_of_path(path: &Path) -> Option<&str> {
    path.components().rev().find_map(|c| match c {
        Component::Normal(s) => s.to_str().filter(|s| session_number(s).is_some()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states() {
        assert_eq!(
            SessionState::parse("LOGGED_IN\n"),
            Some(SessionState::LoggedIn)
        );
        assert_eq!(SessionState::parse("FREE"), Some(SessionState::Free));
        assert_eq!(SessionState::parse("logged_in"), None);
        assert_eq!(SessionState::parse(""), None);
        assert_eq!(ConnState::parse("up\n"), Some(ConnState::Up));
        assert_eq!(ConnState::parse("failed"), Some(ConnState::Failed));
        assert_eq!(ConnState::parse("UP"), None);
        for s in [
            SessionState::LoggedIn,
            SessionState::Failed,
            SessionState::Free,
        ] {
            assert_eq!(SessionState::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn names() {
        assert_eq!(session_number("session12"), Some(12));
        assert_eq!(session_number("sessionx"), None);
        assert_eq!(parse_hctl("1:0:0:1"), Some([1, 0, 0, 1]));
        assert_eq!(parse_hctl("1:0:0"), None);
        assert_eq!(parse_hctl("1:0:0:1:2"), None);
        assert_eq!(parse_hctl("target1:0:0"), None);
        assert_eq!(portal("10.0.2.100", "3260"), "10.0.2.100:3260");
        assert_eq!(portal("fd00::1", "3260"), "[fd00::1]:3260");
    }

    #[test]
    fn by_path_names() {
        let n = "ip-10.0.2.101:3260-iscsi-iqn.2010-10.org.openstack:volume-9b8e1d2c-4f3a-4c6b-a7e5-0f1d2c3b4a59-lun-1";
        let b = parse_by_path(n).unwrap();
        assert_eq!(b.portal, "10.0.2.101:3260");
        assert_eq!(
            b.target,
            "iqn.2010-10.org.openstack:volume-9b8e1d2c-4f3a-4c6b-a7e5-0f1d2c3b4a59"
        );
        assert_eq!(b.lun, 1);
        let v6 = parse_by_path("ip-[fd00::1]:3260-iscsi-iqn.x:y-lun-12").unwrap();
        assert_eq!((v6.portal.as_str(), v6.lun), ("[fd00::1]:3260", 12));
        assert!(parse_by_path(&format!("{n}-part1")).is_none());
        assert!(parse_by_path("pci-0000:00:04.0-scsi-0:0:0:0").is_none());
        assert!(parse_by_path("ip--iscsi-x-lun-1").is_none());
        assert!(parse_by_path("ip-a:1-iscsi--lun-1").is_none());
    }

    #[test]
    fn links_resolve_below_the_root() {
        let link = Path::new("sys/class/iscsi_session/session1");
        let t = Path::new("../../devices/platform/host0/session1/iscsi_session/session1");
        let r = resolve_link(link, t);
        assert_eq!(
            r,
            Path::new("sys/devices/platform/host0/session1/iscsi_session/session1")
        );
        let (dir, host) = session_device_dir(&r).unwrap();
        assert_eq!(dir, Path::new("sys/devices/platform/host0/session1"));
        assert_eq!(host, "host0");
        // Escapes are clamped at the root; absolute targets stay below it.
        assert_eq!(
            resolve_link(link, Path::new("../../../../../../etc/passwd")),
            Path::new("etc/passwd")
        );
        assert_eq!(resolve_link(link, Path::new("/sys/x")), Path::new("sys/x"));
        assert!(session_device_dir(Path::new("sys/class/iscsi_session/session1")).is_none());
    }

    #[test]
    fn block_links_name_their_lun_and_session() {
        let p = Path::new("sys/devices/platform/host0/session1/target0:0:0/0:0:0:1/block/sda");
        assert_eq!(
            block_lun_dir(p, "sda"),
            Some(Path::new(
                "sys/devices/platform/host0/session1/target0:0:0/0:0:0:1"
            ))
        );
        assert_eq!(session_of_path(p), Some("session1"));
        assert_eq!(block_lun_dir(p, "sdb"), None);
        assert_eq!(
            block_lun_dir(Path::new("sys/devices/virtual/block/dm-0"), "dm-0"),
            None
        );
        assert_eq!(
            block_lun_dir(Path::new("sys/devices/x/0:0:0/block/sda"), "sda"),
            None
        );
        assert_eq!(block_lun_dir(Path::new("sda"), "sda"), None);
        assert_eq!(
            session_of_path(Path::new("sys/devices/pci0000:00/sessionx")),
            None
        );
    }
}
