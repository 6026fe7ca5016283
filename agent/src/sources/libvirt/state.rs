//! What the libvirt source keeps of each running VM between collections, so that a steady
//! collection costs about one `pread` per figure:
//! - the files read every collection (`/proc/<pid>/{stat,status}`, each vCPU thread's
//!   `schedstat`, the domain cgroup's control files), kept open and read with `pread` at
//!   offset 0 ([`KeptFile`]); a file found absent is not looked for again;
//! - where the domain's cgroup is (`/proc/<pid>/cgroup` is read once per QEMU process);
//! - the QEMU threads with their names and roles, listed again only when the process's thread
//!   count (`Threads:` of the status file, read anyway) differs from the listing's or one of the
//!   listed threads is gone: with the count unchanged and every listed thread alive, the set is
//!   the same.
//!
//! All of it belongs to one parse of the domain's status file (one QEMU pid, one set of vCPU
//! threads): a changed status file starts afresh. A kept file that fails to read (ESRCH: the
//! thread exited; ENODEV: the cgroup was removed) is opened again by path once. Once per
//! refresh period ([`REFRESH`](crate::io::REFRESH), 30 collections) everything is dropped and
//! read anew, which bounds how long a change no other signal shows goes unseen (a cgroup moved
//! by hand, a controller enabled later, a thread id reused within the process).
//!
//! **File budget.** Files are held open while the agent's [`FdBudget`] grants
//! [`Holder::Libvirt`] a slot (a quarter of the soft `RLIMIT_NOFILE`, at most
//! [`MAX_LIBVIRT_FILES`](crate::io::MAX_LIBVIRT_FILES)); past it files are read by path as
//! before. Per VM: 2 process files, one `schedstat` per vCPU and up to 7 cgroup v2 files (9 on a
//! v1/v2 hybrid), so 200 domains × 8 vCPUs hold ~3,400–3,800 files. Each open pseudo-file pins
//! its seq_file buffer (a page) in the kernel: ≤ 16 MiB at the cap.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::vm::Role;
use crate::io::{FdBudget, Holder, HostRoot, KeptFile, ReadError};
use crate::sources::cgroup::stats::CgroupStats;
use hvscope_parse::cgroup::{CgroupDir, Hierarchy};
use hvscope_parse::cpuset::CpuSet;
use hvscope_parse::libvirt::model::Domain;
use hvscope_parse::proc::pressure::{self, Pressure};

/// Why a read through a [`Slot`] gave no text.
#[derive(Debug)]
pub(super) enum Miss {
    /// The file does not exist (or its object vanished).
    Gone,
    /// Any other failure (read again next collection).
    Failed(ReadError),
}

/// One file read every collection.
#[derive(Debug, Default)]
pub(super) enum Slot {
    /// Not opened yet (or to be opened again).
    #[default]
    Unopened,
    /// Did not exist when opened: not looked for again while the state lives.
    Absent,
    Kept(KeptFile),
}

impl Slot {
    pub fn open_files(&self) -> usize {
        usize::from(matches!(self, Self::Kept(k) if k.is_open()))
    }

    /// The file's text, through the kept handle, or opened by `rel` (called only then). A kept
    /// handle that fails is dropped (its slot given back to `fds`) and the path opened once
    /// more.
    pub fn read<'b>(
        &mut self,
        root: &HostRoot,
        rel: impl FnOnce() -> PathBuf,
        fds: &FdBudget,
        buf: &'b mut Vec<u8>,
    ) -> Result<&'b str, Miss> {
        let n = self.read_len(root, rel, fds, buf)?;
        // `read_len` checked the text is UTF-8.
        std::str::from_utf8(&buf[..n]).map_err(|_| Miss::Gone)
    }

    fn read_len(
        &mut self,
        root: &HostRoot,
        rel: impl FnOnce() -> PathBuf,
        fds: &FdBudget,
        buf: &mut Vec<u8>,
    ) -> Result<usize, Miss> {
        match self {
            Self::Absent => return Err(Miss::Gone),
            Self::Kept(k) => match k.read(buf) {
                Ok(t) => return Ok(t.len()),
                // Closed here, before the path is opened again.
                Err(_) => *self = Self::Unopened,
            },
            Self::Unopened => {}
        }
        match root.keep(rel(), fds, Holder::Libvirt) {
            Ok(k) => {
                let n = k.read(buf).map(str::len).map_err(miss)?;
                *self = Self::Kept(k);
                Ok(n)
            }
            Err(ReadError::Gone { .. }) => {
                *self = Self::Absent;
                Err(Miss::Gone)
            }
            Err(e) => Err(Miss::Failed(e)),
        }
    }
}

fn miss(e: ReadError) -> Miss {
    match e {
        ReadError::Gone { .. } => Miss::Gone,
        e => Miss::Failed(e),
    }
}

