//! Change notification for a directory of files named `<name><suffix>` (libvirt's status
//! directory, `run/libvirt/qemu/*.xml`). libvirt rewrites a domain's status file
//! (`<name>.xml.new`, then renamed over `<name>.xml`) when the domain starts, stops, pauses,
//! migrates or changes devices, and leaves it alone otherwise; without notification every
//! collection would list the directory and `stat` every file (a path walk each) only to find them
//! unchanged. An inotify watch on the directory tells which files were written, created, renamed
//! or removed since the last collection; only those are looked at again, and the directory is
//! listed again only when a file came or went.
//!
//! When the kernel cannot say (the event queue overflowed, the directory itself was removed or
//! moved, the watch could not be read or made: a filesystem without inotify) the answer is
//! [`Changes::All`], and the caller looks at everything. Fixture trees are watched alike (inotify
//! works on any local filesystem).

use std::collections::HashSet;
use std::path::Path;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// What changed in the watched directory since the last call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    /// Unknown: list the directory and look at every file.
    All,
    /// These files (names without the suffix) were written, created, renamed or removed;
    /// `listing` when one came or went (the directory must be listed again).
    Some {
        names: HashSet<String>,
        listing: bool,
    },
}

/// An inotify watch on a directory, reporting the files whose names end in its suffix.
#[derive(Debug)]
pub struct DirWatch {
    inotify: Inotify,
    suffix: &'static str,
}

/// Most events drained per call: past it the answer is [`Changes::All`] (a host starting or
/// stopping thousands of domains at once is re-read whole).
const MAX_EVENTS: usize = 65_536;

impl DirWatch {
    /// A watch on the files `*<suffix>` of `dir`; what changed before it existed is unknown, so
    /// the first [`changes`](Self::changes) after it are only those after this call.
    pub fn new(dir: &Path, suffix: &'static str) -> nix::Result<Self> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        inotify.add_watch(
            dir,
            AddWatchFlags::IN_CLOSE_WRITE
                | AddWatchFlags::IN_MODIFY
                | AddWatchFlags::IN_ATTRIB
                | AddWatchFlags::IN_CREATE
                | AddWatchFlags::IN_DELETE
                | AddWatchFlags::IN_MOVED_FROM
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_DELETE_SELF
                | AddWatchFlags::IN_MOVE_SELF,
        )?;
        Ok(Self { inotify, suffix })
    }

    /// Drains the queued events. [`Changes::All`] means the watch is no longer reliable: drop
    /// it (a new one is made next time).
    pub fn changes(&self) -> Changes {
        let mut names = HashSet::new();
        let mut listing = false;
        let mut seen = 0;
        loop {
            let events = match self.inotify.read_events() {
                Ok(e) => e,
                Err(nix::errno::Errno::EAGAIN) => return Changes::Some { names, listing },
                Err(_) => return Changes::All,
            };
            seen += events.len();
            if seen > MAX_EVENTS {
                return Changes::All;
            }
            for e in events {
                let name = e.name.as_ref().and_then(|n| n.to_str());
                match classify(e.mask, name, self.suffix) {
                    Event::Unknown => return Changes::All,
                    Event::Ignored => {}
                    Event::Written(n) => {
                        names.insert(n.to_owned());
                    }
                    Event::CameOrWent(n) => {
                        names.insert(n.to_owned());
                        listing = true;
                    }
                }
            }
        }
    }
}

/// One event, as the reader needs it.
#[derive(Debug, PartialEq, Eq)]
enum Event<'a> {
    /// Overflow, or the watched directory itself went away: everything is unknown.
    Unknown,
    /// Not a watched file (`<name>.xml.new`, pid files, monitor sockets).
    Ignored,
    /// This file was written in place or its attributes changed.
    Written(&'a str),
    /// This file was created, removed, or renamed to or from its name.
    CameOrWent(&'a str),
}

/// Pure: what an event with `mask` on the entry `name` means for a watch of `*<suffix>`.
fn classify<'a>(mask: AddWatchFlags, name: Option<&'a str>, suffix: &str) -> Event<'a> {
    if mask.intersects(
        AddWatchFlags::IN_Q_OVERFLOW
            | AddWatchFlags::IN_IGNORED
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF
            | AddWatchFlags::IN_UNMOUNT,
    ) {
        return Event::Unknown;
    }
    let Some(domain) = name.and_then(|n| n.strip_suffix(suffix)) else {
        return Event::Ignored;
    };
    if mask.intersects(
        AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MOVED_TO,
    ) {
        Event::CameOrWent(domain)
    } else {
        Event::Written(domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_classified() {
        use AddWatchFlags as F;
        assert_eq!(classify(F::IN_Q_OVERFLOW, None, ".xml"), Event::Unknown);
        assert_eq!(classify(F::IN_IGNORED, None, ".xml"), Event::Unknown);
        assert_eq!(classify(F::IN_DELETE_SELF, None, ".xml"), Event::Unknown);
        assert_eq!(
            classify(F::IN_MOVED_TO, Some("instance-1.xml"), ".xml"),
            Event::CameOrWent("instance-1")
        );
        assert_eq!(
            classify(F::IN_DELETE, Some("instance-1.xml"), ".xml"),
            Event::CameOrWent("instance-1")
        );
        assert_eq!(
            classify(F::IN_CLOSE_WRITE, Some("instance-1.xml"), ".xml"),
            Event::Written("instance-1")
        );
        for other in ["instance-1.xml.new", "instance-1.pid", "instance-1.monitor"] {
            assert_eq!(
                classify(F::IN_CREATE, Some(other), ".xml"),
                Event::Ignored,
                "{other}"
            );
        }
        assert_eq!(classify(F::IN_CREATE, None, ".xml"), Event::Ignored);
    }

    #[test]
    fn a_real_watch_reports_rewrites_renames_and_removals() {
        let dir = std::env::temp_dir().join(format!("hvscope-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.xml"), "1").unwrap();
        let w = DirWatch::new(&dir, ".xml").unwrap();
        let none = Changes::Some {
            names: HashSet::new(),
            listing: false,
        };
        assert_eq!(w.changes(), none);
        // libvirt's rewrite: a new file renamed over the old one.
        std::fs::write(dir.join("a.xml.new"), "2").unwrap();
        std::fs::rename(dir.join("a.xml.new"), dir.join("a.xml")).unwrap();
        let one = |n: &str, listing| Changes::Some {
            names: HashSet::from([n.to_owned()]),
            listing,
        };
        assert_eq!(w.changes(), one("a", true));
        assert_eq!(w.changes(), none, "drained");
        std::fs::write(dir.join("a.xml"), "3").unwrap();
        assert_eq!(w.changes(), one("a", false));
        std::fs::remove_file(dir.join("a.xml")).unwrap();
        assert_eq!(w.changes(), one("a", true));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(w.changes(), Changes::All, "the directory itself went away");
    }
}
