//! cgroups of libvirt domains, pure half: the format of `/proc/<pid>/cgroup`, the cgroup
//! hierarchies' mount points picked out of a mount table, the path logic that finds a domain's
//! (and its threads') cgroup directories, and the control files' formats ([`stats`]). Both
//! layouts libvirt uses are handled:
//!
//! - without systemd (libvirt's own placement): `<ctrl>/machine/qemu-<id>-<name>.libvirt-qemu/`
//!   with `vcpu<N>/` and `emulator/` below;
//! - with systemd (machined): `machine.slice/machine-qemu\x2d<id>\x2d<name>.scope/`, with the
//!   threads in `libvirt/{vcpu<N>,emulator}` below the scope on cgroup v2 and directly below
//!   it on v1;
//!
//! and on cgroup v1 (one mount per controller), v2 (one unified mount) or both ("hybrid", v2
//! at `/sys/fs/cgroup/unified`).

pub mod stats;

use std::path::PathBuf;

use crate::ParseError;
use crate::proc::mounts::Mount;

/// One line of `/proc/<pid>/cgroup`: `hierarchy-id:controllers:path`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Membership {
    pub hierarchy: u32,
    /// v1 controllers (`cpu`, `cpuacct`, `name=systemd`); empty for the v2 hierarchy.
    pub controllers: Vec<String>,
    /// Path from the hierarchy's root, starting with `/`.
    pub path: String,
}

impl Membership {
    /// True for the cgroup v2 line (`0::/…`).
    pub fn is_v2(&self) -> bool {
        self.hierarchy == 0 && self.controllers.is_empty()
    }
}

/// Parses the text of `/proc/<pid>/cgroup` (or `/proc/<pid>/task/<tid>/cgroup`).
pub fn parse_proc_cgroup(text: &str) -> Result<Vec<Membership>, ParseError> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let mut it = line.splitn(3, ':');
        let (Some(id), Some(ctrls), Some(path)) = (it.next(), it.next(), it.next()) else {
            return Err(ParseError::new(format!(
                "cgroup line is not id:controllers:path: {line:?}"
            )));
        };
        let hierarchy = id
            .parse()
            .map_err(|_| ParseError::new(format!("bad hierarchy id {id:?}")))?;
        if !path.starts_with('/') {
            return Err(ParseError::new(format!(
                "cgroup path is not absolute: {path:?}"
            )));
        }
        out.push(Membership {
            hierarchy,
            controllers: ctrls
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
            path: path.to_owned(),
        });
    }
    if out.is_empty() {
        return Err(ParseError::new("no cgroup lines"));
    }
    Ok(out)
}

/// Which hierarchy a controller directory belongs to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Hierarchy {
    /// A v1 hierarchy carrying these controllers.
    V1(Vec<String>),
    /// The unified hierarchy.
    V2,
}

/// A cgroup directory below the host root (host path, e.g. `/sys/fs/cgroup/cpu/machine/…`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CgroupDir {
    pub hierarchy: Hierarchy,
    pub dir: PathBuf,
}

/// The mount points of the cgroup hierarchies, from `/proc/mounts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CgroupMounts {
    /// (controllers, mount point) of each v1 hierarchy.
    pub v1: Vec<(Vec<String>, String)>,
    pub v2: Option<String>,
}

impl CgroupMounts {
    /// Picks the cgroup mounts out of a mount table.
    pub fn from_mounts(mounts: &[Mount]) -> Self {
        let mut out = Self::default();
        for m in mounts {
            match m.fs_type.as_str() {
                "cgroup2" => out.v2 = Some(m.mount_point.clone()),
                "cgroup" => {
                    // Options hold the controllers among rw/relatime/…; name=X for named ones.
                    let ctrls = m
                        .options
                        .iter()
                        .filter(|o| {
                            o.starts_with("name=")
                                || !matches!(
                                    o.as_str(),
                                    "rw" | "ro"
                                        | "nosuid"
                                        | "nodev"
                                        | "noexec"
                                        | "relatime"
                                        | "noatime"
                                        | "nodiratime"
                                        | "strictatime"
                                        | "clone_children"
                                        | "noprefix"
                                        | "xattr"
                                        | "cpuset_v2_mode"
                                ) && !o.contains('=')
                        })
                        .cloned()
                        .collect();
                    out.v1.push((ctrls, m.mount_point.clone()));
                }
                _ => {}
            }
        }
        out
    }

    /// The host directory of every membership whose hierarchy is mounted.
    pub fn dirs(&self, memberships: &[Membership]) -> Vec<CgroupDir> {
        let mut out = Vec::new();
        for m in memberships {
            let mount = if m.is_v2() {
                self.v2.as_deref()
            } else {
                self.v1
                    .iter()
                    .find(|(c, _)| !c.is_empty() && c.iter().all(|x| m.controllers.contains(x)))
                    .map(|(_, p)| p.as_str())
            };
            if let Some(mount) = mount {
                let rel = m.path.trim_start_matches('/');
                out.push(CgroupDir {
                    hierarchy: if m.is_v2() {
                        Hierarchy::V2
                    } else {
                        Hierarchy::V1(m.controllers.clone())
                    },
                    dir: PathBuf::from(mount).join(rel),
                });
            }
        }
        out
    }
}

/// Where a path component shows it is a libvirt domain's own cgroup.
fn is_domain_component(c: &str) -> bool {
    (c.starts_with("qemu-") && c.ends_with(".libvirt-qemu"))
        || (c.starts_with("machine-qemu") && c.ends_with(".scope"))
}

/// The domain's cgroup path (up to and including the `….libvirt-qemu` or `machine-qemu….scope`
/// component) from the path of any of its threads; `None` when the path is not a domain's.
pub fn domain_path(path: &str) -> Option<&str> {
    let mut pos = 0;
    let mut end = None;
    for comp in path.split('/') {
        let stop = pos + comp.len();
        if is_domain_component(comp) {
            end = Some(stop);
        }
        pos = stop + 1;
    }
    end.map(|e| &path[..e])
}

/// What a thread's cgroup below its domain says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ThreadGroup {
    Vcpu(u32),
    Emulator,
    /// The domain cgroup itself, or a sub-group libvirt does not name.
    Other,
}

/// Classifies a thread's cgroup path (`…/vcpu3`, `…/libvirt/emulator`).
pub fn thread_group(path: &str) -> ThreadGroup {
    let last = path.rsplit('/').next().unwrap_or("");
    if last == "emulator" {
        ThreadGroup::Emulator
    } else if let Some(n) = last.strip_prefix("vcpu").and_then(|n| n.parse().ok()) {
        ThreadGroup::Vcpu(n)
    } else {
        ThreadGroup::Other
    }
}

/// The sub-directory (relative to the domain's cgroup) libvirt gives vCPU `n`, by layout:
/// under systemd on cgroup v2 the threads live below `libvirt/`.
pub fn vcpu_subdir(domain_path: &str, v2: bool, n: u32) -> String {
    if v2 && domain_path.ends_with(".scope") {
        format!("libvirt/vcpu{n}")
    } else {
        format!("vcpu{n}")
    }
}

#[cfg(test)]
mod tests;
