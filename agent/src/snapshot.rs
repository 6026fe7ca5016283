//! One collection: everything the sources read at one instant, plus the errors of the parts
//! that could not be read. Pure data; turning it into series is [`Snapshot::series`].

use crate::host_root::HostRoot;
use crate::series::SeriesBuf;
use crate::sources::libvirt::reader::{Libvirt, LibvirtSource};
use crate::sources::{self, SourceError, host::Host};

/// Everything read in one collection.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Snapshot {
    /// Collection time, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    pub host: Host,
    /// Running libvirt domains and what /proc says of their processes.
    pub libvirt: Libvirt,
    /// Parts that could not be read ("unknown"), with the reason.
    pub errors: Vec<SourceError>,
}

/// The sources with the state they keep between collections (parsed status files, …).
#[derive(Debug)]
pub struct Collector {
    root: HostRoot,
    libvirt: LibvirtSource,
}

impl Collector {
    /// A collector reading below `root`.
    pub fn new(root: HostRoot) -> Self {
        Self {
            root,
            libvirt: LibvirtSource::default(),
        }
    }

    /// The host root.
    pub fn root(&self) -> &HostRoot {
        &self.root
    }

    /// Reads every source.
    pub fn collect(&mut self) -> Snapshot {
        let mut errors = Vec::new();
        let host = sources::host::collect(&self.root, &mut errors);
        let libvirt = self.libvirt.collect(&self.root, &mut errors);
        Snapshot {
            timestamp_ms: now_ms(),
            host,
            libvirt,
            errors,
        }
    }
}

impl Snapshot {
    /// Reads every source below `root` once (no state kept).
    pub fn collect(root: &HostRoot) -> Self {
        Collector::new(root.clone()).collect()
    }

    /// The series of this snapshot (without static labels).
    pub fn series(&self, out: &mut SeriesBuf) {
        sources::host::series(&self.host, out);
        sources::libvirt::series::series(&self.libvirt, out);
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
