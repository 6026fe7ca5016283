//! What the libvirt source yields: the running domains with what `/proc` says of their QEMU
//! processes ([`Libvirt`], [`Vm`], [`Thread`], [`Role`]), and the SLI sampler's reading of them
//! ([`VmSample`]). Data only: the source, the kept state and the checks and SLIs all import it.

use std::sync::Arc;

use serde::Serialize;

use crate::sources::cgroup::stats::CgroupStats;
use hvscope_parse::cpuset::CpuSet;
use hvscope_parse::libvirt::model::Domain;
use hvscope_parse::libvirt::novaconf::NovaCpuSets;
use hvscope_parse::proc::schedstat::SchedStat;

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

/// The libvirt part of a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Libvirt {
    /// `run/libvirt/qemu` exists (libvirt's QEMU driver has run on this host).
    pub present: bool,
    pub vms: Vec<Vm>,
    /// Nova's CPU sets from `etc/nova/nova.conf`, when the file exists.
    pub nova: Option<NovaCpuSets>,
}

/// One SLI reading of one VM ([`LibvirtSource::sample`](super::LibvirtSource::sample)).
#[derive(Debug, Clone, PartialEq)]
pub struct VmSample {
    pub uuid: Arc<str>,
    pub vcpus: u32,
    /// Σ schedstat wait of the VM's vCPU threads, nanoseconds.
    pub vcpu_wait_ns: u64,
    /// `some` total of the VM cgroup's memory.pressure, microseconds, when readable.
    pub memory_stall_us: Option<u64>,
}
