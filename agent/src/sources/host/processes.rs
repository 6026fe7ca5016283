//! Thin reader of the process list (`/proc/<pid>/stat` and, where needed, `cmdline`) and the
//! daemon liveness derived from it.

use crate::io::{FdBudget, Holder, HostRoot, KeptFile, REFRESH, ReadError};
use crate::sources::sys::{MAX_DIR_ENTRIES, SysError, list_dir};
use hvscope_parse::proc::process::{self, Process};

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

/// The names a configured daemon list looks for (alternatives split at `|`).
fn daemon_names(daemons: &[String]) -> Vec<&str> {
    daemons
        .iter()
        .flat_map(|d| d.split('|'))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect()
}

/// Whether argv is needed to tell if a process with this comm is one of the daemons `names`
/// ([`Process::is_named`]): for interpreters (`python3 /usr/bin/nova-compute`), for a comm the
/// kernel truncated (15 bytes) from a longer name, and for a comm that starts with a name
/// without being it (a title rewritten to `nova-compute: worker`). Any other comm names its
/// process already: reading the argv of every QEMU (`qemu-system-x86`, truncated, kilobytes of
/// arguments) on every full scan would find nothing.
fn needs_cmdline(comm: &str, names: &[&str]) -> bool {
    ["python", "perl", "ruby", "sh", "bash", "node"]
        .iter()
        .any(|p| comm.starts_with(p))
        || names.iter().any(|n| {
            (comm.len() >= 15 && n.len() > comm.len() && n.starts_with(comm))
                || (comm.len() > n.len() && comm.starts_with(n))
        })
}

/// What one collection learnt about processes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProcessScan {
    /// Processes (not threads) listed in `/proc`.
    pub count: usize,
    /// True when every process was examined; false when only new pids and the daemons'
    /// previous pids were (see [`Processes::read`]).
    pub full_scan: bool,
    /// False when `/proc` was not listed because the last listing held (no task was created
    /// since, or every daemon still runs where it ran; live host only): `count` then follows
    /// `/proc`'s link count.
    pub listed: bool,
    /// The processes examined (every one on a full scan, else the daemons' own).
    pub examined: Vec<Process>,
    pub daemons: Vec<DaemonStatus>,
}

