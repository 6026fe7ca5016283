//! What the agent knows of one running libvirt domain, from its live status XML
//! (`run/libvirt/qemu/<name>.xml`) — the shared vocabulary of the libvirt source, the pinning
//! checks, and the iSCSI and OVS joins.

use std::collections::BTreeMap;

use crate::cpuset::CpuSet;
use serde::Serialize;

/// One running domain.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Domain {
    /// libvirt name (`instance-0000002a`).
    pub name: String,
    pub uuid: String,
    /// libvirt's domain id (`<domain id=…>`), when running.
    pub id: Option<u32>,
    /// `<domstatus state=…>`: running, paused, …
    pub state: String,
    /// QEMU process id.
    pub pid: Option<u32>,
    /// vCPU id → thread id, from `<domstatus><vcpus><vcpu id pid/>`.
    pub vcpu_threads: BTreeMap<u32, u32>,
    /// `<vcpu>` count.
    pub vcpus: u32,
    /// `<vcpu cpuset=…>`: the default placement of vCPUs without a `<vcpupin>`.
    pub vcpu_cpuset: Option<CpuSet>,
    /// `<memory>` in bytes.
    pub memory_bytes: u64,
    pub cputune: CpuTune,
    pub numatune: Option<NumaTune>,
    /// `<memoryBacking><hugepages>` present.
    pub hugepages: bool,
    pub disks: Vec<Disk>,
    pub nics: Vec<Nic>,
    /// `<metadata><nova:instance>` (namespace 1.0 or 1.1).
    pub nova: Option<NovaInstance>,
}

/// `<cputune>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CpuTune {
    pub vcpupin: BTreeMap<u32, CpuSet>,
    pub emulatorpin: Option<CpuSet>,
    pub iothreadpin: BTreeMap<u32, CpuSet>,
    pub shares: Option<u64>,
}

/// `<numatune><memory mode nodeset>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NumaTune {
    pub mode: String,
    pub nodeset: CpuSet,
}

/// Where a disk's data comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum DiskSource {
    /// `<source dev=…>`: a host block device (os-brick's `/dev/disk/by-path/ip-…-iscsi-…-lun-N`,
    /// a multipath `/dev/dm-N`, …).
    Block { dev: String },
    /// `<source file=…>`.
    File { path: String },
    /// `<source protocol=… name=…><host name port/>`: opened by QEMU itself (libiscsi, rbd…),
    /// no kernel device behind it.
    Network {
        protocol: String,
        name: String,
        hosts: Vec<(String, u16)>,
    },
    /// No source (an empty CD-ROM drive) or a type the agent does not model.
    None,
}

/// `<devices><disk>`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disk {
    /// `<target dev>` (`vda`).
    pub target: String,
    /// `<target bus>` (`virtio`).
    pub bus: String,
    /// `device=` (`disk`, `cdrom`, `lun`).
    pub device: String,
    pub source: DiskSource,
    /// `<serial>` (nova puts the volume id there).
    pub serial: Option<String>,
}

/// `<devices><interface>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Nic {
    pub mac: String,
    /// `<source bridge>`.
    pub bridge: Option<String>,
    /// `<target dev>` (the tap device).
    pub target_dev: Option<String>,
    /// `<virtualport type='openvswitch'><parameters interfaceid>`: Neutron's port id.
    pub interface_id: Option<String>,
    pub model: Option<String>,
}

/// Nova's instance metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NovaInstance {
    /// The instance's display name.
    pub name: String,
    pub package_version: Option<String>,
    pub creation_time: Option<String>,
    pub flavor: NovaFlavor,
    pub project_id: Option<String>,
    pub project_name: Option<String>,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    /// `<nova:root type>` (image, volume).
    pub root_type: Option<String>,
    pub root_id: Option<String>,
}

/// `<nova:flavor>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NovaFlavor {
    pub name: String,
    pub vcpus: Option<u32>,
    pub memory_mib: Option<u64>,
    pub disk_gb: Option<u64>,
    /// `<nova:extraSpecs><nova:extraSpec name>` where nova records them.
    pub extra_specs: BTreeMap<String, String>,
}
