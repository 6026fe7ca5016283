//! Thin reader of the process list (`/proc/<pid>/stat` and, where needed, `cmdline`) and the
//! daemon liveness derived from it.

use crate::host_root::{HostRoot, ReadError};
use crate::sources::proc::process::{self, Process};
use crate::sources::sys::{MAX_DIR_ENTRIES, SysError, list_dir};

/// Whether one required daemon runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DaemonStatus {
    /// As configured: `libvirtd|virtqemud` means either.
    pub daemon: String,
    /// Pids of the live processes that match (empty: down).
    pub pids: Vec<u32>,
}

impl DaemonStatus {
    /// True when at least one matching process is alive.
    pub fn up(&self) -> bool {
        !self.pids.is_empty()
    }
}

/// The status of `daemon` (alternatives separated by `|`) among `procs`.
pub fn daemon_status(daemon: &str, procs: &[Process]) -> DaemonStatus {
    let names: Vec<&str> = daemon
        .split('|')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    let pids = procs
        .iter()
        .filter(|p| p.is_alive() && names.iter().any(|n| p.is_named(n)))
        .map(|p| p.pid)
        .collect();
    DaemonStatus {
        daemon: daemon.to_owned(),
        pids,
    }
}

/// Whether argv is needed to name the process: interpreters, and comms the kernel truncated.
fn needs_cmdline(comm: &str) -> bool {
    comm.len() >= 15
        || ["python", "perl", "ruby", "sh", "bash", "node"]
            .iter()
            .any(|p| comm.starts_with(p))
}

/// Lists the host's processes. Processes that exit while being read are skipped; so are ones
/// whose files cannot be read (hidepid), which is logged at debug level.
pub fn read(root: &HostRoot) -> Result<Vec<Process>, SysError> {
    let names = list_dir(root, std::path::Path::new("proc"))?.ok_or_else(|| {
        SysError::Read(ReadError::Gone {
            path: root.path("proc"),
        })
    })?;
    let mut out = Vec::new();
    for name in names {
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        if out.len() >= MAX_DIR_ENTRIES {
            break;
        }
        let stat = match root.read_string(format!("proc/{pid}/stat")) {
            Ok(s) => s,
            Err(ReadError::Gone { .. }) => continue,
            Err(error) => {
                tracing::debug!(pid, %error, "process stat unreadable");
                continue;
            }
        };
        let Ok((comm, state)) = process::parse_stat(&stat) else {
            tracing::debug!(pid, "process stat unparsable");
            continue;
        };
        let argv = if needs_cmdline(&comm) {
            crate::host_root::read_bounded(&root.path(format!("proc/{pid}/cmdline")), 1 << 16)
                .map(|b| process::parse_cmdline(&b))
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        out.push(Process {
            pid,
            comm,
            state,
            argv,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_list_contains_this_process() {
        let procs = read(&HostRoot::default()).unwrap();
        let me = std::process::id();
        assert!(procs.iter().any(|p| p.pid == me && p.is_alive()));
        let st = daemon_status("nonexistent-daemon-xyz|also-not", &procs);
        assert!(!st.up());
    }

    #[test]
    fn alternatives() {
        let p = |pid, comm: &str, state| Process {
            pid,
            comm: comm.into(),
            state,
            argv: vec![],
        };
        let procs = [p(1, "virtqemud", 'S'), p(2, "ovs-vswitchd", 'Z')];
        assert_eq!(daemon_status("libvirtd|virtqemud", &procs).pids, vec![1]);
        assert!(
            !daemon_status("ovs-vswitchd", &procs).up(),
            "zombies are not running"
        );
        assert!(!daemon_status("|", &procs).up());
    }
}
