//! `/sys` of the host: thin readers through the [`HostRoot`] that hand each attribute to its
//! pure parser in `hvscope_parse::sys`. sysfs attributes are one value per file; a missing
//! attribute means the kernel does not offer it for that object (not an error), and reading an
//! attribute the device cannot answer (`carrier` of a down link) fails with EINVAL.

pub mod cpu;
pub mod files;
pub mod hugepages;
pub mod net;
pub mod node;

use std::path::{Path, PathBuf};

use hvscope_parse::ParseError;

use crate::io::{HostRoot, ReadError};

/// Reading or parsing one sysfs file failed.
#[derive(Debug, thiserror::Error)]
pub enum SysError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: ParseError,
    },
    #[error("{path}: cannot list: {source}")]
    List {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// At most this many entries are listed in one sysfs directory (a broken or hostile tree must
/// not make the agent allocate without bound).
pub const MAX_DIR_ENTRIES: usize = 65_536;

/// Reads `rel` and parses it with `parse`.
pub fn read_parsed<T>(
    root: &HostRoot,
    rel: &Path,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Result<T, SysError> {
    let text = root.read_string(rel)?;
    parse(&text).map_err(|source| SysError::Parse {
        path: root.path(rel),
        source,
    })
}

/// Like [`read_parsed`], but a missing file or an attribute the kernel refuses to answer
/// (EINVAL, as `carrier` and `speed` of a down link do) is `None`.
pub fn read_optional<T>(
    root: &HostRoot,
    rel: &Path,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Result<Option<T>, SysError> {
    optional(read_parsed(root, rel, parse))
}

/// A read's result with a missing file or an attribute the kernel refuses to answer as `None`.
fn optional<T>(read: Result<T, SysError>) -> Result<Option<T>, SysError> {
    match read {
        Ok(v) => Ok(Some(v)),
        Err(SysError::Read(ReadError::Gone { .. })) => Ok(None),
        Err(SysError::Read(ReadError::Io { source, .. }))
            if source.kind() == std::io::ErrorKind::InvalidInput =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Names in directory `rel` below the root, sorted; `None` when the directory does not exist.
pub fn list_dir(root: &HostRoot, rel: &Path) -> Result<Option<Vec<String>>, SysError> {
    let path = root.path(rel);
    let rd = match std::fs::read_dir(&path) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(SysError::List { path, source }),
    };
    let mut names = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|source| SysError::List {
            path: path.clone(),
            source,
        })?;
        if names.len() >= MAX_DIR_ENTRIES {
            return Err(SysError::List {
                path,
                source: std::io::Error::other(format!("more than {MAX_DIR_ENTRIES} entries")),
            });
        }
        if let Some(n) = entry.file_name().to_str() {
            names.push(n.to_owned());
        }
    }
    names.sort();
    Ok(Some(names))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hvscope_parse::sys::parse_u64;

    #[test]
    fn optional_reads() {
        let root = HostRoot::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/libvirt-kvm-2vm"
        ));
        assert_eq!(
            read_optional(&root, Path::new("sys/nope"), parse_u64).unwrap(),
            None
        );
        let names = list_dir(&root, Path::new("sys/devices/system/node"))
            .unwrap()
            .unwrap();
        assert!(names.contains(&"node0".to_owned()));
        assert!(list_dir(&root, Path::new("sys/nope")).unwrap().is_none());
    }
}
