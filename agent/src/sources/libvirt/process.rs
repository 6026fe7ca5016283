//! One running VM's QEMU process read through its kept state ([`VmState`]): the process's own
//! figures (`stat`, or `status` when the host has swap), its threads (listed again only when
//! the thread count moved or a listed thread is gone) with their roles, affinities and vCPU
//! scheduler statistics, and the domain cgroup's figures.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::state::{CgroupFiles, Miss, Task, Tasks, VmState};
use super::vm::{Role, Thread, Vm};
use crate::io::{FdBudget, HostRoot, ReadError};
use hvscope_parse::cgroup::CgroupMounts;
use hvscope_parse::cpuset::CpuSet;

use crate::sources::cgroup;
use hvscope_parse::proc::{pidstat, pidstatus, schedstat};

/// Most threads of one QEMU process considered.
const MAX_THREADS: usize = 4096;

fn role_of(tid: u32, comm: &str, vcpu_of: &HashMap<u32, u32>) -> Role {
    if let Some(&v) = vcpu_of.get(&tid) {
        return Role::Vcpu(v);
    }
    if comm.starts_with("kvm-") || comm.starts_with("kvm_") {
        return Role::Kernel;
    }
    if let Some(n) = comm
        .strip_prefix("IO iothread")
        .and_then(|n| n.parse().ok())
    {
        return Role::IoThread(n);
    }
    Role::Emulator
}

/// The QEMU process's own figures.
struct Figures {
    rss_bytes: Option<u64>,
    swap_bytes: Option<u64>,
    threads: Option<u64>,
    cpu_seconds: Option<f64>,
}

/// What reading one VM needs besides its state.
pub(super) struct Reading<'a> {
    pub root: &'a HostRoot,
    pub cg_mounts: &'a CgroupMounts,
    pub fds: &'a FdBudget,
    pub buf: &'a mut Vec<u8>,
    /// The page size when the host has no swap (`proc/swaps` lists no device): RSS and the
    /// thread count then come from the `stat` line.
    pub swapless: Option<u64>,
    /// Per PSI resource (cpu, memory, io): the host's total stood still since the last
    /// collection, so the cgroup's last reading still holds.
    pub psi_quiet: [bool; 3],
}

impl Reading<'_> {
    /// `Ok(None)`: the process is gone.
    pub fn vm(self, st: &mut VmState, pid: u32) -> Result<Option<Vm>, String> {
        let Self {
            root,
            cg_mounts,
            fds,
            buf,
            swapless,
            psi_quiet,
        } = self;
        let status = match swapless {
            Some(page) => {
                let stat = match st
                    .stat
                    .read(root, || format!("proc/{pid}/stat").into(), fds, buf)
                {
                    Ok(t) => t,
                    Err(Miss::Gone) => return Ok(None),
                    Err(Miss::Failed(e)) => return Err(e.to_string()),
                };
                let c = pidstat::counts(stat).map_err(|e| format!("proc/{pid}/stat: {e}"))?;
                Figures {
                    rss_bytes: Some(c.rss_pages.saturating_mul(page)),
                    swap_bytes: Some(0),
                    threads: Some(c.threads),
                    cpu_seconds: pidstat::cpu_seconds(stat).ok(),
                }
            }
            None => {
                let status =
                    match st
                        .status
                        .read(root, || format!("proc/{pid}/status").into(), fds, buf)
                    {
                        Ok(t) => {
                            pidstatus::parse(t).map_err(|e| format!("proc/{pid}/status: {e}"))?
                        }
                        Err(Miss::Gone) => return Ok(None),
                        Err(Miss::Failed(e)) => return Err(e.to_string()),
                    };
                Figures {
                    rss_bytes: status.vm_rss_bytes,
                    swap_bytes: status.vm_swap_bytes,
                    threads: status.threads,
                    cpu_seconds: st
                        .stat
                        .read(root, || format!("proc/{pid}/stat").into(), fds, buf)
                        .ok()
                        .and_then(|t| pidstat::cpu_seconds(t).ok()),
                }
            }
        };
        // Threads: the last listing while the thread count is unchanged and every listed
        // thread is still there; else listed again (at most once per collection).
        let mut fresh = !st.tasks.holds(status.threads);
        let threads = loop {
            if fresh {
                match list_tasks(root, st, pid)? {
                    Some(t) => st.tasks = t,
                    None => return Ok(None),
                }
            }
            let (threads, gone) = read_threads(root, st, pid, fds, buf);
            // A thread that exited after a fresh listing is kept, read as unknown.
            if !gone || fresh {
                break threads;
            }
            fresh = true;
        };
        // What an SLI sample needs, read here anyway: a collection is also a sample
        // ([`LibvirtSource::collected_sample`](super::LibvirtSource::collected_sample)).
        st.collected_wait_ns = vcpu_wait_ns(&threads, st.schedstat.len());
        if st.cgroup.is_none()
            && let Ok(found) = cgroup::locate_domain(root, pid, cg_mounts)
        {
            st.cgroup = Some(CgroupFiles::new(found.map(|d| d.dirs).unwrap_or_default()));
        }
        let (cgroup, cgroup_v2_dir) = match &mut st.cgroup {
            Some(c) => (
                c.stats(root, fds, buf, psi_quiet),
                c.v2_dir().map(std::path::Path::to_path_buf),
            ),
            None => (None, None),
        };
        // The cgroup's memory.pressure was read (or its last reading still holds): the SLI
        // sampler's last total is this one.
        st.memory_stall_us = cgroup
            .as_ref()
            .and_then(|c| c.memory_pressure)
            .map(|p| (p.some.total_seconds * 1e6).round() as u64);
        Ok(Some(Vm {
            domain: st.domain.clone(),
            threads,
            rss_bytes: status.rss_bytes,
            swap_bytes: status.swap_bytes,
            cpu_seconds: status.cpu_seconds,
            cgroup,
            cgroup_v2_dir,
        }))
    }
}
/// Σ schedstat wait (ns) of the vCPU threads among `threads` (the only ones with scheduler
/// statistics), when all `vcpus` of them were read: a VM with a vCPU unread is left out of an
/// SLI sample, as the sampler leaves it out.
fn vcpu_wait_ns(threads: &[Thread], vcpus: usize) -> Option<u64> {
    let (n, wait) = threads
        .iter()
        .filter_map(|t| t.sched.as_ref())
        .fold((0, 0u64), |(n, w), s| (n + 1, w.saturating_add(s.wait_ns)));
    (n == vcpus).then_some(wait)
}

