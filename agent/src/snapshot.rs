//! One collection: everything the sources read at one instant, plus the errors of the parts
//! that could not be read. Pure data; turning it into series is [`Snapshot::series`]. The
//! [`Collector`] holds the sources (each with what it keeps between collections), the one fd
//! budget they keep files open under, and the SLI accumulators.

use hvscope_common::clock::now_ms;

use crate::config::Config;
use crate::io::{FdBudget, HostRoot, ReadError};
use crate::series::SeriesBuf;
use std::collections::BTreeMap;

use crate::sli::disk_delay::{DiskDelaySli, VmDevices, VmDiskSli};
use crate::sli::{Sli, SliTotals};
use crate::sources::host::{Host, HostSource};
use crate::sources::iscsi::IscsiSource;
use crate::sources::libvirt::{Libvirt, LibvirtSource, VmSample};
use crate::sources::ovs::OvsSource;
use crate::sources::proc::ProcError;
use crate::sources::proc::files::{DiskstatsFile, ProcFiles};
use crate::sources::{self, Context, Source, SourceError};

/// Everything read in one collection.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Snapshot {
    /// Collection time, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    pub host: Host,
    /// Running libvirt domains and what /proc says of their processes.
    pub libvirt: Libvirt,
    /// SLI counters per VM uuid (see [`crate::sli`]); empty for one-shot collections.
    pub sli: BTreeMap<String, SliTotals>,
    /// Disk-delay SLI counters per VM uuid with kernel iSCSI disks (see [`crate::sli::disk_delay`]).
    pub disk_sli: BTreeMap<String, VmDiskSli>,
    /// Open vSwitch; `None` when disabled or absent (and not required).
    pub ovs: Option<sources::ovs::Ovs>,
    /// The kernel iSCSI initiator (no sessions on a host without the transport).
    pub iscsi: sources::iscsi::IscsiState,
    /// Parts that could not be read ("unknown"), with the reason.
    pub errors: Vec<SourceError>,
}

/// The sources with the state they keep between collections.
#[derive(Debug)]
pub struct Collector {
    root: HostRoot,
    /// The files every source keeps open count against this one budget.
    fds: FdBudget,
    /// `proc/diskstats`, read once per collection for the host and iSCSI parts, and once per
    /// sample for the disk-delay SLI.
    diskstats: DiskstatsFile,
    /// The host part (its `/proc` and sysfs files, the process scan, the netlink socket).
    host: HostSource,
    /// The libvirt source (keeps parsed status files and the VMs' open files, which the SLI
    /// sampler reads too).
    libvirt: LibvirtSource,
    ovs: OvsSource,
    sli: Sli,
    disk_sli: DiskDelaySli,
    /// The host devices behind each VM's kernel-iSCSI disks, from the last collection's join.
    disk_vms: Vec<VmDevices>,
    /// The iSCSI source (keeps session handles and the devices' previous counters).
    iscsi: IscsiSource,
    started: std::time::Instant,
    /// The host's memory PSI `some` total (µs) at the last SLI sample.
    host_memory_stall_us: Option<u64>,
    /// The SLI sampler's `proc/pressure/memory`, kept open apart from the host part's.
    sli_proc: ProcFiles,
    /// Samples left before the host's memory PSI is looked for again, once found absent (a
    /// kernel built or booted without it): [`PSI_ABSENT_SAMPLES`] then.
    host_psi_retry_in: u64,
    /// The last SLI sample's readings (kept: their storage is reused by the next sample).
    sli_samples: Vec<VmSample>,
}

/// SLI samples between two looks for a host memory PSI found absent (5 minutes at the
/// default 1-s sample, like the sources' refresh period at their default interval).
const PSI_ABSENT_SAMPLES: u64 = 300;

impl Collector {
    /// A collector reading below `root`, looking for what `config` names.
    pub fn new(root: HostRoot, config: &Config) -> Self {
        Self {
            root,
            fds: FdBudget::for_process(),
            diskstats: DiskstatsFile::default(),
            host: HostSource::new(config.host.daemons.clone()),
            libvirt: LibvirtSource::new(),
            ovs: OvsSource::new(config.ovs.clone()),
            sli: Sli::new(config.sli.clone()),
            disk_sli: DiskDelaySli::new(config.iscsi.delay_threshold_ms, 5_000),
            disk_vms: Vec::new(),
            iscsi: IscsiSource::new(),
            started: std::time::Instant::now(),
            host_memory_stall_us: None,
            sli_proc: ProcFiles::default(),
            sli_samples: Vec::new(),
            host_psi_retry_in: 0,
        }
    }

