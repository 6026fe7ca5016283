//! The one I/O layer between the pure parsers and the sources: where host paths resolve
//! ([`HostRoot`]), the files read again every collection ([`KeptFile`], [`HeldFile`]) under the
//! one [`FdBudget`], the change signals that say when a cached result still holds (the inotify
//! [`DirWatch`], the mount table's `POLLPRI`, [`FileStamp`] and [`DirStamp`]) and the one
//! refresh period of whatever no signal vouches for ([`Cadence`], [`REFRESH`]: 30 collections,
//! 5 minutes at the default 10 s interval).
//!
//! Below a fixture tree the same keeping code runs as on the live host (a kept fixture file is
//! checked against its path before each read, see [`KeptFile`]); only the signals the kernel
//! gives the live host alone fall back to reading every time there: the mount table's
//! `POLLPRI`, the fork counter that spares listing `/proc`, netlink (interfaces come from sysfs)
//! and `sched_getaffinity` (affinities come from the threads' `status` files).
//!
//! # What is held open, by whom, and how stale each figure may get
//!
//! Kept files hold a slot of the [`FdBudget`] under their [`Holder`] (its share in brackets);
//! "every collection" means read again with one `pread` on the kept file (or by path past the
//! share), so the figure is as fresh as the collection.
//!
//! | Owner | What it keeps | Read again | Stalest it gets |
//! |---|---|---|---|
//! | host part ([`Holder::Proc`], 32) | `proc/{stat,meminfo,loadavg,vmstat,pressure/*}` open | every collection | fresh |
//! | collector ([`Holder::Proc`]) | `proc/diskstats` open, device names shared | once per collection, once per disk SLI sample | fresh |
//! | host part ([`Holder::Proc`]) | `/proc/self/mounts` open and the parsed table | live: when `POLLPRI` says it changed; fixture: every collection | fresh |
//! | host part ([`Holder::Sys`], 256) | CPU lists, each NUMA node's `cpulist`/`meminfo`, hugepage counters open | every collection | fresh |
//! | host part | listings of NUMA nodes and hugepage pool sizes; optional attributes found absent | at once when a kept file of them fails, else once per [`REFRESH`] | a node or pool added, an attribute appearing: < 30 collections |
//! | host part | CPU topology (`cpuN/topology`) | when `online` changes | until a hotplug changes `online` |
//! | host part | link speeds (live host) | new link, carrier or operstate change, bonds and teams always; else once per [`REFRESH`] | a speed change without a carrier event: < 30 collections |
//! | host part | process scan: pids and daemon statuses | new pids and the daemons' pids every collection; every process once per [`REFRESH`]; live: `/proc` listed only when the fork counter moved and a daemon is down or off one of its pids | a process that execs into a daemon at an old pid, a second instance of a running daemon: < 30 collections |
//! | host part ([`Holder::Proc`]) | the daemons' `proc/<pid>/stat` open | every collection | fresh |
//! | host part | two netlink sockets (not in the budget): the dumps', and one subscribed to the link notifications; the links of the last link dump | counters every collection (`RTM_GETSTATS`); the links again (`RTM_GETLINK`) when a change was notified, the notifications overran, or once per [`REFRESH`] | fresh |
//! | libvirt ([`Holder::Libvirt`], ¼ of `RLIMIT_NOFILE` ≤ 4096) | per VM: `proc/<pid>/{stat,status}`, each vCPU's `schedstat`, the domain cgroup's control files; `proc/swaps` open | every collection (and every SLI sample); a `*.pressure` file only when the host's total of that resource moved since the last collection (else its last reading holds) | fresh (a pressure total: as of the host's reading, ms before) |
//! | libvirt | parsed status XML ([`FileStamp`]), inotify watch on `run/libvirt/qemu` (one fd, not in the budget) | when inotify reports the file and its stamp moved; everything once per [`REFRESH`] | a change inotify misses: < 30 collections |
//! | libvirt | per VM: where its cgroup is; the QEMU threads and their names | cgroup once per status-file parse; threads when the thread count moves or a listed thread is gone; all of it once per [`REFRESH`] | a cgroup moved by hand, a thread id reused: < 30 collections |
//! | libvirt | parsed `nova.conf` ([`FileStamp`]) | when its stamp moves | a rewrite keeping mtime and size: until the next one |
//! | iSCSI ([`Holder::Iscsi`], ½ of `RLIMIT_NOFILE` ≤ 4096) | each session's, connection's and disk LUN's `state` open | every collection | fresh |
//! | iSCSI | each session read completely (names, portals, timeouts, `target_state`, controller LUNs, LUN types) | when a state changed, a device came or went, it is in error; else spread over each [`REFRESH`] period ([`Schedule`]) | < 30 collections |
//! | iSCSI | listings of `sys/class/iscsi_session` and `sys/block` | compared every collection | fresh |
//! | iSCSI | `sys/block` links, multipath maps, `dev/disk/by-path` and `by-id` maps ([`DirStamp`]) | new entries at once; a slice per collection ([`Cursor`]) so all within each [`REFRESH`] | a device re-created under its name, a path moved between maps, a link retargeted: < 30 collections |
//! | iSCSI | the previous diskstats reading (rates) | every collection | fresh |
//! | OVS | the compiled rules | never (configuration) | — |
//! | OVS | one connection to ovsdb-server with a `monitor` on it (not in the budget), its rows and the topology built from them | the rows as the server sends updates, read at one `echo` per collection; the topology when an update arrived | fresh |
//! | OVS ([`Holder::Ovs`], 16) | per bridge with `flow_monitor`: one OpenFlow connection subscribed to flow changes (`NXST_FLOW_MONITOR`, nothing of the flows kept), and that bridge's last flow audit | the flows dumped again when the monitor reports any change or goes away, the bridge's ports or the node's VM MACs changed, or once per [`REFRESH`] | a flow change ovs-vswitchd does not report (none known): < 30 collections |

mod budget;
mod cadence;
mod kept;
mod root;
mod signal;
mod ticker;
mod unix;
mod watch;

pub use budget::{
    FdBudget, Holder, Lease, MAX_ISCSI_FILES, MAX_LIBVIRT_FILES, MAX_OVS_SOCKETS, MAX_PROC_FILES,
    MAX_SYS_FILES,
};
pub use cadence::{Cadence, Cursor, REFRESH, Schedule};
pub use kept::{HeldFile, KeptFile};
pub use root::{HostRoot, MAX_FILE_BYTES, ReadError, read_bounded};
pub use signal::{DirStamp, FileStamp, listing_holds};
pub use ticker::Ticker;
pub use unix::{connect_unix, send_before};
pub use watch::{Changes, DirWatch};