/// One listed QEMU thread.
#[derive(Debug, Clone)]
pub(super) struct Task {
    pub tid: u32,
    pub role: Role,
    pub comm: Arc<str>,
    /// The affinity mask last returned by `sched_getaffinity` and its CPU set (converted again
    /// only when the mask changes).
    pub affinity: Option<(nix::sched::CpuSet, CpuSet)>,
}

/// The QEMU threads as last listed.
#[derive(Debug, Default)]
pub(super) struct Tasks {
    /// The process's thread count when listed (`None`: unknown, list every time).
    pub count: Option<u64>,
    pub tasks: Vec<Task>,
}

impl Tasks {
    /// Whether the listing still holds for a process now counting `count` threads (the
    /// threads' liveness is checked as they are read).
    pub fn holds(&self, count: Option<u64>) -> bool {
        count.is_some() && self.count == count
    }

    /// The name of `tid` when it was listed before (thread names are read once per thread).
    pub fn comm(&self, tid: u32) -> Option<Arc<str>> {
        self.tasks
            .binary_search_by_key(&tid, |t| t.tid)
            .ok()
            .map(|i| self.tasks[i].comm.clone())
    }
}

/// The domain's cgroup directories and their control files.
#[derive(Debug, Default)]
pub(super) struct CgroupFiles {
    pub dirs: Vec<CgroupDir>,
    files: Vec<(usize, &'static str, Slot)>,
    /// The last collection's pressure readings (cpu, memory, io), reported again while the
    /// host's total of that resource stands still.
    psi: [Option<Pressure>; 3],
}

impl CgroupFiles {
    pub fn new(dirs: Vec<CgroupDir>) -> Self {
        Self {
            dirs,
            files: Vec::new(),
            psi: [None; 3],
        }
    }

    pub fn open_files(&self) -> usize {
        self.files.iter().map(|(_, _, s)| s.open_files()).sum()
    }

