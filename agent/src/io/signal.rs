//! Stamps: the cheap "did it change?" answers of files and directories that have no kernel
//! notification, compared with what was seen when a cached result was read. The other change
//! signals are the inotify [`DirWatch`](super::DirWatch) and the mount table's `POLLPRI`
//! ([`KeptFile::poll_changed`](super::KeptFile::poll_changed)).

use std::time::SystemTime;

/// A file's modification time and size (libvirt status files, `nova.conf`): a rewrite that
/// keeps both is not seen, which libvirt's rename-over rewrites and an editor's save never do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub modified: SystemTime,
    pub len: u64,
}

impl FileStamp {
    /// The stamp of a file with metadata `meta`.
    pub fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            len: meta.len(),
        }
    }
}

/// A directory's identity and change times, to re-list it only when it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirStamp {
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl DirStamp {
    /// The stamp of a directory with metadata `m`.
    pub fn of(m: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            ino: m.ino(),
            size: m.size(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        }
    }
}

/// Whether a listing taken when the directory had stamp `prev` still holds for `cur`. A change
/// less than 2 s before `now_ns` is not trusted (the clock behind mtime is coarse: a second change
/// in the same tick leaves the stamp alone), so a recently changed directory is listed again.
pub fn listing_holds(prev: Option<&DirStamp>, cur: &DirStamp, now_ns: i128) -> bool {
    prev == Some(cur) && now_ns - cur.mtime_ns.max(cur.ctime_ns) > 2_000_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_hold_only_for_old_unchanged_stamps() {
        let s = DirStamp {
            ino: 1,
            size: 40,
            mtime_ns: 10_000_000_000,
            ctime_ns: 10_000_000_000,
        };
        assert!(listing_holds(Some(&s), &s, 13_000_000_000));
        // Changed within the last 2 s: the coarse clock may hide a second change.
        assert!(!listing_holds(Some(&s), &s, 11_000_000_000));
        assert!(!listing_holds(None, &s, 13_000_000_000));
        let grown = DirStamp {
            size: 60,
            ..s.clone()
        };
        assert!(!listing_holds(Some(&s), &grown, 13_000_000_000));
    }
}
