//! The host part's JSON form of a `proc/diskstats` device: bytes and seconds, the counters a
//! kernel lacks as `null` (the snapshot's shape since the host part first read the file).

use serde::{Serialize, Serializer};

use hvscope_parse::proc::diskstats::{DiskStat, seconds, sector_bytes};

/// One device as the host part shows it.
#[derive(Serialize)]
struct HostDisk<'a> {
    major: u32,
    minor: u32,
    name: &'a str,
    reads_completed: u64,
    reads_merged: u64,
    read_bytes: u64,
    read_seconds: f64,
    writes_completed: u64,
    writes_merged: u64,
    written_bytes: u64,
    write_seconds: f64,
    io_in_progress: u64,
    io_seconds: f64,
    io_weighted_seconds: f64,
    discards_completed: Option<u64>,
    discarded_bytes: Option<u64>,
    flushes_completed: Option<u64>,
}

impl<'a> From<&'a DiskStat> for HostDisk<'a> {
    fn from(d: &'a DiskStat) -> Self {
        Self {
            major: d.major,
            minor: d.minor,
            name: &d.name,
            reads_completed: d.reads,
            reads_merged: d.reads_merged,
            read_bytes: sector_bytes(d.read_sectors),
            read_seconds: seconds(d.read_ms),
            writes_completed: d.writes,
            writes_merged: d.writes_merged,
            written_bytes: sector_bytes(d.write_sectors),
            write_seconds: seconds(d.write_ms),
            io_in_progress: d.in_flight,
            io_seconds: seconds(d.io_ms),
            io_weighted_seconds: seconds(d.io_weighted_ms),
            discards_completed: d.has_field(14).then_some(d.discards),
            discarded_bytes: d.has_field(16).then(|| sector_bytes(d.discard_sectors)),
            flushes_completed: d.has_field(18).then_some(d.flushes),
        }
    }
}

/// The devices, each as a [`HostDisk`].
struct Disks<'a>(&'a [DiskStat]);

impl Serialize for Disks<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(HostDisk::from))
    }
}

/// Serializes [`Host::diskstats`](super::Host::diskstats).
pub fn serialize<S: Serializer>(disks: &Option<Vec<DiskStat>>, s: S) -> Result<S::Ok, S::Error> {
    disks.as_deref().map(Disks).serialize(s)
}