    /// Takes one SLI sample of the VMs seen at the last collection (call every
    /// `sli.sample_interval_ms`). Every file it reads is kept open between samples, and in
    /// steady state it allocates nothing (`tests/sli_alloc.rs`).
    pub fn sample_sli(&mut self) {
        let t = self.started.elapsed().as_secs_f64();
        let host = self.host_memory_psi();
        let quiet = crate::sli::memory_quiet(self.host_memory_stall_us, host);
        self.host_memory_stall_us = host;
        self.libvirt
            .sample(&self.root, &self.fds, quiet, &mut self.sli_samples);
        self.sli.record(t, host, &self.sli_samples);
        if !self.disk_vms.is_empty()
            && let Ok(stats) = self.diskstats.read(&self.root, &self.fds).stats()
        {
            self.disk_sli.sample(now_ms(), stats, &self.disk_vms);
        }
    }

    /// The host's memory PSI `some` total (µs), unless the host has none (then looked for
    /// again every [`PSI_ABSENT_SAMPLES`] samples, not every second).
    fn host_memory_psi(&mut self) -> Option<u64> {
        if self.host_psi_retry_in > 0 {
            self.host_psi_retry_in -= 1;
            return None;
        }
        match self.sli_proc.read_parsed(
            &self.root,
            &self.fds,
            "proc/pressure/memory",
            hvscope_parse::proc::pressure::some_total_us,
        ) {
            Ok(us) => Some(us),
            Err(ProcError::Read(ReadError::Gone { .. })) => {
                self.host_psi_retry_in = PSI_ABSENT_SAMPLES;
                None
            }
            Err(_) => None,
        }
    }

    /// The host root.
    pub fn root(&self) -> &HostRoot {
        &self.root
    }

    /// The fd budget the sources keep files open under (how many each holds).
    pub fn fds(&self) -> &FdBudget {
        &self.fds
    }

    /// Reads every source.
    pub fn collect(&mut self) -> Snapshot {
        self.collect_inner(false)
    }

    /// Reads every source and takes the SLI sample from what it read (each vCPU's
    /// `schedstat`, the cgroups' and the host's memory PSI, `proc/diskstats`): at a tick due
    /// for both, instead of [`sample_sli`](Self::sample_sli) then [`collect`](Self::collect),
    /// which would read all of it twice. The snapshot's SLI counters include this sample.
    pub fn collect_sampled(&mut self) -> Snapshot {
        self.collect_inner(true)
    }

    fn collect_inner(&mut self, sample: bool) -> Snapshot {
        let mut errors = Vec::new();
        let disks = self.diskstats.read(&self.root, &self.fds);
        let cx = Context::new(&self.root, &self.fds, disks);
        let host = self.host.collect(&cx, &mut errors);
        let cx = Context {
            mounts: host.mounts.as_deref(),
            host_psi: host
                .pressure
                .as_ref()
                .map(|p| [&p.cpu, &p.memory, &p.io].map(|r| r.some.total_seconds)),
            ..cx
        };
        let libvirt = self.libvirt.collect(&cx, &mut errors);
        let ovs = self.ovs.collect(&cx, &mut errors);
        let iscsi = self.iscsi.collect(&cx, &mut errors);
        let domains: Vec<_> = libvirt.vms.iter().map(|v| &*v.domain).collect();
        self.disk_vms =
            crate::sli::disk_delay::vm_devices(&sources::iscsi::join::join_refs(&iscsi, &domains));
        if sample {
            let t = self.started.elapsed().as_secs_f64();
            let host_memory = host
                .pressure
                .as_ref()
                .map(|p| (p.memory.some.total_seconds * 1e6).round() as u64);
            self.host_memory_stall_us = host_memory;
            self.libvirt.collected_sample(&mut self.sli_samples);
            self.sli.record(t, host_memory, &self.sli_samples);
            if !self.disk_vms.is_empty()
                && let Ok(stats) = cx.diskstats.stats()
            {
                self.disk_sli.sample(now_ms(), stats, &self.disk_vms);
            }
        }
        let disk_sli = self
            .disk_vms
            .iter()
            .filter_map(|v| Some((v.uuid.clone(), self.disk_sli.get(&v.uuid)?)))
            .collect();
        let sli = libvirt
            .vms
            .iter()
            .filter_map(|v| Some((v.domain.uuid.clone(), self.sli.totals(&v.domain.uuid)?)))
            .collect();
        Snapshot {
            timestamp_ms: now_ms(),
            host,
            libvirt,
            sli,
            disk_sli,
            ovs,
            iscsi,
            errors,
        }
    }
}