    /// The v2 directory, if the domain has one.
    pub fn v2_dir(&self) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.hierarchy == Hierarchy::V2)
            .map(|d| d.dir.as_path())
    }

    fn read<'b>(
        &mut self,
        dir: usize,
        file: &'static str,
        root: &HostRoot,
        fds: &FdBudget,
        buf: &'b mut Vec<u8>,
    ) -> Option<&'b str> {
        let i = match self
            .files
            .iter()
            .position(|(d, f, _)| *d == dir && *f == file)
        {
            Some(i) => i,
            None => {
                self.files.push((dir, file, Slot::Unopened));
                self.files.len() - 1
            }
        };
        let path = &self.dirs[dir].dir;
        self.files[i]
            .2
            .read(root, || path.join(file), fds, buf)
            .ok()
    }

    /// The `some` total (µs) of the v2 directory's `memory.pressure`.
    pub fn memory_stall_us(
        &mut self,
        root: &HostRoot,
        fds: &FdBudget,
        buf: &mut Vec<u8>,
    ) -> Option<u64> {
        let v2 = self
            .dirs
            .iter()
            .position(|d| d.hierarchy == Hierarchy::V2)?;
        let text = self.read(v2, "memory.pressure", root, fds, buf)?;
        pressure::some_total_us(text).ok()
    }

    /// The domain cgroup's figures: from the v2 directory first (one directory holds everything
    /// where its controllers are enabled), then only the v1 files for what v2 lacked — a dozen
    /// small reads per VM, not every control file of every hierarchy. A pressure file whose
    /// resource is `quiet` (cpu, memory, io: the host's PSI total stood still since the last
    /// collection, which read this one too) is not read: its last reading still holds, totals
    /// exactly (the averages are the last read's).
    pub fn stats(
        &mut self,
        root: &HostRoot,
        fds: &FdBudget,
        buf: &mut Vec<u8>,
        quiet: [bool; 3],
    ) -> Option<CgroupStats> {
        use hvscope_parse::cgroup::stats::{
            parse_blkio_service_bytes, parse_flat_keyed, parse_io_stat, parse_limit,
        };
        use hvscope_parse::sys::parse_u64;
        let v1 = |ctrl: &str| {
            self.dirs.iter().position(
                |d| matches!(&d.hierarchy, Hierarchy::V1(c) if c.iter().any(|x| x == ctrl)),
            )
        };
        let (cpuacct, cpu, memory, blkio) = (v1("cpuacct"), v1("cpu"), v1("memory"), v1("blkio"));
        let v2 = self.dirs.iter().position(|d| d.hierarchy == Hierarchy::V2);
        let key = |kv: &[(String, u64)], k: &str| kv.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        let mut s = CgroupStats::default();
        if let Some(d) = v2 {
            if let Some(kv) = self
                .read(d, "cpu.stat", root, fds, buf)
                .and_then(|t| parse_flat_keyed(t).ok())
            {
                s.cpu_usage_seconds = key(&kv, "usage_usec").map(|v| v as f64 / 1e6);
                s.cpu_throttled_seconds = key(&kv, "throttled_usec").map(|v| v as f64 / 1e6);
                s.cpu_throttled_periods = key(&kv, "nr_throttled");
            }
            s.memory_bytes = self
                .read(d, "memory.current", root, fds, buf)
                .and_then(|t| parse_u64(t).ok());
            if s.memory_bytes.is_some() {
                s.memory_limit_bytes = self
                    .read(d, "memory.max", root, fds, buf)
                    .and_then(|t| parse_limit(t).ok())
                    .flatten();
            }
            if let Some((r, w)) = self
                .read(d, "io.stat", root, fds, buf)
                .and_then(|t| parse_io_stat(t).ok())
            {
                (s.io_read_bytes, s.io_written_bytes) = (Some(r), Some(w));
            }
            let files = ["cpu.pressure", "memory.pressure", "io.pressure"];
            for (r, file) in files.into_iter().enumerate() {
                if !(quiet[r] && self.psi[r].is_some()) {
                    self.psi[r] = self
                        .read(d, file, root, fds, buf)
                        .and_then(|t| pressure::parse(t).ok());
                }
            }
            [s.cpu_pressure, s.memory_pressure, s.io_pressure] = self.psi;
        }
        if s.cpu_usage_seconds.is_none()
            && let Some(d) = cpuacct
        {
            s.cpu_usage_seconds = self
                .read(d, "cpuacct.usage", root, fds, buf)
                .and_then(|t| parse_u64(t).ok())
                .map(|ns| ns as f64 / 1e9);
        }
        if s.cpu_throttled_periods.is_none()
            && let Some(kv) = cpu
                .and_then(|d| self.read(d, "cpu.stat", root, fds, buf))
                .and_then(|t| parse_flat_keyed(t).ok())
        {
            s.cpu_throttled_seconds = key(&kv, "throttled_time").map(|v| v as f64 / 1e9);
            s.cpu_throttled_periods = key(&kv, "nr_throttled");
        }
        if s.memory_bytes.is_none()
            && let Some(d) = memory
        {
            s.memory_bytes = self
                .read(d, "memory.usage_in_bytes", root, fds, buf)
                .and_then(|t| parse_u64(t).ok());
            s.memory_limit_bytes = self
                .read(d, "memory.limit_in_bytes", root, fds, buf)
                .and_then(|t| parse_limit(t).ok())
                .flatten();
        }
        if s.io_read_bytes.is_none()
            && let Some((r, w)) = blkio
                .and_then(|d| self.read(d, "blkio.throttle.io_service_bytes", root, fds, buf))
                .and_then(|t| parse_blkio_service_bytes(t).ok())
        {
            (s.io_read_bytes, s.io_written_bytes) = (Some(r), Some(w));
        }
        (s != CgroupStats::default()).then_some(s)
    }
}

/// What is kept of one VM; valid for one parse of its status file.
#[derive(Debug)]
pub(super) struct VmState {
    pub domain: Arc<Domain>,
    /// The domain's UUID, shared with the SLI samples (made once per state, not per sample).
    pub uuid: Arc<str>,
    pub stat: Slot,
    pub status: Slot,
    /// Each vCPU thread's `schedstat`, in the order of `domain.vcpu_threads`.
    pub schedstat: Vec<(u32, Slot)>,
    /// `None` until located (`/proc/<pid>/cgroup` read once).
    pub cgroup: Option<CgroupFiles>,
    pub tasks: Tasks,
    /// The `some` total (µs) of the cgroup's `memory.pressure` at the last SLI sample or
    /// collection that read it (see [`LibvirtSource::sample`](super::LibvirtSource::sample)).
    pub memory_stall_us: Option<u64>,
    /// Σ vCPU `schedstat` wait (ns) as the last collection read it, until an SLI sample takes
    /// it ([`LibvirtSource::collected_sample`](super::LibvirtSource::collected_sample)).
    pub collected_wait_ns: Option<u64>,
}

impl VmState {
    pub fn new(domain: Arc<Domain>) -> Self {
        let schedstat = domain
            .vcpu_threads
            .values()
            .map(|&tid| (tid, Slot::Unopened))
            .collect();
        Self {
            uuid: Arc::from(domain.uuid.as_str()),
            domain,
            stat: Slot::Unopened,
            status: Slot::Unopened,
            schedstat,
            cgroup: None,
            tasks: Tasks::default(),
            memory_stall_us: None,
            collected_wait_ns: None,
        }
    }

