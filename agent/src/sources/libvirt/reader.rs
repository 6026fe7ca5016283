//! Reads running domains below the host root: the status files of `run/libvirt/qemu/` (parsed
//! again only when a file changes), then each domain's QEMU process and threads from `/proc`:
//! which thread is which vCPU, emulator or I/O thread, where it may run, its scheduler
//! statistics. One unreadable or half-written status file affects that domain only; a domain
//! that vanishes between listing and reading is skipped quietly.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use tracing::debug;

use super::model::Domain;
use super::novaconf::{self, NovaCpuSets};
use super::xml;
use crate::cpuset::CpuSet;
use crate::host_root::{HostRoot, ReadError};
use crate::sli::VmSample;
use crate::sources::SourceError;
use crate::sources::cgroup::{self, CgroupMounts, Hierarchy, stats::CgroupStats};
use crate::sources::proc::mounts::Mount;
use crate::sources::proc::{pidstat, pidstatus, pressure, schedstat, schedstat::SchedStat};

/// What a QEMU thread is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "role", content = "id", rename_all = "lowercase")]
pub enum Role {
    /// vCPU N (from `<domstatus><vcpus>`).
    Vcpu(u32),
    /// Emulator thread (main loop, RCU, monitor I/O…).
    Emulator,
    /// `<iothread id=N>` (comm `IO iothreadN`).
    IoThread(u32),
    /// KVM kernel helper threads listed under the process (`kvm-nx-lpage-re`, `kvm-pit/…`):
    /// not pinned by libvirt, never checked.
    Kernel,
}

/// One thread of a domain's QEMU process.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Thread {
    pub tid: u32,
    pub role: Role,
    pub comm: String,
    /// CPUs the thread may run on (`Cpus_allowed_list`), when it could be read.
    pub affinity: Option<CpuSet>,
    pub sched: Option<SchedStat>,
}

/// A running domain with what `/proc` says about its process.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vm {
    pub domain: Arc<Domain>,
    pub threads: Vec<Thread>,
    pub rss_bytes: Option<u64>,
    pub swap_bytes: Option<u64>,
    /// User + system CPU seconds of the whole QEMU process.
    pub cpu_seconds: Option<f64>,
    /// The domain cgroup's figures (first readable value per field over its hierarchies).
    pub cgroup: Option<CgroupStats>,
    /// The domain's cgroup v2 directory (host path below the root), for PSI sampling.
    #[serde(skip)]
    pub cgroup_v2_dir: Option<std::path::PathBuf>,
}

impl Vm {
    /// What the SLI sampler needs to read this VM between collections.
    pub fn sli_target(&self) -> SliTarget {
        SliTarget {
            uuid: Arc::from(self.domain.uuid.as_str()),
            pid: self.domain.pid.unwrap_or(0),
            vcpus: self.domain.vcpus,
            vcpu_tids: self.domain.vcpu_threads.values().copied().collect(),
            cgroup_v2_dir: self.cgroup_v2_dir.clone(),
        }
    }
}

/// One VM as the 1 s SLI sampler reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct SliTarget {
    pub uuid: Arc<str>,
    pub pid: u32,
    pub vcpus: u32,
    pub vcpu_tids: Vec<u32>,
    pub cgroup_v2_dir: Option<std::path::PathBuf>,
}

/// Reads one SLI sample of each target: Σ vCPU schedstat wait and the cgroup's memory PSI.
/// A target whose threads cannot be read (the VM is stopping) is left out.
pub fn sample(root: &HostRoot, targets: &[SliTarget]) -> Vec<VmSample> {
    let mut out = Vec::with_capacity(targets.len());
    'vm: for t in targets {
        let mut wait = 0u64;
        for tid in &t.vcpu_tids {
            match root
                .read_string(format!("proc/{}/task/{tid}/schedstat", t.pid))
                .ok()
                .and_then(|s| schedstat::parse(&s).ok())
            {
                Some(s) => wait = wait.saturating_add(s.wait_ns),
                None => continue 'vm,
            }
        }
        let memory_stall_us = t.cgroup_v2_dir.as_ref().and_then(|d| {
            let text = root.read_string(d.join("memory.pressure")).ok()?;
            let p = pressure::parse(&text).ok()?;
            Some((p.some.total_seconds * 1e6).round() as u64)
        });
        out.push(VmSample {
            uuid: t.uuid.clone(),
            vcpus: t.vcpus,
            vcpu_wait_ns: wait,
            memory_stall_us,
        });
    }
    out
}

