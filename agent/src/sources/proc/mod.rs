//! `/proc` of the host: the thin readers that feed the pure parsers of `hvscope_parse::proc`
//! through the [I/O layer](crate::io) ([`files`]: the host-wide files read every collection and
//! the mount table).

pub mod files;

use hvscope_parse::ParseError;

use crate::io::ReadError;

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
