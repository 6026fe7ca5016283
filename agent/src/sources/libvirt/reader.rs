//! Reads running domains below the host root: the status files of `run/libvirt/qemu/` (looked at
//! again only when inotify says they were written, parsed again only when they changed), then
//! each domain's QEMU process and threads from `/proc` (`process.rs`): which
//! thread is which vCPU, emulator or I/O thread, where it may run, its scheduler statistics. One
//! unreadable or half-written status file affects that domain only; a domain that vanishes
//! between listing and reading is skipped quietly.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use tracing::debug;

use super::process::Reading;
use super::state::{Slot, VmState};
use super::vm::{Libvirt, VmSample};
use crate::io::{Changes, DirWatch, FdBudget, FileStamp, HostRoot, REFRESH, ReadError};
use crate::sources::{Context, Source, SourceError};
use hvscope_parse::cgroup::CgroupMounts;
use hvscope_parse::libvirt::model::Domain;
use hvscope_parse::libvirt::novaconf::{self, NovaCpuSets};
use hvscope_parse::libvirt::xml;
use hvscope_parse::proc::mounts::Mount;
use hvscope_parse::proc::schedstat;

/// State kept between collections: parsed status files, and per running VM its kept files,
/// cgroup location and thread listing (`state.rs`).
#[derive(Debug)]
pub struct LibvirtSource {
    parsed: HashMap<String, (FileStamp, Arc<Domain>)>,
    /// The VMs read at the last collection, by domain name.
    vms: BTreeMap<String, VmState>,
    nova: Option<(FileStamp, Result<NovaCpuSets, String>)>,
    cycle: u64,
    /// Scratch buffer of the reads.
    buf: Vec<u8>,
    /// `proc/swaps`, to know whether the host has swap at all.
    swaps: Slot,
    page_size: Option<u64>,
    /// Which status files changed since the last collection ([`DirWatch`]), and the last
    /// listing of their directory.
    watch: Option<DirWatch>,
    names: Option<Vec<String>>,
    /// The host's PSI `some` totals at the last collection ([`Context::host_psi`]).
    host_psi: Option<[f64; 3]>,
}

impl Default for LibvirtSource {
    fn default() -> Self {
        Self::new()
    }
}

impl Source for LibvirtSource {
    type Output = Libvirt;
    /// Its unknowns are per domain (`libvirt.domain/<name>`), and `libvirt` for the status
    /// directory: reported through errors and findings, without `source_up` series.
    const PARTS: &'static [&'static str] = &[];

    fn collect(&mut self, cx: &Context<'_>, errors: &mut Vec<SourceError>) -> Libvirt {
        self.read(cx.root, cx.fds, cx.mounts, cx.host_psi, errors)
    }
}

/// Most status files considered (bounds work on a broken host).
const MAX_DOMAINS: usize = 4096;

/// Per resource (cpu, memory, io), whether the host's PSI `some` total is known at both
/// collections and did not move.
fn psi_quiet(before: Option<[f64; 3]>, now: Option<[f64; 3]>) -> [bool; 3] {
    match (before, now) {
        (Some(b), Some(n)) => [0, 1, 2].map(|r| b[r] == n[r]),
        _ => [false; 3],
    }
}
impl LibvirtSource {
    /// A source that has read nothing yet.
    pub fn new() -> Self {
        Self {
            parsed: HashMap::new(),
            vms: BTreeMap::new(),
            nova: None,
            cycle: 0,
            buf: Vec::new(),
            swaps: Slot::default(),
            page_size: nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
                .ok()
                .flatten()
                .and_then(|p| u64::try_from(p).ok()),
            watch: None,
            names: None,
            host_psi: None,
        }
    }

    /// What changed in the status directory `dir` since the last collection, from the inotify
    /// watch (made again whenever it cannot tell; fixture trees are watched alike); every
    /// refresh period ([`REFRESH`]) everything.
    fn status_changes(&mut self, dir: &std::path::Path, revalidate: bool) -> Changes {
        let changes = self.watch.as_ref().map_or(Changes::All, DirWatch::changes);
        if changes == Changes::All {
            // Events from now on; what happened before is looked at in full below.
            self.watch = DirWatch::new(dir, ".xml").ok();
        }
        if revalidate {
            return Changes::All;
        }
        changes
    }

    /// The page size when, on the live host, no swap device is active (`proc/swaps` lists
    /// none): then no process has swap, and a QEMU process's RSS and thread count come from
    /// its `stat` line (read anyway for CPU time) instead of the costlier `status` file.
    fn swapless_page_size(&mut self, root: &HostRoot, fds: &FdBudget) -> Option<u64> {
        if !root.is_live() {
            return None;
        }
        let text = self
            .swaps
            .read(root, || "proc/swaps".into(), fds, &mut self.buf)
            .ok()?;
        no_swap_devices(text).then_some(self.page_size).flatten()
    }

