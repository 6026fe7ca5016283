//! The one I/O layer between the pure parsers and the sources: where host paths resolve
//! ([`HostRoot`]), the files read again every collection ([`KeptFile`]), the change signals that
//! say when a cached result still holds (the inotify [`DirWatch`], the mount table's `POLLPRI`,
//! [`FileStamp`] and [`DirStamp`]) and the one refresh period of whatever no signal vouches for
//! ([`Cadence`], [`REFRESH`]).

mod cadence;
mod kept;
mod root;
mod signal;
mod watch;

pub use cadence::{Cadence, Cursor, REFRESH, Schedule};
pub use kept::{KeptFile, fd_budget};
pub use root::{HostRoot, MAX_FILE_BYTES, ReadError, read_bounded};
pub use signal::{DirStamp, FileStamp, listing_holds};
pub use watch::{Changes, DirWatch};
