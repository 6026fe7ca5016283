//! `/proc/mounts` (`/proc/self/mounts`): `device mountpoint fstype options dump pass`, with
//! spaces, tabs, newlines and backslashes in paths escaped as octal (`\040`).

use crate::ParseError;

/// One mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Mount {
    pub device: String,
    pub mount_point: String,
    pub fs_type: String,
    pub options: Vec<String>,
}

impl Mount {
    /// The value of a `key=value` mount option.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find_map(|o| o.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    }

    /// True when the option is present as a flag (`ro`) or key (`size=…`).
    pub fn has_option(&self, key: &str) -> bool {
        self.options
            .iter()
            .any(|o| o == key || o.strip_prefix(key).is_some_and(|r| r.starts_with('=')))
    }
}

/// Undoes the kernel's octal escapes (`\040` → space).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses the text of `/proc/mounts`.
pub fn parse(text: &str) -> Result<Vec<Mount>, ParseError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if f.len() < 4 {
            return Err(ParseError::new(format!(
                "mount line has {} fields: {line:?}",
                f.len()
            )));
        }
        if !f[1].starts_with('/') {
            return Err(ParseError::new(format!(
                "mount point is not absolute: {:?}",
                f[1]
            )));
        }
        out.push(Mount {
            device: unescape(f[0]),
            mount_point: unescape(f[1]),
            fs_type: f[2].to_owned(),
            options: f[3].split(',').map(unescape).collect(),
        });
    }
    if out.is_empty() {
        return Err(ParseError::new("no mounts"));
    }
    Ok(out)
}

/// The mount that is in effect at `path` (the last one listed for it: later mounts hide
/// earlier ones).
pub fn effective<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    mounts.iter().rev().find(|m| m.mount_point == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = include_str!("../../../agent/tests/fixtures/libvirt-kvm-2vm/proc/mounts");

    #[test]
    fn parses_real_capture() {
        let m = parse(REAL).unwrap();
        let root = effective(&m, "/").unwrap();
        assert_eq!(
            (root.device.as_str(), root.fs_type.as_str()),
            ("/dev/vda", "ext4")
        );
        assert!(root.has_option("discard"));
        let cg2 = m.iter().find(|m| m.fs_type == "cgroup2").unwrap();
        assert_eq!(cg2.mount_point, "/sys/fs/cgroup/unified");
        let dev = effective(&m, "/dev").unwrap();
        assert_eq!(dev.option("nr_inodes"), Some("3083631"));
        assert!(!dev.has_option("nr"));
    }

    #[test]
    fn escapes_and_diskless_roots() {
        let text = "rootfs / rootfs rw 0 0\n\
                    overlay / overlay rw,lowerdir=/run/ro,upperdir=/run/rw/upper,workdir=/run/rw/work 0 0\n\
                    tmpfs /mnt/with\\040space tmpfs rw 0 0\n";
        let m = parse(text).unwrap();
        assert_eq!(effective(&m, "/").unwrap().fs_type, "overlay");
        assert_eq!(
            effective(&m, "/").unwrap().option("upperdir"),
            Some("/run/rw/upper")
        );
        assert_eq!(m[2].mount_point, "/mnt/with space");
        assert_eq!(unescape("a\\134b\\0"), "a\\b\\0");
        assert_eq!(unescape("\\777"), "\\777");
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "a b c", "dev relative ext4 rw 0 0"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
