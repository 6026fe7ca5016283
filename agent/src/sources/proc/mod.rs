//! `/proc` of the host: pure parsers (one module per file format) and the thin readers that
//! feed them through the [I/O layer](crate::io) ([`files`]: the host-wide files read every
//! collection and the mount table).

pub mod cmdline;
pub mod diskstats;
pub mod files;
pub mod loadavg;
pub mod meminfo;
pub mod mounts;
pub mod pidstat;
pub mod pidstatus;
pub mod pressure;
pub mod process;
pub mod schedstat;
pub mod stat;
pub mod vmstat;

use crate::io::ReadError;

/// A host file's text did not have the expected format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(String);

impl ParseError {
    /// A parse error with a lower-case message.
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

/// Reading or parsing one `/proc` file failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{file}: {source}")]
    Parse {
        file: &'static str,
        #[source]
        source: ParseError,
    },
}
