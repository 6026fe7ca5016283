//! `/proc` of the host: pure parsers (one module per file format) and the thin reader that
//! feeds them through the [`HostRoot`].

pub mod cmdline;
pub mod diskstats;
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

use crate::host_root::{HostRoot, ReadError};

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

/// Reads `rel` below the root and parses it with `parse`.
pub fn read_parsed<T>(
    root: &HostRoot,
    rel: &'static str,
    parse: fn(&str) -> Result<T, ParseError>,
) -> Result<T, ProcError> {
    let text = root.read_string(rel)?;
    parse(&text).map_err(|source| ProcError::Parse { file: rel, source })
}
