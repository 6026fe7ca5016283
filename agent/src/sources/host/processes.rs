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
    /// True when every process was examined; false when only new pids and the daemons'
    /// previous pids were (see [`read`]).
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

/// What the previous collection of one host root learnt: the daemons' statuses, every pid
/// listed then (sorted), and how many collections ago every process was last read.
struct Seen {
    root: std::path::PathBuf,
    statuses: Vec<DaemonStatus>,
    pids: Vec<u32>,
    since_full: u32,
}

static LAST_SEEN: std::sync::Mutex<Vec<Seen>> = std::sync::Mutex::new(Vec::new());
const REMEMBERED_ROOTS: usize = 16;
/// Every process is read again at least this often (in collections). In between, only pids
/// that are new since the last collection and the daemons' own pids are read: a process that
/// `exec`s into a daemon at a pid already seen (a wrapper script's `exec`) is found at the next
/// full scan, at most this many collections late.
pub const FULL_SCAN_EVERY: u32 = 6;

/// The pids worth reading when the last collection of this root is recent: new ones and the
/// daemons' previous ones still listed. `None`: read every process.
fn incremental_candidates(root: &HostRoot, daemons: &[String], pids: &[u32]) -> Option<Vec<u32>> {
    if daemons.is_empty() {
        return None;
    }
    let last = LAST_SEEN.lock().unwrap_or_else(|p| p.into_inner());
    let seen = last.iter().find(|s| s.root == root.root())?;
    let same_daemons = seen.statuses.len() == daemons.len()
        && seen
            .statuses
            .iter()
            .zip(daemons)
            .all(|(s, d)| &s.daemon == d);
    if !same_daemons || seen.since_full + 1 >= FULL_SCAN_EVERY {
        return None;
    }
    let mut wanted: Vec<u32> = pids
        .iter()
        .copied()
        .filter(|p| seen.pids.binary_search(p).is_err())
        .chain(
            seen.statuses
                .iter()
                .flat_map(|s| s.pids.iter().copied())
                .filter(|p| pids.binary_search(p).is_ok()),
        )
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    Some(wanted)
}

fn remember(root: &HostRoot, statuses: &[DaemonStatus], pids: Vec<u32>, full: bool) {
    let mut last = LAST_SEEN.lock().unwrap_or_else(|p| p.into_inner());
    let since_full = match last.iter().position(|s| s.root == root.root()) {
        Some(i) => last.remove(i).since_full + 1,
        None => 0,
    };
    if last.len() >= REMEMBERED_ROOTS {
        last.remove(0);
    }
    last.push(Seen {
        root: root.root().to_path_buf(),
        statuses: statuses.to_vec(),
        pids,
        since_full: if full { 0 } else { since_full },
    });
}

/// Lists the host's processes and finds the required `daemons` (alternatives separated by
/// `|`). Every [`FULL_SCAN_EVERY`] collections every process is read; in between only pids
/// that appeared since the previous collection and the daemons' previous pids are (a daemon
/// that restarts gets a new pid, and a pid reused by a daemon is re-read). Processes that exit
/// while being read are skipped; so are ones whose files cannot be read (hidepid), which is
/// logged at debug level.
pub fn read(root: &HostRoot, daemons: &[String]) -> Result<ProcessScan, SysError> {
    let names = list_dir(root, std::path::Path::new("proc"))?.ok_or_else(|| {
        SysError::Read(ReadError::Gone {
            path: root.path("proc"),
        })
    })?;
    let mut pids: Vec<u32> = names.iter().filter_map(|n| n.parse().ok()).collect();
    pids.truncate(MAX_DIR_ENTRIES);
    pids.sort_unstable();
    let candidates = incremental_candidates(root, daemons, &pids);
    let full_scan = candidates.is_none();
    let examined: Vec<Process> = candidates
        .as_deref()
        .unwrap_or(&pids)
        .iter()
        .filter_map(|p| read_one(root, *p))
        .collect();
    let statuses: Vec<DaemonStatus> = daemons
        .iter()
        .map(|d| daemon_status(d, &examined))
        .collect();
    let count = pids.len();
    remember(root, &statuses, pids, full_scan);
    Ok(ProcessScan {
        count,
        full_scan,
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
    fn between_full_scans_only_new_pids_and_daemon_pids_are_read() {
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
        let want = [
            "iscsid".to_owned(),
            "libvirtd|virtqemud".to_owned(),
            "ovs-vswitchd".to_owned(),
        ];
        let first = read(&root, &want).unwrap();
        assert!(first.full_scan);
        assert_eq!(
            first
                .daemons
                .iter()
                .map(DaemonStatus::up)
                .collect::<Vec<_>>(),
            [true, true, false]
        );
        let second = read(&root, &want).unwrap();
        assert!(!second.full_scan, "nothing new: only the daemons' pids");
        assert_eq!((second.count, second.examined.len()), (3, 2));
        // libvirtd exits and pid 11 is reused by something else; virtqemud starts at 13.
        put(11, "sleep", 'S');
        put(13, "virtqemud", 'S');
        let third = read(&root, &want).unwrap();
        assert!(!third.full_scan);
        assert_eq!(third.daemons[1].pids, vec![13]);
        // A zombie at the daemon's pid is not running.
        put(13, "virtqemud", 'Z');
        assert!(!read(&root, &want).unwrap().daemons[1].up());
        // A new pid running the missing daemon is found at once.
        put(14, "ovs-vswitchd", 'S');
        assert_eq!(read(&root, &want).unwrap().daemons[2].pids, vec![14]);
        // A process that execs into a daemon at a pid already seen is found by the next full
        // scan, within FULL_SCAN_EVERY collections.
        std::fs::remove_dir_all(dir.join("proc/14")).unwrap();
        assert!(!read(&root, &want).unwrap().daemons[2].up());
        put(12, "ovs-vswitchd", 'S');
        let found = (0..FULL_SCAN_EVERY)
            .map(|_| read(&root, &want).unwrap())
            .find(|scan| scan.daemons[2].up())
            .expect("found within one full-scan period");
        assert!(found.full_scan);
        assert_eq!(found.daemons[2].pids, vec![12]);
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
