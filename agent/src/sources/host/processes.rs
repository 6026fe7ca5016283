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

/// What one collection learnt about processes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProcessScan {
    /// Processes (not threads) listed in `/proc`.
    pub count: usize,
    /// True when every process was examined; false when each required daemon was confirmed
    /// at a pid it had in the previous collection, and the others were not read.
    pub full_scan: bool,
    /// The processes examined (every one on a full scan, else the daemons' own).
    pub examined: Vec<Process>,
    pub daemons: Vec<DaemonStatus>,
}

fn read_one(root: &HostRoot, pid: u32) -> Option<Process> {
    let stat = match root.read_string(format!("proc/{pid}/stat")) {
        Ok(s) => s,
        Err(ReadError::Gone { .. }) => return None,
        Err(error) => {
            tracing::debug!(pid, %error, "process stat unreadable");
            return None;
        }
    };
    let Ok((comm, state)) = process::parse_stat(&stat) else {
        tracing::debug!(pid, "process stat unparsable");
        return None;
    };
    let argv = if needs_cmdline(&comm) {
        crate::host_root::read_bounded(&root.path(format!("proc/{pid}/cmdline")), 1 << 16)
            .map(|b| process::parse_cmdline(&b))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    Some(Process {
        pid,
        comm,
        state,
        argv,
    })
}

/// Where each daemon was found last, per host root: (root, daemon list, pids per daemon).
type LastSeen = Vec<(std::path::PathBuf, Vec<DaemonStatus>)>;
static LAST_SEEN: std::sync::Mutex<LastSeen> = std::sync::Mutex::new(Vec::new());
const REMEMBERED_ROOTS: usize = 16;

/// Each daemon confirmed (alive, same name) at one of its previous pids, or `None` when any
/// daemon was not: then every process must be read.
fn confirm_last(
    root: &HostRoot,
    daemons: &[String],
    pids: &[u32],
) -> Option<(Vec<Process>, Vec<DaemonStatus>)> {
    if daemons.is_empty() {
        return None;
    }
    let last = LAST_SEEN.lock().unwrap_or_else(|p| p.into_inner());
    let (_, seen) = last.iter().find(|(r, _)| r == root.root())?;
    let mut examined = Vec::new();
    let mut out = Vec::new();
    for d in daemons {
        let prev = seen.iter().find(|s| &s.daemon == d)?;
        let found: Vec<Process> = prev
            .pids
            .iter()
            .filter(|p| pids.binary_search(p).is_ok())
            .filter_map(|p| read_one(root, *p))
            .collect();
        let status = daemon_status(d, &found);
        if !status.up() {
            return None;
        }
        examined.extend(found);
        out.push(status);
    }
    Some((examined, out))
}

fn remember(root: &HostRoot, daemons: &[DaemonStatus]) {
    let mut last = LAST_SEEN.lock().unwrap_or_else(|p| p.into_inner());
    last.retain(|(r, _)| r != root.root());
    if last.len() >= REMEMBERED_ROOTS {
        last.remove(0);
    }
    last.push((root.root().to_path_buf(), daemons.to_vec()));
}

/// Lists the host's processes and finds the required `daemons` (alternatives separated by
/// `|`). When every daemon is still alive at a pid it had last time, only those are read;
/// otherwise every process is. Processes that exit while being read are skipped; so are ones
/// whose files cannot be read (hidepid), which is logged at debug level.
pub fn read(root: &HostRoot, daemons: &[String]) -> Result<ProcessScan, SysError> {
    let names = list_dir(root, std::path::Path::new("proc"))?.ok_or_else(|| {
        SysError::Read(ReadError::Gone {
            path: root.path("proc"),
        })
    })?;
    let mut pids: Vec<u32> = names.iter().filter_map(|n| n.parse().ok()).collect();
    pids.truncate(MAX_DIR_ENTRIES);
    pids.sort_unstable();
    if let Some((examined, statuses)) = confirm_last(root, daemons, &pids) {
        return Ok(ProcessScan {
            count: pids.len(),
            full_scan: false,
            examined,
            daemons: statuses,
        });
    }
    let examined: Vec<Process> = pids.iter().filter_map(|p| read_one(root, *p)).collect();
    let statuses: Vec<DaemonStatus> = daemons
        .iter()
        .map(|d| daemon_status(d, &examined))
        .collect();
    remember(root, &statuses);
    Ok(ProcessScan {
        count: pids.len(),
        full_scan: true,
        examined,
        daemons: statuses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_list_contains_this_process() {
        let scan = read(
            &HostRoot::default(),
            &["nonexistent-daemon-xyz|also-not".into()],
        )
        .unwrap();
        let me = std::process::id();
        assert!(scan.full_scan);
        assert!(scan.examined.iter().any(|p| p.pid == me && p.is_alive()));
        assert!(!scan.daemons[0].up());
        assert!(scan.count >= scan.examined.len());
    }

    #[test]
    fn confirmed_daemons_skip_the_full_scan_until_one_moves() {
        let dir = std::env::temp_dir().join(format!("hvscope-procs-{}", std::process::id()));
        let put = |pid: u32, comm: &str, state: char| {
            let d = dir.join(format!("proc/{pid}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(
                d.join("stat"),
                format!("{pid} ({comm}) {state} 1 1 1 0 -1 0\n"),
            )
            .unwrap();
        };
        put(10, "iscsid", 'S');
        put(11, "libvirtd", 'S');
        put(12, "bash", 'S');
        let root = HostRoot::new(&dir);
        let want = ["iscsid".to_owned(), "libvirtd|virtqemud".to_owned()];
        let first = read(&root, &want).unwrap();
        assert!(first.full_scan && first.daemons.iter().all(DaemonStatus::up));
        let second = read(&root, &want).unwrap();
        assert!(!second.full_scan, "both confirmed at their pids");
        assert_eq!((second.count, second.examined.len()), (3, 2));
        // libvirtd exits and pid 11 is reused by something else; virtqemud starts at 13.
        put(11, "sleep", 'S');
        put(13, "virtqemud", 'S');
        let third = read(&root, &want).unwrap();
        assert!(third.full_scan);
        assert_eq!(third.daemons[1].pids, vec![13]);
        // A zombie at the remembered pid is not confirmation either.
        put(13, "virtqemud", 'Z');
        let fourth = read(&root, &want).unwrap();
        assert!(fourth.full_scan && !fourth.daemons[1].up());
        std::fs::remove_dir_all(&dir).unwrap();
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