/// Reads the domain's cgroup figures: from the v2 directory first (one directory holds
/// everything where its controllers are enabled), then only the v1 files for what v2 lacked —
/// a dozen small reads per VM, not every control file of every hierarchy.
fn read_cgroups(root: &HostRoot, dirs: &[cgroup::CgroupDir]) -> Option<CgroupStats> {
    use crate::sources::sys::parse_u64;
    use cgroup::stats::{parse_blkio_service_bytes, parse_flat_keyed, parse_io_stat, parse_limit};
    let read = |dir: &std::path::Path, file: &str| root.read_string(dir.join(file)).ok();
    let v1 = |ctrl: &str| {
        dirs.iter()
            .find(|d| matches!(&d.hierarchy, Hierarchy::V1(c) if c.iter().any(|x| x == ctrl)))
    };
    let key = |kv: &[(String, u64)], k: &str| kv.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    let mut s = CgroupStats::default();
    if let Some(d) = dirs.iter().find(|d| d.hierarchy == Hierarchy::V2) {
        if let Some(kv) = read(&d.dir, "cpu.stat").and_then(|t| parse_flat_keyed(&t).ok()) {
            s.cpu_usage_seconds = key(&kv, "usage_usec").map(|v| v as f64 / 1e6);
            s.cpu_throttled_seconds = key(&kv, "throttled_usec").map(|v| v as f64 / 1e6);
            s.cpu_throttled_periods = key(&kv, "nr_throttled");
        }
        s.memory_bytes = read(&d.dir, "memory.current").and_then(|t| parse_u64(&t).ok());
        if s.memory_bytes.is_some() {
            s.memory_limit_bytes = read(&d.dir, "memory.max")
                .and_then(|t| parse_limit(&t).ok())
                .flatten();
        }
        if let Some((r, w)) = read(&d.dir, "io.stat").and_then(|t| parse_io_stat(&t).ok()) {
            (s.io_read_bytes, s.io_written_bytes) = (Some(r), Some(w));
        }
        let psi = |f| read(&d.dir, f).and_then(|t| pressure::parse(&t).ok());
        s.cpu_pressure = psi("cpu.pressure");
        s.memory_pressure = psi("memory.pressure");
        s.io_pressure = psi("io.pressure");
    }
    if s.cpu_usage_seconds.is_none()
        && let Some(d) = v1("cpuacct")
    {
        s.cpu_usage_seconds = read(&d.dir, "cpuacct.usage")
            .and_then(|t| parse_u64(&t).ok())
            .map(|ns| ns as f64 / 1e9);
    }
    if s.cpu_throttled_periods.is_none()
        && let Some(kv) = v1("cpu")
            .and_then(|d| read(&d.dir, "cpu.stat"))
            .and_then(|t| parse_flat_keyed(&t).ok())
    {
        s.cpu_throttled_seconds = key(&kv, "throttled_time").map(|v| v as f64 / 1e9);
        s.cpu_throttled_periods = key(&kv, "nr_throttled");
    }
    if s.memory_bytes.is_none()
        && let Some(d) = v1("memory")
    {
        s.memory_bytes = read(&d.dir, "memory.usage_in_bytes").and_then(|t| parse_u64(&t).ok());
        s.memory_limit_bytes = read(&d.dir, "memory.limit_in_bytes")
            .and_then(|t| parse_limit(&t).ok())
            .flatten();
    }
    if s.io_read_bytes.is_none()
        && let Some((r, w)) = v1("blkio")
            .and_then(|d| read(&d.dir, "blkio.throttle.io_service_bytes"))
            .and_then(|t| parse_blkio_service_bytes(&t).ok())
    {
        (s.io_read_bytes, s.io_written_bytes) = (Some(r), Some(w));
    }
    (s != CgroupStats::default()).then_some(s)
}

