//! The sample hypervisor the demo's second agent reads: a host root laid out from two real
//! captures bundled into the binary (see `build.rs`), so a newcomer sees findings with exact
//! subjects on any Linux machine, without root, KVM, OVS or iSCSI:
//! - `libvirt-kvm-2vm-drift`: two nova domains (`web-a` = instance-0000002a, `db-b` =
//!   instance-0000002b) whose vCPU 0 of web-a was moved behind libvirt's back (pinning drift,
//!   dedicated-CPU overlap), with their processes, threads, cgroups and the host's /proc and /sys;
//! - `iscsi-guest-failed`: the kernel initiator's sysfs with two sessions, session2 FAILED (its
//!   portal blackholed), its disk blocked.
//!
//! Both trees hold disjoint paths except `proc/diskstats` and `proc/partitions` (joined line by
//! line, each device once) and `proc/uptime` (the first tree's). Nothing is invented: no OVS
//! (OVS findings come only from a real OVS on this machine, through the first agent).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A bundled entry.
pub enum Entry {
    File(&'static [u8]),
    Link(&'static str),
}

include!(concat!(env!("OUT_DIR"), "/sample_tree.rs"));

/// Files both trees have whose lines are joined (each device once).
const JOINED: [&str; 2] = ["proc/diskstats", "proc/partitions"];

/// The sample could not be written.
#[derive(Debug, thiserror::Error)]
#[error("sample host root {path}: {source}")]
pub struct SampleError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// The device name of a diskstats (3rd field) or partitions (4th field) line.
fn device(file: &str, line: &str) -> Option<String> {
    let i = if file.ends_with("diskstats") { 2 } else { 3 };
    line.split_whitespace().nth(i).map(str::to_owned)
}

/// Writes the sample host root into `dir` (created); returns the number of entries written.
pub fn write(dir: &Path) -> Result<usize, SampleError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SampleError { path, source }
    };
    let mut written = 0;
    let mut seen_lines: std::collections::BTreeMap<&str, BTreeSet<String>> = Default::default();
    for (_tree, rel, entry) in ENTRIES {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(err(parent))?;
        }
        let exists = std::fs::symlink_metadata(&path).is_ok();
        match entry {
            Entry::Link(target) => {
                if !exists {
                    std::os::unix::fs::symlink(target, &path).map_err(err(&path))?;
                    written += 1;
                }
            }
            Entry::File(bytes) if JOINED.contains(rel) => {
                let text = String::from_utf8_lossy(bytes);
                let seen = seen_lines.entry(rel).or_default();
                let mut out = if exists {
                    std::fs::read_to_string(&path).map_err(err(&path))?
                } else {
                    written += 1;
                    String::new()
                };
                for line in text.lines() {
                    let keep = match device(rel, line) {
                        Some(d) if d != "name" => seen.insert(d),
                        _ => !exists, // the header and blank lines once
                    };
                    if !keep {
                        continue;
                    }
                    out.push_str(line);
                    out.push('\n');
                }
                std::fs::write(&path, out).map_err(err(&path))?;
            }
            Entry::File(bytes) => {
                if !exists {
                    std::fs::write(&path, bytes).map_err(err(&path))?;
                    written += 1;
                }
            }
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_captures_are_laid_out_and_shared_files_joined() {
        let dir = std::env::temp_dir().join(format!("hvscope-sample-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let n = write(&dir).unwrap();
        assert!(n > 600, "{n} entries");
        assert!(dir.join("run/libvirt/qemu/instance-0000002a.xml").is_file());
        assert!(dir.join("sys/class/iscsi_session/session2").exists());
        let stats = std::fs::read_to_string(dir.join("proc/diskstats")).unwrap();
        let devices: Vec<String> = stats
            .lines()
            .filter_map(|l| device("proc/diskstats", l))
            .collect();
        let unique: BTreeSet<&String> = devices.iter().collect();
        assert_eq!(devices.len(), unique.len(), "each device once: {stats}");
        assert!(devices.iter().any(|d| d == "sdb"), "{stats}");
        assert!(devices.iter().any(|d| d == "vda"), "{stats}");
        let parts = std::fs::read_to_string(dir.join("proc/partitions")).unwrap();
        assert_eq!(parts.matches("#blocks").count(), 1, "{parts}");
        assert!(
            parts.contains(" sdb\n") && parts.contains(" vda\n"),
            "{parts}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
