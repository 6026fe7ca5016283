//! One collection: everything the sources read at one instant, plus the errors of the parts
//! that could not be read. Pure data; turning it into series is [`Snapshot::series`].

use crate::host_root::HostRoot;
use crate::series::SeriesBuf;
use crate::sources::{self, SourceError, host::Host};

/// Everything read in one collection.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Snapshot {
    /// Collection time, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    pub host: Host,
    /// The kernel iSCSI initiator (no sessions on a host without the transport).
    pub iscsi: sources::iscsi::IscsiState,
    /// Parts that could not be read ("unknown"), with the reason.
    pub errors: Vec<SourceError>,
}

impl Snapshot {
    /// Reads every source below `root`.
    pub fn collect(root: &HostRoot) -> Self {
        let mut errors = Vec::new();
        let host = sources::host::collect(root, &mut errors);
        let iscsi = sources::iscsi::collect(root, &mut errors);
        Self {
            timestamp_ms: now_ms(),
            host,
            iscsi,
            errors,
        }
    }

    /// The series of this snapshot (without static labels).
    pub fn series(&self, out: &mut SeriesBuf) {
        sources::host::series(&self.host, out);
        sources::iscsi::series::series(&self.iscsi, out);
        for part in sources::host::PARTS {
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

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