    /// Files held open now.
    pub fn open_files(&self) -> usize {
        self.swaps.open_files() + self.vms.values().map(VmState::open_files).sum::<usize>()
    }

    /// Reads every running domain below `root`, keeping files open within `fds`; `mounts` (the
    /// host's mount table) locates the domains' cgroups. `host_psi` ([`Context::host_psi`]):
    /// for each resource whose host total stands still since the last collection, each VM read
    /// then reports its cgroup's last pressure reading again instead of reading the file.
    pub fn read(
        &mut self,
        root: &HostRoot,
        fds: &FdBudget,
        mounts: Option<&[Mount]>,
        host_psi: Option<[f64; 3]>,
        errors: &mut Vec<SourceError>,
    ) -> Libvirt {
        let psi_quiet = psi_quiet(self.host_psi, host_psi);
        self.host_psi = host_psi;
        // Every VM's kept state is dropped and read anew once per refresh period (the first
        // collection starts one).
        let revalidate = REFRESH.starts_period(self.cycle);
        if revalidate {
            self.vms.clear();
        }
        self.cycle += 1;
        let cg_mounts = mounts.map(CgroupMounts::from_mounts).unwrap_or_default();
        let mut out = Libvirt {
            nova: self.nova(root, errors),
            ..Libvirt::default()
        };
        let dir = root.path("run/libvirt/qemu");
        let changes = self.status_changes(&dir, revalidate);
        let names = match (&changes, self.names.take()) {
            (Changes::Some { listing: false, .. }, Some(names)) => names,
            _ => match list_status_files(&dir) {
                Ok(Some(names)) => names,
                Ok(None) => {
                    self.parsed.clear();
                    self.vms.clear();
                    return out;
                }
                Err(e) => {
                    errors.push(SourceError::new(
                        "libvirt",
                        format!("{}: {e}", dir.display()),
                    ));
                    return out;
                }
            },
        };
        out.present = true;
        self.parsed.retain(|k, _| names.binary_search(k).is_ok());
        let swapless = self.swapless_page_size(root, fds);
        let mut buf = std::mem::take(&mut self.buf);
        let mut vms = BTreeMap::new();
        for name in &names {
            let dirty = match &changes {
                Changes::All => true,
                Changes::Some { names, .. } => names.contains(name),
            };
            let Some(domain) = self.domain(root, name, dirty, errors) else {
                continue;
            };
            if domain.state != "running" && domain.state != "paused" {
                continue;
            }
            let Some(pid) = domain.pid else { continue };
            // The kept state belongs to one parse of the status file (one pid, one vCPU set).
            let (key, mut st) = match self.vms.remove_entry(name.as_str()) {
                Some((key, st)) if Arc::ptr_eq(&st.domain, &domain) => (key, st),
                // A stale state's files are closed (their slots given back) here.
                _ => (name.clone(), VmState::new(domain.clone())),
            };
            let read = Reading {
                root,
                cg_mounts: &cg_mounts,
                fds,
                buf: &mut buf,
                swapless,
                psi_quiet,
            };
            match read.vm(&mut st, pid) {
                Ok(Some(vm)) => {
                    out.vms.push(vm);
                    vms.insert(key, st);
                }
                Ok(None) => {
                    debug!(domain = %name, "qemu process vanished while reading");
                }
                Err(e) => {
                    errors.push(SourceError::new(format!("libvirt.domain/{name}"), e));
                }
            }
        }
        // VMs not seen this time (stopped, status unreadable) close their files here.
        self.vms = vms;
        self.names = Some(names);
        self.buf = buf;
        out
    }

