//! Streaming to aggregators: one long-lived gRPC bidirectional stream per aggregator over
//! rustls with a client certificate, a bounded in-memory spool of unacknowledged batches, and
//! reconnects with capped exponential backoff and jitter.

pub mod backoff;
pub mod spool;
pub mod stream;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use spool::{Spool, SpooledBatch};

/// What the collector and one aggregator's stream task share.
#[derive(Debug)]
pub struct Link {
    /// `host:port` of the aggregator.
    pub addr: String,
    pub spool: Mutex<Spool>,
    /// Woken when a batch is pushed.
    pub notify: Notify,
    pub connected: AtomicBool,
    /// `notAfter` of the client certificate last loaded, seconds since the epoch (0: none yet).
    pub cert_not_after: AtomicI64,
    /// Streams established since start.
    pub connects: AtomicU64,
    /// Resend requests received.
    pub resends: AtomicU64,
    /// Batches the aggregator acknowledged with part of them refused by its per-node limits.
    pub limited: AtomicU64,
}

impl Link {
    /// A link to `addr` with a spool of `spool_max_bytes`.
    pub fn new(addr: String, spool_max_bytes: usize) -> Arc<Self> {
        Arc::new(Self {
            addr,
            spool: Mutex::new(Spool::new(spool_max_bytes)),
            notify: Notify::new(),
            connected: AtomicBool::new(false),
            cert_not_after: AtomicI64::new(0),
            connects: AtomicU64::new(0),
            resends: AtomicU64::new(0),
            limited: AtomicU64::new(0),
        })
    }

    /// Queues a batch and wakes the stream task.
    pub fn push(&self, b: Arc<SpooledBatch>) {
        self.spool().push(b);
        self.notify.notify_one();
    }

    /// The spool, recovering from a poisoned lock (the spool's state is always consistent
    /// between calls).
    pub fn spool(&self) -> std::sync::MutexGuard<'_, Spool> {
        self.spool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True while a stream is established.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
}
