//! The one I/O layer between the pure parsers and the sources: where host paths resolve
//! ([`HostRoot`]), the files read again every collection ([`KeptFile`], [`HeldFile`]) under the
//! one [`FdBudget`], the change signals that say when a cached result still holds (the inotify
//! [`DirWatch`], the mount table's `POLLPRI`, [`FileStamp`] and [`DirStamp`]) and the one
//! refresh period of whatever no signal vouches for ([`Cadence`], [`REFRESH`]).

mod budget;
mod cadence;
mod kept;
mod root;
mod signal;
mod watch;

pub use budget::{
    FdBudget, Holder, Lease, MAX_ISCSI_FILES, MAX_LIBVIRT_FILES, MAX_PROC_FILES, MAX_SYS_FILES,
};
pub use cadence::{Cadence, Cursor, REFRESH, Schedule};
pub use kept::{HeldFile, KeptFile};
pub use root::{HostRoot, MAX_FILE_BYTES, ReadError, read_bounded};
pub use signal::{DirStamp, FileStamp, listing_holds};
pub use watch::{Changes, DirWatch};
