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
use crate::sources::SourceError;
use crate::sources::proc::{pidstat, pidstatus, schedstat, schedstat::SchedStat};

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
    pub fn collect(&mut self, root: &HostRoot, errors: &mut Vec<SourceError>) -> Libvirt {
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
            match self.vm(root, domain, pid) {
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
    fn vm(&mut self, root: &HostRoot, domain: Arc<Domain>, pid: u32) -> Result<Option<Vm>, String> {
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
            let sched = root
                .read_string(format!("proc/{pid}/task/{tid}/schedstat"))
                .ok()
                .and_then(|t| schedstat::parse(&t).ok());
            threads.push(Thread {
                tid,
                role,
                comm: comm.to_string(),
                affinity,
                sched,
            });
        }
        Ok(Some(Vm {
            domain,
            threads,
            rss_bytes: status.vm_rss_bytes,
            swap_bytes: status.vm_swap_bytes,
            cpu_seconds,
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