    pub fn open_files(&self) -> usize {
        self.stat.open_files()
            + self.status.open_files()
            + self
                .schedstat
                .iter()
                .map(|(_, s)| s.open_files())
                .sum::<usize>()
            + self.cgroup.as_ref().map_or(0, CgroupFiles::open_files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(tag: &str) -> (PathBuf, HostRoot) {
        let dir = std::env::temp_dir().join(format!("hvscope-kept-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let r = HostRoot::new(&dir);
        (dir, r)
    }

    #[test]
    fn absent_files_are_not_looked_for_again_until_the_state_is_dropped() {
        let (dir, root) = tree("absent");
        let fds = FdBudget::with_caps([(Holder::Libvirt, 10)]);
        let mut buf = Vec::new();
        let mut slot = Slot::default();
        assert!(matches!(
            slot.read(&root, || "f".into(), &fds, &mut buf),
            Err(Miss::Gone)
        ));
        assert!(matches!(slot, Slot::Absent));
        std::fs::write(dir.join("f"), "1\n").unwrap();
        // Still absent for this slot (a new state looks again).
        assert!(slot.read(&root, || "f".into(), &fds, &mut buf).is_err());
        let mut fresh = Slot::default();
        assert_eq!(
            fresh.read(&root, || "f".into(), &fds, &mut buf).unwrap(),
            "1\n"
        );
        // Below a fixture tree the file is held open too, under the budget.
        assert_eq!((fresh.open_files(), fds.held(Holder::Libvirt)), (1, 1));
        // Rewritten in place: read anew through the kept file.
        std::fs::write(dir.join("f"), "2\n").unwrap();
        assert_eq!(
            fresh.read(&root, || "f".into(), &fds, &mut buf).unwrap(),
            "2\n"
        );
        // Removed while kept: gone, and absent from then on.
        std::fs::remove_file(dir.join("f")).unwrap();
        assert!(fresh.read(&root, || "f".into(), &fds, &mut buf).is_err());
        assert!(matches!(fresh, Slot::Absent));
        assert_eq!(fds.held(Holder::Libvirt), 0, "its slot was given back");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn live_slots_hold_files_within_the_budget_and_reopen_after_a_failed_read() {
        let root = HostRoot::default();
        let mut buf = Vec::new();
        let fds = FdBudget::with_caps([(Holder::Libvirt, 1)]);
        let (mut a, mut b) = (Slot::default(), Slot::default());
        let rel = || PathBuf::from("proc/self/stat");
        assert!(a.read(&root, rel, &fds, &mut buf).is_ok());
        assert!(b.read(&root, rel, &fds, &mut buf).is_ok());
        // The first took the last fd of the budget; the second reads by path.
        assert_eq!(
            (a.open_files(), b.open_files(), fds.held(Holder::Libvirt)),
            (1, 0, 1)
        );
        // A kept file of a thread that exits fails; the slot then opens the path again, which
        // is gone too: absent, and its fd returned to the budget.
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            let me = std::fs::read_link("/proc/thread-self").unwrap();
            let tid: u32 = me.file_name().unwrap().to_str().unwrap().parse().unwrap();
            tx.send(tid).unwrap();
            let _ = done_rx.recv();
        });
        let tid = rx.recv().unwrap();
        let fds = FdBudget::with_caps([(Holder::Libvirt, 1)]);
        let mut c = Slot::default();
        let rel = || PathBuf::from(format!("proc/self/task/{tid}/schedstat"));
        assert!(c.read(&root, rel, &fds, &mut buf).is_ok());
        assert_eq!((c.open_files(), fds.held(Holder::Libvirt)), (1, 1));
        done_tx.send(()).unwrap();
        t.join().unwrap();
        // The join returns once the kernel cleared the thread's tid, which is before the task
        // is released and leaves /proc: wait for that.
        let task = std::path::Path::new("/proc/self/task").join(tid.to_string());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while task.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(matches!(
            c.read(&root, rel, &fds, &mut buf),
            Err(Miss::Gone)
        ));
        assert_eq!((c.open_files(), fds.held(Holder::Libvirt)), (0, 0));
    }

    #[test]
    fn a_listing_holds_only_for_a_known_unchanged_thread_count() {
        let t = Tasks {
            count: Some(3),
            tasks: vec![
                Task {
                    tid: 10,
                    role: Role::Emulator,
                    comm: "qemu".into(),
                    affinity: None,
                },
                Task {
                    tid: 12,
                    role: Role::Vcpu(0),
                    comm: "CPU 0/KVM".into(),
                    affinity: None,
                },
            ],
        };
        assert!(t.holds(Some(3)));
        assert!(!t.holds(Some(4)));
        assert!(!t.holds(None));
        assert!(!Tasks::default().holds(Some(3)));
        assert_eq!(t.comm(12).as_deref(), Some("CPU 0/KVM"));
        assert_eq!(t.comm(11), None);
    }
}