/// Lists the QEMU process's threads, naming each (a name is read once per thread: threads
/// already listed keep theirs). `Ok(None)`: the process is gone.
fn list_tasks(root: &HostRoot, st: &VmState, pid: u32) -> Result<Option<Tasks>, String> {
    let task_dir = root.path(format!("proc/{pid}/task"));
    let mut tids: Vec<u32> = match std::fs::read_dir(&task_dir) {
        Ok(d) => d
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .take(MAX_THREADS + 1)
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", task_dir.display())),
    };
    let complete = tids.len() <= MAX_THREADS;
    tids.truncate(MAX_THREADS);
    tids.sort_unstable();
    let vcpu_of: HashMap<u32, u32> = st
        .domain
        .vcpu_threads
        .iter()
        .map(|(v, t)| (*t, *v))
        .collect();
    let mut tasks = Vec::with_capacity(tids.len());
    for tid in tids {
        let comm = match st.tasks.comm(tid) {
            Some(c) => c,
            None => {
                let Ok(c) = root.read_string(format!("proc/{pid}/task/{tid}/comm")) else {
                    continue; // thread exited
                };
                Arc::from(c.trim_end_matches('\n'))
            }
        };
        let role = role_of(tid, &comm, &vcpu_of);
        tasks.push(Task {
            tid,
            role,
            comm,
            affinity: None,
        });
    }
    Ok(Some(Tasks {
        // The count of what was listed: when the process counts as many threads later and all
        // of these still exist, they are all its threads.
        count: complete.then_some(tasks.len() as u64),
        tasks,
    }))
}

/// Reads each listed thread: where it may run (`sched_getaffinity` on the live host, its
/// `status` file below a fixture tree) and, for vCPUs, `schedstat`. Also says whether a listed
/// thread is gone (kernel helper threads are only checked for that).
fn read_threads(
    root: &HostRoot,
    st: &mut VmState,
    pid: u32,
    fds: &FdBudget,
    buf: &mut Vec<u8>,
) -> (Vec<Thread>, bool) {
    let live = root.is_live();
    let mut gone = false;
    let VmState {
        tasks, schedstat, ..
    } = st;
    let mut threads = Vec::with_capacity(tasks.tasks.len());
    for task in &mut tasks.tasks {
        let tid = task.tid;
        let thread = |affinity, sched| Thread {
            tid,
            role: task.role,
            comm: task.comm.to_string(),
            affinity,
            sched,
        };
        if task.role == Role::Kernel {
            let alive = if live {
                live_affinity(tid, &mut task.affinity).is_some()
            } else {
                root.path(format!("proc/{pid}/task/{tid}")).exists()
            };
            gone |= !alive;
            threads.push(thread(None, None));
            continue;
        }
        let affinity = if live {
            let a = live_affinity(tid, &mut task.affinity);
            gone |= a.is_none();
            a
        } else {
            match root.read_string(format!("proc/{pid}/task/{tid}/status")) {
                Ok(t) => pidstatus::parse(&t).ok().and_then(|s| s.cpus_allowed),
                Err(ReadError::Gone { .. }) => {
                    gone = true;
                    None
                }
                Err(_) => None,
            }
        };
        // Scheduler statistics are exported per vCPU only; other threads need affinity.
        let sched = match schedstat.iter_mut().find(|(t, _)| *t == tid) {
            Some((_, slot)) => {
                let rel = || PathBuf::from(format!("proc/{pid}/task/{tid}/schedstat"));
                match slot.read(root, rel, fds, buf) {
                    Ok(t) => schedstat::parse(t).ok(),
                    Err(Miss::Gone) => {
                        gone = true;
                        None
                    }
                    Err(Miss::Failed(_)) => None,
                }
            }
            None => None,
        };
        threads.push(thread(affinity, sched));
    }
    (threads, gone)
}

/// `sched_getaffinity(tid)`: one syscall instead of reading and parsing a status file. The
/// mask is turned into a CPU set only when it differs from the last one (`last`).
fn live_affinity(tid: u32, last: &mut Option<(nix::sched::CpuSet, CpuSet)>) -> Option<CpuSet> {
    let tid = i32::try_from(tid).ok()?;
    let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(tid)).ok()?;
    if let Some((mask, cpus)) = last
        && *mask == set
    {
        return Some(cpus.clone());
    }
    let n = nix::sched::CpuSet::count();
    let cpus = CpuSet::of(
        (0..n)
            .filter(|&i| set.is_set(i).unwrap_or(false))
            .map(|i| i as u32),
    );
    *last = Some((set, cpus.clone()));
    Some(cpus)
}
