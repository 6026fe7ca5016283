//! The host root and its reads now live in [`crate::io`]; these re-exports keep the old paths
//! working for the modules that still import them.

pub use crate::io::{HostRoot, KeptFile, MAX_FILE_BYTES, ReadError, read_bounded};
