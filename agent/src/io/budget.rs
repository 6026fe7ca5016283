//! The one budget of file descriptors the agent keeps open between collections. The collector
//! owns one [`FdBudget`] and hands it to every source; a source asks it for a [`Lease`] before it
//! keeps a file open (and reads the file by path when refused), and the lease gives the slot
//! back when the file is closed (dropped). So at any time the budget says how many files are
//! held and by whom ([`FdBudget::held`]), and no holder can take more than its share.
//!
//! Shares (of the soft `RLIMIT_NOFILE`, which the agent raises to the hard limit at start;
//! 1024 assumed when unreadable): the iSCSI source half, at most 4096; the libvirt source a
//! quarter, at most 4096; the host part's `/proc` files at most 32 and its sysfs files at most
//! 256; the OVS source's flow-monitor sockets at most 16. Each open pseudo-file pins a page of
//! kernel memory (its seq_file or sysfs buffer).
//!
//! Granting and releasing are one atomic add each (no lock), and only happen when a file is
//! opened or closed; reading a kept file does not touch the budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Who keeps files open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holder {
    /// The host part's host-wide `/proc` files (`stat`, `meminfo`, …, the mount table,
    /// `diskstats`) and the required daemons' `stat` files.
    Proc,
    /// The host part's sysfs files (CPU lists, NUMA nodes, hugepage pools).
    Sys,
    /// The libvirt source: per VM its QEMU process's files, each vCPU's `schedstat`, the
    /// domain cgroup's control files; `proc/swaps`.
    Libvirt,
    /// The iSCSI source: the state attributes of sessions, connections and LUNs.
    Iscsi,
    /// The OVS source: one flow-monitor connection per bridge (`<bridge>.mgmt`).
    Ovs,
}

impl Holder {
    /// Every holder, in a fixed order.
    pub const ALL: [Holder; 5] = [
        Holder::Proc,
        Holder::Sys,
        Holder::Libvirt,
        Holder::Iscsi,
        Holder::Ovs,
    ];

    /// Its name in reports (`proc`, `sys`, `libvirt`, `iscsi`, `ovs`).
    pub fn name(self) -> &'static str {
        match self {
            Holder::Proc => "proc",
            Holder::Sys => "sys",
            Holder::Libvirt => "libvirt",
            Holder::Iscsi => "iscsi",
            Holder::Ovs => "ovs",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Most `/proc` files the host part keeps (it names about ten, plus one per daemon process).
pub const MAX_PROC_FILES: usize = 32;
/// Most sysfs files the host part keeps (a host with 8 NUMA nodes and 3 page sizes needs ~130).
pub const MAX_SYS_FILES: usize = 256;
/// Most files the libvirt source keeps. Per VM: 2 process files, one `schedstat` per vCPU and
/// up to 7 cgroup v2 files (9 on a v1/v2 hybrid), so 200 domains × 8 vCPUs hold ~3,400–3,800.
pub const MAX_LIBVIRT_FILES: usize = 4096;
/// Most attribute files the iSCSI source keeps.
pub const MAX_ISCSI_FILES: usize = 4096;
/// Most flow-monitor sockets the OVS source keeps (one per bridge; nodes have 3–6 bridges).
pub const MAX_OVS_SOCKETS: usize = 16;

/// The budget: a cap per holder and what each holds now. Cloning gives another handle on the
/// same budget.
#[derive(Debug, Clone)]
pub struct FdBudget {
    ledger: Arc<Ledger>,
}

#[derive(Debug)]
struct Ledger {
    caps: [usize; 5],
    held: [AtomicUsize; 5],
}

impl FdBudget {
    /// The budget of this process: the shares above of its soft `RLIMIT_NOFILE`.
    pub fn for_process() -> Self {
        let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map_or(1024, |(soft, _)| soft);
        let share = |div: u64, max: usize| usize::try_from(soft / div).map_or(max, |n| n.min(max));
        Self::with_caps([
            (Holder::Proc, MAX_PROC_FILES),
            (Holder::Sys, MAX_SYS_FILES),
            (Holder::Libvirt, share(4, MAX_LIBVIRT_FILES)),
            (Holder::Iscsi, share(2, MAX_ISCSI_FILES)),
            (Holder::Ovs, MAX_OVS_SOCKETS),
        ])
    }

    /// A budget that keeps nothing open (one-shot reads: every file is read by path).
    pub fn none() -> Self {
        Self::with_caps([])
    }

    /// A budget with these caps (holders not named get none).
    pub fn with_caps(caps: impl IntoIterator<Item = (Holder, usize)>) -> Self {
        let mut c = [0; 5];
        for (who, n) in caps {
            c[who.index()] = n;
        }
        Self {
            ledger: Arc::new(Ledger {
                caps: c,
                held: Default::default(),
            }),
        }
    }

    /// A slot for one more file kept open by `who`, or `None` when its share is used up.
    pub fn grant(&self, who: Holder) -> Option<Lease> {
        let i = who.index();
        let held = &self.ledger.held[i];
        let cap = self.ledger.caps[i];
        held.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            (n < cap).then_some(n + 1)
        })
        .ok()?;
        Some(Lease {
            ledger: Arc::clone(&self.ledger),
            who,
        })
    }

    /// Files `who` holds open now.
    pub fn held(&self, who: Holder) -> usize {
        self.ledger.held[who.index()].load(Ordering::Relaxed)
    }

    /// The most files `who` may hold.
    pub fn cap(&self, who: Holder) -> usize {
        self.ledger.caps[who.index()]
    }

    /// Files held open now by every holder.
    pub fn total(&self) -> usize {
        Holder::ALL.iter().map(|&h| self.held(h)).sum()
    }
}

/// One kept file counted against the budget; dropping it (with the file) gives the slot back.
#[derive(Debug)]
pub struct Lease {
    ledger: Arc<Ledger>,
    who: Holder,
}

impl Lease {
    /// Who holds it.
    pub fn holder(&self) -> Holder {
        self.who
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.ledger.held[self.who.index()].fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_count_per_holder_within_the_caps() {
        let b = FdBudget::with_caps([(Holder::Libvirt, 2), (Holder::Iscsi, 1)]);
        let a = b.grant(Holder::Libvirt).unwrap();
        let c = b.grant(Holder::Libvirt).unwrap();
        assert!(b.grant(Holder::Libvirt).is_none(), "share used up");
        let i = b.grant(Holder::Iscsi).unwrap();
        assert!(b.grant(Holder::Proc).is_none(), "no share at all");
        assert_eq!((b.held(Holder::Libvirt), b.held(Holder::Iscsi)), (2, 1));
        assert_eq!(
            (b.total(), a.holder(), i.holder()),
            (3, Holder::Libvirt, Holder::Iscsi)
        );
        drop(c);
        assert_eq!(b.held(Holder::Libvirt), 1);
        assert!(b.grant(Holder::Libvirt).is_some(), "the slot came back");
        drop((a, i));
        assert_eq!(b.total(), 0);
        assert_eq!(FdBudget::none().cap(Holder::Iscsi), 0);
        let p = FdBudget::for_process();
        assert_eq!(p.cap(Holder::Proc), MAX_PROC_FILES);
        assert!(p.cap(Holder::Libvirt) > 0 && p.cap(Holder::Iscsi) >= p.cap(Holder::Libvirt));
    }
}