/// Reads one process: its `stat` (one piece: one read; through `kept` when the file is kept
/// open), and its `cmdline` where [`needs_cmdline`] says so. `buf` is reused between processes.
fn read_one(
    root: &HostRoot,
    pid: u32,
    names: &[&str],
    buf: &mut Vec<u8>,
    kept: Option<&KeptFile>,
) -> Option<Process> {
    let read = match kept {
        Some(k) => k.read(buf),
        None => root.read_once(format!("proc/{pid}/stat"), buf),
    };
    let stat = match read {
        Ok(s) => s,
        Err(ReadError::Gone { .. }) => return None,
        Err(error) => {
            tracing::debug!(pid, %error, "process stat unreadable");
            return None;
        }
    };
    let Ok((comm, state)) = process::parse_stat(stat) else {
        tracing::debug!(pid, "process stat unparsable");
        return None;
    };
    let argv = if needs_cmdline(&comm, names) {
        crate::io::read_bounded(&root.path(format!("proc/{pid}/cmdline")), 1 << 16)
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

/// What the previous collection learnt: the daemons' statuses, every pid listed then
/// (sorted), the pids that were new then (sorted), and how many collections ago every process
/// was last read.
#[derive(Debug)]
struct Seen {
    statuses: Vec<DaemonStatus>,
    pids: Vec<u32>,
    fresh: Vec<u32>,
    since_full: u32,
    /// What `/proc` looked like when `pids` were listed (see [`Listed`]).
    listed: Listed,
}

/// The live host's task counters at a listing of `/proc`, or at the last collection that kept
/// it: the fork counter of `/proc/stat` (`processes`: every task ever created, threads
/// included) and the link count of `/proc` itself (a constant plus the number of processes).
/// The listing is kept (see [`Processes::read`]) while the fork counter stands still (no task
/// was created, so no pid can be new), or while every daemon runs at the pids it ran at (a new
/// pid can only matter for a daemon that is down). The process count then moves by the link
/// count (a process that exits between the link count and a listing is counted out twice,
/// until the next listing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Listed {
    forks: Option<u64>,
    nlink: Option<u64>,
    count: usize,
}

/// The process scan of one host root, with what the last collection learnt (the host part owns
/// one). Every process is read again at least once per refresh period ([`REFRESH`]: 30
/// collections, 5 minutes at the default 10 s interval). In between, only pids that are new
/// since the last collection, pids that were new at the last collection, and the daemons' own
/// pids are read. A process that `exec`s into a daemon at a pid already seen (a wrapper
/// script's `exec`) is therefore found one collection after it appeared when it execs within
/// that interval (the usual case: a wrapper sets up and execs at once), and at the next full
/// scan otherwise.
#[derive(Debug, Default)]
pub struct Processes {
    seen: Option<Seen>,
    /// The read buffer of the `stat` files.
    buf: Vec<u8>,
    /// The `stat` files of the daemons' pids (read every collection), kept open under the
    /// host part's share of the budget, sorted by pid; any other pid's is read once.
    kept: Vec<(u32, KeptFile)>,
}

impl Processes {
    /// The pids worth reading when the last collection is recent: new ones (in `pids`, this
    /// collection's listing, and not in the last one), the ones new at the last collection,
    /// and the daemons' previous ones still listed. Without a new listing (`pids` is `None`: no
    /// task was created since), the ones new at the last collection and the daemons' previous
    /// ones. `None`: read every process.
    fn incremental_candidates(&self, daemons: &[String], pids: Option<&[u32]>) -> Option<Vec<u32>> {
        if daemons.is_empty() {
            return None;
        }
        let seen = self.seen.as_ref()?;
        let same_daemons = seen.statuses.len() == daemons.len()
            && seen
                .statuses
                .iter()
                .zip(daemons)
                .all(|(s, d)| &s.daemon == d);
        if !same_daemons || REFRESH.is_due(u64::from(seen.since_full) + 1) {
            return None;
        }
        let listed = |p: &u32| pids.is_none_or(|pids| pids.binary_search(p).is_ok());
        let mut wanted: Vec<u32> = pids
            .unwrap_or_default()
            .iter()
            .copied()
            .filter(|p| seen.pids.binary_search(p).is_err())
            .chain(
                seen.statuses
                    .iter()
                    .flat_map(|s| s.pids.iter().copied())
                    .chain(seen.fresh.iter().copied())
                    .filter(listed),
            )
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        Some(wanted)
    }

    fn remember(
        &mut self,
        statuses: &[DaemonStatus],
        pids: Option<Vec<u32>>,
        full: bool,
        listed: Listed,
    ) {
        let prev = self.seen.take();
        let since_full = prev.as_ref().map_or(0, |s| s.since_full + 1);
        // Without a new listing nothing is new: the previous one holds.
        let (pids, fresh) = match (pids, prev) {
            (Some(pids), Some(s)) => {
                let fresh = pids
                    .iter()
                    .copied()
                    .filter(|p| s.pids.binary_search(p).is_err())
                    .collect();
                (pids, fresh)
            }
            (Some(pids), None) => (pids, Vec::new()),
            (None, Some(s)) => (s.pids, Vec::new()),
            (None, None) => (Vec::new(), Vec::new()),
        };
        self.seen = Some(Seen {
            statuses: statuses.to_vec(),
            pids,
            fresh,
            since_full: if full { 0 } else { since_full },
            listed,
        });
    }

    /// The listing of `/proc` the last collection kept, with the process count moved by the
    /// link count since, and whether it holds whatever the daemons' pids show: the live host
    /// created no task since (see [`Listed`]). `None`: list again (below a fixture tree, or when
    /// a counter is unknown).
    fn kept_listing(
        &self,
        root: &HostRoot,
        forks: Option<u64>,
        nlink: Option<u64>,
    ) -> Option<(Listed, bool)> {
        if !root.is_live() {
            return None;
        }
        let (forks, nlink) = (forks?, nlink?);
        let seen = self.seen.as_ref()?;
        let unchanged = seen.listed.forks == Some(forks);
        // With tasks created since, only the daemons' pids can keep the listing: every daemon
        // must have been running.
        if !unchanged && !seen.statuses.iter().all(DaemonStatus::up) {
            return None;
        }
        let before = seen.listed.nlink?;
        let count = (seen.listed.count as u64 + nlink).saturating_sub(before);
        let listed = Listed {
            forks: Some(forks),
            nlink: Some(nlink),
            count: usize::try_from(count).unwrap_or(usize::MAX),
        };
        Some((listed, unchanged))
    }

    /// Reads the processes `pids` (sorted): a daemon's last pid through its kept `stat` file
    /// (opened now if it is not kept yet), any other by path.
    fn examine(
        &mut self,
        root: &HostRoot,
        fds: &FdBudget,
        pids: &[u32],
        names: &[&str],
    ) -> Vec<Process> {
        let daemon_pids: Vec<u32> = self
            .seen
            .iter()
            .flat_map(|s| s.statuses.iter().flat_map(|d| d.pids.iter().copied()))
            .collect();
        let mut out = Vec::with_capacity(pids.len());
        for &pid in pids {
            let kept = if daemon_pids.contains(&pid) {
                match self.kept.binary_search_by_key(&pid, |(p, _)| *p) {
                    Ok(i) => Some(i),
                    Err(i) => root
                        .keep(format!("proc/{pid}/stat"), fds, Holder::Proc)
                        .ok()
                        .map(|k| {
                            self.kept.insert(i, (pid, k));
                            i
                        }),
                }
            } else {
                None
            };
            let file = kept.map(|i| &self.kept[i].1);
            out.extend(read_one(root, pid, names, &mut self.buf, file));
        }
        out
    }

    /// Keeps the `stat` files of the daemons' pids in `statuses` only (a daemon found at a new
    /// pid gets its file kept from the next collection on).
    fn keep_daemon_files(&mut self, statuses: &[DaemonStatus]) {
        self.kept
            .retain(|(pid, _)| statuses.iter().any(|s| s.pids.contains(pid)));
    }

    /// Whether every daemon still runs at each pid it ran at in the last collection (a pid
    /// gone or taken over means it may have restarted elsewhere: list again).
    fn daemons_kept(&self, statuses: &[DaemonStatus]) -> bool {
        self.seen.as_ref().is_some_and(|seen| {
            seen.statuses.len() == statuses.len()
                && seen
                    .statuses
                    .iter()
                    .zip(statuses)
                    .all(|(before, now)| before.pids.iter().all(|p| now.pids.contains(p)))
        })
    }

    /// Lists the host's processes and finds the required `daemons` (alternatives separated by
    /// `|`). Once per refresh period every process is read; in between only pids that appeared
    /// since the previous collection or at it, and the daemons' previous pids are (a daemon that
    /// restarts gets a new pid, and a pid reused by a daemon is re-read); a changed daemon list
    /// reads every process. Processes that exit while being read are skipped; so are ones whose
    /// files cannot be read (hidepid), which is logged at debug level.
    ///
    /// On the live host `/proc` is listed only when it could show something new: when a task
    /// was created since the last listing (the fork counter of `/proc/stat`, `forks`, read by
    /// the caller, moved) **and** a daemon was down or is no longer at one of its pids (see
    /// [`Listed`]). A healthy node, whose daemons all run where they ran, is not listed between
    /// full scans however much it forks. Below a fixture tree there is no such counter: `/proc`
    /// is listed every time.
    pub fn read(
        &mut self,
        root: &HostRoot,
        fds: &FdBudget,
        daemons: &[String],
        forks: Option<u64>,
    ) -> Result<ProcessScan, SysError> {
        let nlink = root.is_live().then(|| proc_nlink(root)).flatten();
        let names = daemon_names(daemons);
        if let Some((listed, unchanged)) = self.kept_listing(root, forks, nlink)
            && let Some(candidates) = self.incremental_candidates(daemons, None)
        {
            let examined = self.examine(root, fds, &candidates, &names);
            let statuses: Vec<DaemonStatus> = daemons
                .iter()
                .map(|d| daemon_status(d, &examined))
                .collect();
            if unchanged || self.daemons_kept(&statuses) {
                self.keep_daemon_files(&statuses);
                self.remember(&statuses, None, false, listed);
                return Ok(ProcessScan {
                    count: listed.count,
                    full_scan: false,
                    listed: false,
                    examined,
                    daemons: statuses,
                });
            }
        }
        let dir = list_dir(root, std::path::Path::new("proc"))?.ok_or_else(|| {
            SysError::Read(ReadError::Gone {
                path: root.path("proc"),
            })
        })?;
        let mut pids: Vec<u32> = dir.iter().filter_map(|n| n.parse().ok()).collect();
        pids.truncate(MAX_DIR_ENTRIES);
        pids.sort_unstable();
        let listed = Listed {
            forks,
            nlink,
            count: pids.len(),
        };
        let candidates = self.incremental_candidates(daemons, Some(&pids));
        let full_scan = candidates.is_none();
        let examined = self.examine(root, fds, candidates.as_deref().unwrap_or(&pids), &names);
        let statuses: Vec<DaemonStatus> = daemons
            .iter()
            .map(|d| daemon_status(d, &examined))
            .collect();
        self.keep_daemon_files(&statuses);
        self.remember(&statuses, Some(pids), full_scan, listed);
        Ok(ProcessScan {
            count: listed.count,
            full_scan,
            listed: true,
            examined,
            daemons: statuses,
        })
    }
}

fn proc_nlink(root: &HostRoot) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(root.path("proc")).ok().map(|m| m.nlink())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_list_contains_this_process() {
        let scan = Processes::default()
            .read(
                &HostRoot::default(),
                &FdBudget::none(),
                &["nonexistent-daemon-xyz|also-not".into()],
                None,
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
        let fds = FdBudget::with_caps([(Holder::Proc, 8)]);
        let mut procs = Processes::default();
        let want = [
            "iscsid".to_owned(),
            "libvirtd|virtqemud".to_owned(),
            "ovs-vswitchd".to_owned(),
        ];
        let first = procs.read(&root, &fds, &want, None).unwrap();
        assert!(first.full_scan);
        assert_eq!(
            first
                .daemons
                .iter()
                .map(DaemonStatus::up)
                .collect::<Vec<_>>(),
            [true, true, false]
        );
        let second = procs.read(&root, &fds, &want, None).unwrap();
        assert!(!second.full_scan, "nothing new: only the daemons' pids");
        assert_eq!((second.count, second.examined.len()), (3, 2));
        assert_eq!(
            fds.held(Holder::Proc),
            2,
            "the daemons' stat files are kept"
        );
        // libvirtd exits and pid 11 is reused by something else; virtqemud starts at 13.
        put(11, "sleep", 'S');
        put(13, "virtqemud", 'S');
        let third = procs.read(&root, &fds, &want, None).unwrap();
        assert!(!third.full_scan);
        assert_eq!(third.daemons[1].pids, vec![13]);
        // A zombie at the daemon's pid is not running.
        put(13, "virtqemud", 'Z');
        assert!(!procs.read(&root, &fds, &want, None).unwrap().daemons[1].up());
        // A new pid running the missing daemon is found at once.
        put(14, "ovs-vswitchd", 'S');
        assert_eq!(
            procs.read(&root, &fds, &want, None).unwrap().daemons[2].pids,
            vec![14]
        );
        std::fs::remove_dir_all(dir.join("proc/14")).unwrap();
        assert!(!procs.read(&root, &fds, &want, None).unwrap().daemons[2].up());
        // A wrapper that execs into the daemon one collection after it appeared is found then,
        // without a full scan.
        put(15, "sh", 'S');
        assert!(!procs.read(&root, &fds, &want, None).unwrap().daemons[2].up());
        put(15, "ovs-vswitchd", 'S');
        let execd = procs.read(&root, &fds, &want, None).unwrap();
        assert!(!execd.full_scan);
        assert_eq!(execd.daemons[2].pids, vec![15]);
        std::fs::remove_dir_all(dir.join("proc/15")).unwrap();
        assert!(!procs.read(&root, &fds, &want, None).unwrap().daemons[2].up());
        // A process that execs into a daemon at a pid seen longer ago is found by the next
        // full scan, within one refresh period.
        put(12, "ovs-vswitchd", 'S');
        let found = (0..REFRESH.collections())
            .map(|_| procs.read(&root, &fds, &want, None).unwrap())
            .find(|scan| scan.daemons[2].up())
            .expect("found within one full-scan period");
        assert!(found.full_scan);
        assert_eq!(found.daemons[2].pids, vec![12]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn argv_is_read_only_where_it_can_name_a_configured_daemon() {
        let daemons = [
            "libvirtd|virtqemud".to_owned(),
            "nova-compute".to_owned(),
            "a-daemon-with-a-long-name".to_owned(),
        ];
        let names = daemon_names(&daemons);
        assert_eq!(names.len(), 4);
        for comm in ["python3", "bash", "sh", "perl", "node"] {
            assert!(needs_cmdline(comm, &names), "{comm}");
        }
        // Truncated from a configured name; a title rewritten from one.
        assert!(needs_cmdline("a-daemon-with-a", &names));
        assert!(needs_cmdline("nova-compute: w", &names));
        assert!(needs_cmdline("libvirtd-x", &names));
        // The comm names the process already: a daemon, or something no name can be.
        for comm in [
            "libvirtd",
            "nova-compute",
            "qemu-system-x86",
            "kworker/0:1-eve",
            "sshd",
        ] {
            assert!(!needs_cmdline(comm, &names), "{comm}");
        }
        // Whatever needs_cmdline skips, is_named could not have matched on argv.
        let qemu = Process {
            pid: 1,
            comm: "qemu-system-x86".into(),
            state: 'S',
            argv: vec![],
        };
        assert!(names.iter().all(|n| !qemu.is_named(n)));
    }

    #[test]
    fn the_live_listing_holds_while_no_task_is_created() {
        let root = HostRoot::default();
        let mut procs = Processes::default();
        let want = ["hvscope-listing-test-daemon".to_owned()];
        let forks = || {
            hvscope_parse::proc::stat::parse(&root.read_string("proc/stat").unwrap())
                .unwrap()
                .forks
        };
        let quiet = (0..200).find_map(|_| {
            // Listed with a fork counter of its own, then read again with the same counter.
            let f = forks();
            let first = procs
                .read(&root, &FdBudget::none(), &want, Some(f))
                .unwrap();
            let second = procs
                .read(&root, &FdBudget::none(), &want, Some(f))
                .unwrap();
            // Other tests create tasks: retry until a moment without any.
            (!first.full_scan && !second.full_scan && forks() == f).then_some((first, second))
        });
        let (first, second) = quiet.expect("a moment without new tasks on the test host");
        assert!(!second.listed);
        assert_eq!(second.count, first.count);
        // A moved fork counter lists again.
        let f = forks();
        assert!(
            procs
                .read(&root, &FdBudget::none(), &want, Some(f + 1))
                .unwrap()
                .listed
        );
        // Without the counter (it could not be read), every collection lists.
        assert!(
            procs
                .read(&root, &FdBudget::none(), &want, None)
                .unwrap()
                .listed
        );
        assert!(
            procs
                .read(&root, &FdBudget::none(), &want, None)
                .unwrap()
                .listed
        );
    }

    #[test]
    fn a_healthy_live_host_is_not_listed_however_much_it_forks() {
        // A stand-in daemon: a copy of sleep under a name of its own (its comm).
        let dir = std::env::temp_dir().join(format!("hvscope-daemons-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join("hvs-standin-d");
        std::fs::copy("/bin/sleep", &exe).unwrap();
        let mut child = std::process::Command::new(&exe).arg("60").spawn().unwrap();
        let root = HostRoot::default();
        let want = ["hvs-standin-d".to_owned()];
        let fds = FdBudget::with_caps([(Holder::Proc, 8)]);
        let mut procs = Processes::default();
        // Wait until the child has exec'd (its comm is the stand-in's).
        let first = (0..200)
            .map(|_| {
                std::thread::sleep(std::time::Duration::from_millis(5));
                Processes::default()
                    .read(&root, &FdBudget::none(), &want, Some(1))
                    .unwrap()
            })
            .find(|s| s.daemons[0].up())
            .expect("the stand-in runs");
        assert_eq!(first.daemons[0].pids, vec![child.id()]);
        assert!(procs.read(&root, &fds, &want, Some(1)).unwrap().listed);
        // Tasks were created (the counter moved) but the daemon runs where it ran.
        for forks in 2..6 {
            let scan = procs.read(&root, &fds, &want, Some(forks)).unwrap();
            assert!(!scan.listed && !scan.full_scan, "{scan:?}");
            assert_eq!(scan.daemons[0].pids, vec![child.id()]);
            assert_eq!(fds.held(Holder::Proc), 1, "its stat file is kept");
        }
        // The daemon's pid is gone: listed at once, and again while it is down.
        child.kill().unwrap();
        child.wait().unwrap();
        let gone = procs.read(&root, &fds, &want, Some(6)).unwrap();
        assert!(gone.listed && !gone.daemons[0].up(), "{gone:?}");
        assert_eq!(fds.held(Holder::Proc), 0, "the dead pid's file is closed");
        assert!(procs.read(&root, &fds, &want, Some(7)).unwrap().listed);
        // Back at a new pid: found by that listing.
        let mut again = std::process::Command::new(&exe).arg("60").spawn().unwrap();
        let back = (8..208)
            .map(|forks| {
                std::thread::sleep(std::time::Duration::from_millis(5));
                procs.read(&root, &fds, &want, Some(forks)).unwrap()
            })
            .find(|s| s.daemons[0].up())
            .expect("found again");
        assert!(back.listed);
        assert_eq!(back.daemons[0].pids, vec![again.id()]);
        again.kill().unwrap();
        again.wait().unwrap();
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