    /// Takes one SLI sample of the VMs read at the last collection: Σ vCPU `schedstat` wait
    /// and the cgroup's memory PSI, through the files kept open by the collection. A VM whose
    /// vCPU threads cannot be read (it is stopping) is left out.
    ///
    /// `memory_quiet`: the host's memory PSI `some` total has not moved since the previous
    /// sample ([`crate::sli::memory_quiet`]). No task anywhere stalled on memory, so no VM
    /// cgroup's total moved either: each VM's last read total is reported again instead of
    /// reading its `memory.pressure` (the most expensive file of the sample: the kernel sums
    /// the per-CPU PSI state on every read). A VM never read yet is read.
    ///
    /// The samples replace the contents of `out`, which the caller keeps between samples: in
    /// steady state (every file kept open, `out` grown to the VM count) a sample allocates
    /// nothing.
    pub fn sample(
        &mut self,
        root: &HostRoot,
        fds: &FdBudget,
        memory_quiet: bool,
        out: &mut Vec<VmSample>,
    ) {
        let buf = &mut self.buf;
        out.clear();
        'vm: for st in self.vms.values_mut() {
            let pid = st.domain.pid.unwrap_or(0);
            let mut wait = 0u64;
            for (tid, slot) in &mut st.schedstat {
                let rel = || PathBuf::from(format!("proc/{pid}/task/{tid}/schedstat"));
                match slot
                    .read(root, rel, fds, buf)
                    .ok()
                    .and_then(|t| schedstat::parse(t).ok())
                {
                    Some(s) => wait = wait.saturating_add(s.wait_ns),
                    None => continue 'vm,
                }
            }
            let memory_stall_us = match st.memory_stall_us {
                Some(last) if memory_quiet => Some(last),
                _ => st
                    .cgroup
                    .as_mut()
                    .and_then(|c| c.memory_stall_us(root, fds, buf)),
            };
            st.memory_stall_us = memory_stall_us;
            out.push(VmSample {
                uuid: st.uuid.clone(),
                vcpus: st.domain.vcpus,
                vcpu_wait_ns: wait,
                memory_stall_us,
            });
        }
    }

    /// The SLI sample of the collection just made, from what it read (each vCPU's
    /// `schedstat`, the cgroup's memory PSI): the sample taken at a collection tick costs no
    /// read of its own. Replaces the contents of `out`; a VM is in it once per collection.
    pub fn collected_sample(&mut self, out: &mut Vec<VmSample>) {
        out.clear();
        for st in self.vms.values_mut() {
            if let Some(wait) = st.collected_wait_ns.take() {
                out.push(VmSample {
                    uuid: st.uuid.clone(),
                    vcpus: st.domain.vcpus,
                    vcpu_wait_ns: wait,
                    memory_stall_us: st.memory_stall_us,
                });
            }
        }
    }

    /// Nova's CPU sets, parsed again only when `etc/nova/nova.conf` changed.
    fn nova(&mut self, root: &HostRoot, errors: &mut Vec<SourceError>) -> Option<NovaCpuSets> {
        let path = root.path("etc/nova/nova.conf");
        let stamp = match std::fs::metadata(&path) {
            Ok(m) => FileStamp::of(&m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.nova = None;
                return None;
            }
            Err(e) => {
                self.nova = None;
                errors.push(SourceError::new(
                    "nova.conf",
                    format!("{}: {e}", path.display()),
                ));
                return None;
            }
        };
        if self.nova.as_ref().is_none_or(|(s, _)| *s != stamp) {
            let parsed = match root.read_string("etc/nova/nova.conf") {
                Ok(t) => novaconf::parse(&t),
                Err(ReadError::Gone { .. }) => return None,
                Err(e) => Err(e.to_string()),
            };
            self.nova = Some((stamp, parsed));
        }
        match &self.nova {
            Some((_, Ok(n))) => Some(n.clone()),
            Some((_, Err(e))) => {
                errors.push(SourceError::new("nova.conf", e));
                None
            }
            None => None,
        }
    }

    /// The parsed status file of domain `name`: the last parse unless the file may have
    /// changed (`dirty`) and its stamp did.
    fn domain(
        &mut self,
        root: &HostRoot,
        name: &str,
        dirty: bool,
        errors: &mut Vec<SourceError>,
    ) -> Option<Arc<Domain>> {
        if !dirty && let Some((_, d)) = self.parsed.get(name) {
            return Some(d.clone());
        }
        let rel = format!("run/libvirt/qemu/{name}.xml");
        let path = root.path(&rel);
        let meta = std::fs::metadata(&path).ok()?; // vanished: skip quietly
        let stamp = FileStamp::of(&meta);
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
}

/// The domains with a status file in `dir` (names without `.xml`, sorted, at most
/// [`MAX_DOMAINS`]); `None` when the directory does not exist.
fn list_status_files(dir: &std::path::Path) -> std::io::Result<Option<Vec<String>>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".xml").map(str::to_owned))
        .take(MAX_DOMAINS)
        .collect();
    names.sort();
    Ok(Some(names))
}

/// Whether `proc/swaps` lists no device: a header line and nothing else (a device's line
/// comes in the same read as the header).
fn no_swap_devices(swaps: &str) -> bool {
    let mut lines = swaps.lines();
    lines.next().is_some_and(|h| h.starts_with("Filename")) && lines.next().is_none()
}

#[cfg(test)]
mod tests;
