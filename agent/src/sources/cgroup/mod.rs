//! cgroups of libvirt domains, shared plumbing for the libvirt source: thin readers of
//! `/proc/<pid>/cgroup` ([`locate_domain`]) and of the control files ([`stats`]) over the pure
//! path logic and formats of `hvscope_parse::cgroup`. Both layouts libvirt uses are handled:
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

use hvscope_parse::ParseError;
use hvscope_parse::cgroup::{CgroupDir, CgroupMounts, Membership, domain_path, parse_proc_cgroup};

/// A domain's cgroup directories, one per mounted hierarchy its process is in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DomainCgroups {
    /// The domain's path within the hierarchies (`/machine/qemu-1-x.libvirt-qemu`).
    pub path: String,
    /// The domain's own directory in each hierarchy (not the emulator/vcpu sub-group).
    pub dirs: Vec<CgroupDir>,
}

/// Reading a process's cgroups failed.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error(transparent)]
    Read(#[from] crate::io::ReadError),
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: ParseError,
    },
}

/// Locates the cgroup directories of the domain whose QEMU process is `pid`, from
/// `/proc/<pid>/cgroup` and the cgroup mounts. `Ok(None)` when the process is in no libvirt
/// domain cgroup (not a libvirt-started QEMU).
pub fn locate_domain(
    root: &crate::io::HostRoot,
    pid: u32,
    mounts: &CgroupMounts,
) -> Result<Option<DomainCgroups>, LocateError> {
    let rel = format!("proc/{pid}/cgroup");
    let text = root.read_string(&rel)?;
    let members = parse_proc_cgroup(&text).map_err(|source| LocateError::Parse {
        path: root.path(&rel),
        source,
    })?;
    let Some(path) = members.iter().find_map(|m| domain_path(&m.path)) else {
        return Ok(None);
    };
    let path = path.to_owned();
    // Every hierarchy where the process sits below the domain's directory, cut to it.
    let own: Vec<Membership> = members
        .into_iter()
        .filter_map(|mut m| {
            let p = domain_path(&m.path)?.to_owned();
            m.path = p;
            Some(m)
        })
        .collect();
    Ok(Some(DomainCgroups {
        path,
        dirs: mounts.dirs(&own),
    }))
}

#[cfg(test)]
mod tests;