/// The libvirt part of a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Libvirt {
    /// `run/libvirt/qemu` exists (libvirt's QEMU driver has run on this host).
    pub present: bool,
    pub vms: Vec<Vm>,
    /// Nova's CPU sets from `etc/nova/nova.conf`, when the file exists.
    pub nova: Option<NovaCpuSets>,
}

type Stamp = (SystemTime, u64);

/// State kept between collections: parsed status files and thread names.
#[derive(Debug, Default)]
pub struct LibvirtSource {
    parsed: HashMap<String, (Stamp, Arc<Domain>)>,
    comms: HashMap<(u32, u32), Arc<str>>,
}

/// Most status files considered (bounds work on a broken host).
const MAX_DOMAINS: usize = 4096;
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

impl LibvirtSource {
    /// Reads every running domain below `root`.
    pub fn collect(
        &mut self,
        root: &HostRoot,
        mounts: Option<&[Mount]>,
        errors: &mut Vec<SourceError>,
    ) -> Libvirt {
        let cg_mounts = mounts.map(CgroupMounts::from_mounts).unwrap_or_default();
        let mut out = Libvirt::default();
        match root.read_string("etc/nova/nova.conf") {
            Ok(t) => match novaconf::parse(&t) {
                Ok(n) => out.nova = Some(n),
                Err(e) => errors.push(SourceError::new("nova.conf", e)),
            },
            Err(ReadError::Gone { .. }) => {}
            Err(e) => errors.push(SourceError::new("nova.conf", e)),
        }
        let dir = root.path("run/libvirt/qemu");
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.parsed.clear();
                return out;
            }
            Err(e) => {
                errors.push(SourceError::new(
                    "libvirt",
                    format!("{}: {e}", dir.display()),
                ));
                return out;
            }
        };
        out.present = true;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| n.strip_suffix(".xml").map(str::to_owned))
            .take(MAX_DOMAINS)
            .collect();
        names.sort();
        self.parsed.retain(|k, _| names.binary_search(k).is_ok());
        let mut live_pids = Vec::new();
        for name in names {
            let Some(domain) = self.domain(root, &name, errors) else {
                continue;
            };
            if domain.state != "running" && domain.state != "paused" {
                continue;
            }
            let Some(pid) = domain.pid else { continue };
            live_pids.push(pid);
            match self.vm(root, domain, pid, &cg_mounts) {
                Ok(Some(vm)) => out.vms.push(vm),
                Ok(None) => debug!(domain = %name, "qemu process vanished while reading"),
                Err(e) => errors.push(SourceError::new(format!("libvirt.domain/{name}"), e)),
            }
        }
        self.comms.retain(|(pid, _), _| live_pids.contains(pid));
        out
    }

    fn domain(
        &mut self,
        root: &HostRoot,
        name: &str,
        errors: &mut Vec<SourceError>,
    ) -> Option<Arc<Domain>> {
        let rel = format!("run/libvirt/qemu/{name}.xml");
        let path = root.path(&rel);
        let meta = std::fs::metadata(&path).ok()?; // vanished: skip quietly
        let stamp: Stamp = (
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            meta.len(),
        );
        if let Some((s, d)) = self.parsed.get(name)
            && *s == stamp
        {
            return Some(d.clone());
        }
        let text = match root.read_string(&rel) {
            Ok(t) => t,
            Err(ReadError::Gone { .. }) => return None,
            Err(e) => {
                errors.push(SourceError::new(format!("libvirt.domain/{name}"), e));
                return None;
            }
        };
        match xml::parse_status(&text) {
            Ok(d) => {
                let d = Arc::new(d);
                self.parsed.insert(name.to_owned(), (stamp, d.clone()));
                Some(d)
            }
            Err(e) => {
                // libvirt rewrites these files while domains start, stop and migrate.
                self.parsed.remove(name);
                errors.push(SourceError::new(
                    format!("libvirt.domain/{name}"),
                    format!("{}: {e}", path.display()),
                ));
                None
            }
        }
    }

    /// `Ok(None)`: the process is gone.
    fn vm(
        &mut self,
        root: &HostRoot,
        domain: Arc<Domain>,
        pid: u32,
        cg_mounts: &CgroupMounts,
    ) -> Result<Option<Vm>, String> {
        let status = match root.read_string(format!("proc/{pid}/status")) {
            Ok(t) => pidstatus::parse(&t).map_err(|e| format!("proc/{pid}/status: {e}"))?,
            Err(ReadError::Gone { .. }) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let cpu_seconds = root
            .read_string(format!("proc/{pid}/stat"))
            .ok()
            .and_then(|t| pidstat::cpu_seconds(&t).ok());
        let vcpu_of: HashMap<u32, u32> =
            domain.vcpu_threads.iter().map(|(v, t)| (*t, *v)).collect();
        let task_dir = root.path(format!("proc/{pid}/task"));
        let mut tids: Vec<u32> = match std::fs::read_dir(&task_dir) {
            Ok(d) => d
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .take(MAX_THREADS)
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", task_dir.display())),
        };
        tids.sort_unstable();
        let live = root.is_live();
        let mut threads = Vec::with_capacity(tids.len());
        for tid in tids {
            let comm = match self.comms.get(&(pid, tid)) {
                Some(c) => c.clone(),
                None => {
                    let Ok(c) = root.read_string(format!("proc/{pid}/task/{tid}/comm")) else {
                        continue; // thread exited
                    };
                    let c: Arc<str> = Arc::from(c.trim_end_matches('\n'));
                    self.comms.insert((pid, tid), c.clone());
                    c
                }
            };
            let role = role_of(tid, &comm, &vcpu_of);
            if role == Role::Kernel {
                threads.push(Thread {
                    tid,
                    role,
                    comm: comm.to_string(),
                    affinity: None,
                    sched: None,
                });
                continue;
            }
            let affinity = if live {
                live_affinity(tid)
            } else {
                root.read_string(format!("proc/{pid}/task/{tid}/status"))
                    .ok()
                    .and_then(|t| pidstatus::parse(&t).ok())
                    .and_then(|s| s.cpus_allowed)
            };
            // Scheduler statistics are exported per vCPU only; other threads need affinity.
            let sched = matches!(role, Role::Vcpu(_))
                .then(|| {
                    root.read_string(format!("proc/{pid}/task/{tid}/schedstat"))
                        .ok()
                })
                .flatten()
                .and_then(|t| schedstat::parse(&t).ok());
            threads.push(Thread {
                tid,
                role,
                comm: comm.to_string(),
                affinity,
                sched,
            });
        }
        let dirs = cgroup::locate_domain(root, pid, cg_mounts)
            .ok()
            .flatten()
            .map(|d| d.dirs)
            .unwrap_or_default();
        let cgroup_v2_dir = dirs
            .iter()
            .find(|d| d.hierarchy == Hierarchy::V2)
            .map(|d| d.dir.clone());
        Ok(Some(Vm {
            domain,
            threads,
            rss_bytes: status.vm_rss_bytes,
            swap_bytes: status.vm_swap_bytes,
            cpu_seconds,
            cgroup: read_cgroups(root, &dirs),
            cgroup_v2_dir,
        }))
    }
}

/// `sched_getaffinity(tid)`: one syscall instead of reading and parsing a status file.
fn live_affinity(tid: u32) -> Option<CpuSet> {
    let tid = i32::try_from(tid).ok()?;
    let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(tid)).ok()?;
    let n = nix::sched::CpuSet::count();
    Some(CpuSet::of(
        (0..n)
            .filter(|&i| set.is_set(i).unwrap_or(false))
            .map(|i| i as u32),
    ))
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