impl Snapshot {
    /// Reads every source below `root` once, with the default configuration.
    pub fn collect(root: &HostRoot) -> Self {
        Self::collect_with(root, &Config::default())
    }

    /// Reads every source below `root` once; `config` says what to look for.
    pub fn collect_with(root: &HostRoot, config: &Config) -> Self {
        Collector::new(root.clone(), config).collect()
    }

    /// The series of this snapshot (without static labels).
    pub fn series(&self, out: &mut SeriesBuf) {
        sources::host::series::series(&self.host, out);
        sources::libvirt::series::series(&self.libvirt, out);
        if let Some(net) = &self.host.net {
            sources::libvirt::series::nic_series(&self.libvirt, net, out);
        }
        for (uuid, t) in &self.sli {
            crate::sli::series(uuid, t, out);
        }
        for (uuid, d) in &self.disk_sli {
            crate::sli::disk_delay::series(uuid, d, out);
        }
        if let Some(ovs) = &self.ovs {
            sources::ovs::series(ovs, &self.errors, out);
        }
        sources::iscsi::series::series(&self.iscsi, out);
        let parts = [
            HostSource::PARTS,
            LibvirtSource::PARTS,
            OvsSource::PARTS,
            IscsiSource::PARTS,
        ];
        for &part in parts.iter().copied().flatten() {
            let up = !self.errors.iter().any(|e| e.source == part);
            out.push(
                "hvscope_agent_source_up",
                "1 when a source part was read this collection, 0 when it could not be.",
                &[("source", part)],
                if up { 1.0 } else { 0.0 },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{Holder, REFRESH};

    /// A writable copy of fixture `name`.
    fn copy_fixture(name: &str, tag: &str) -> std::path::PathBuf {
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        hvscope_testkit::copy_dir(&fixture.join(name), &format!("coll-{tag}"))
    }

    /// The collector below a fixture tree goes through the same caching paths as on the live
    /// host (kept files under the one budget, listings reused for a refresh period): a file
    /// rewritten in place or replaced is seen by the next collection, a removed one is that
    /// part's error (and read again once it is back), a directory entry added is seen within
    /// the refresh period, and a kept state file of a VM reads its new figures.
    #[test]
    fn a_collector_sees_fixture_changes_within_their_cadence() {
        let dir = copy_fixture("libvirt-kvm-2vm", "cadence");
        let mut c = Collector::new(HostRoot::new(&dir), &Config::default());
        let first = c.collect();
        assert!(first.errors.is_empty(), "{:?}", first.errors);
        for who in [Holder::Proc, Holder::Sys, Holder::Libvirt] {
            assert!(
                c.fds().held(who) > 0,
                "{who:?} keeps files below the fixture"
            );
        }
        let held = c.fds().total();
        // Rewritten in place, and replaced by rename.
        std::fs::write(dir.join("proc/loadavg"), "9.00 2.00 1.09 3/304 28406\n").unwrap();
        let meminfo = std::fs::read_to_string(dir.join("proc/meminfo")).unwrap();
        let total = |s: &Snapshot| s.host.meminfo.as_ref().unwrap().get("MemTotal");
        let new = dir.join("proc/meminfo.new");
        std::fs::write(
            &new,
            meminfo.replacen("MemTotal:       24684096", "MemTotal:       14684096", 1),
        )
        .unwrap();
        std::fs::rename(&new, dir.join("proc/meminfo")).unwrap();
        // A disk's counters move: both parts that read diskstats see it.
        let disks = std::fs::read_to_string(dir.join("proc/diskstats")).unwrap();
        let vda = |s: &Snapshot| {
            let d = s.host.diskstats.as_ref().unwrap();
            d.iter().find(|d| &*d.name == "vda").unwrap().reads
        };
        std::fs::write(
            dir.join("proc/diskstats"),
            disks.replacen(" vda 129885 ", " vda 129886 ", 1),
        )
        .unwrap();
        // A vCPU thread ran: its kept schedstat reads the new figures.
        let sched = dir.join("proc/25453/task/25461/schedstat");
        std::fs::write(&sched, "6421645622 20924458999 6032\n").unwrap();
        let wait = |s: &Snapshot| {
            let vm = &s.libvirt.vms[0];
            let t = vm.threads.iter().find(|t| t.tid == 25461).unwrap();
            t.sched.unwrap().wait_ns
        };
        let second = c.collect();
        assert!(second.errors.is_empty(), "{:?}", second.errors);
        assert_eq!(second.host.loadavg.as_ref().unwrap().load1, 9.0);
        assert_ne!(total(&second), total(&first));
        assert_eq!((vda(&first), vda(&second)), (129885, 129886));
        assert_eq!(wait(&second), 20924458999);
        assert_eq!(c.fds().total(), held, "the same files stay kept");
        // Removed: that part's error; back: read again.
        let vmstat = std::fs::read(dir.join("proc/vmstat")).unwrap();
        std::fs::remove_file(dir.join("proc/vmstat")).unwrap();
        let third = c.collect();
        let parts: Vec<_> = third.errors.iter().map(|e| e.source.as_str()).collect();
        assert_eq!(parts, ["proc.vmstat"]);
        assert!(third.host.vmstat.is_none() && third.host.meminfo.is_some());
        std::fs::write(dir.join("proc/vmstat"), &vmstat).unwrap();
        assert!(c.collect().host.vmstat.is_some());
        // A NUMA node added: its listing is reused, so it shows within one refresh period.
        let node1 = dir.join("sys/devices/system/node/node1");
        std::fs::create_dir_all(&node1).unwrap();
        std::fs::write(node1.join("cpulist"), "1\n").unwrap();
        let meminfo0 =
            std::fs::read_to_string(dir.join("sys/devices/system/node/node0/meminfo")).unwrap();
        std::fs::write(
            node1.join("meminfo"),
            meminfo0.replace("Node 0 ", "Node 1 "),
        )
        .unwrap();
        let seen = (1..=REFRESH.collections())
            .find(|_| c.collect().host.numa.is_some_and(|n| n.len() == 2));
        assert!(seen.is_some(), "node1 not seen within the refresh period");
        // Removed again: its kept files fail, which drops the listings at once.
        std::fs::remove_dir_all(&node1).unwrap();
        let gone = c.collect();
        assert_eq!(
            gone.errors
                .iter()
                .map(|e| e.source.as_str())
                .collect::<Vec<_>>(),
            ["sys.node"]
        );
        assert_eq!(c.collect().host.numa.map(|n| n.len()), Some(1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A collection at a tick due for both is that tick's SLI sample: its counters move by
    /// what the collection read, and are in its snapshot; a plain collection samples nothing.
    #[test]
    fn a_sampled_collection_records_the_sli_sample_it_read() {
        let dir = copy_fixture("libvirt-kvm-2vm", "sampled");
        let mut c = Collector::new(HostRoot::new(&dir), &Config::default());
        let first = c.collect_sampled();
        assert!(first.errors.is_empty(), "{:?}", first.errors);
        assert_eq!(first.sli.len(), 2, "both VMs sampled: {:?}", first.sli);
        assert!(first.sli.values().all(|t| t.observed_seconds == 0.0));
        // 10 s of vCPU wait within a few ms: this VM was starved since the baseline.
        std::fs::write(
            dir.join("proc/25453/task/25462/schedstat"),
            "2067135 10041776252 33\n",
        )
        .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let plain = c.collect();
        assert_eq!(plain.sli, first.sli, "a plain collection is no sample");
        let second = c.collect_sampled();
        let starved: Vec<f64> = second.sli.values().map(|t| t.cpu_starved_seconds).collect();
        assert!(
            second.sli.values().all(|t| t.observed_seconds > 0.0),
            "{:?}",
            second.sli
        );
        assert_eq!(
            starved.iter().filter(|&&s| s > 0.0).count(),
            1,
            "{starved:?}"
        );
        // The next sample (between collections) goes on from the collection's readings.
        c.sample_sli();
        let third = c.collect();
        for (uuid, t) in &third.sli {
            assert!(t.observed_seconds > second.sli[uuid].observed_seconds);
            assert_eq!(t.cpu_starved_seconds, second.sli[uuid].cpu_starved_seconds);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
