//! Configuration files: TOML into a `serde` type, with the file's path in every error. Both
//! binaries load theirs with [`load_toml`] (or [`parse_toml`] for text already read) and report
//! their own validation failures as [`ConfigError::Invalid`].

use std::path::{Path, PathBuf};

/// The configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl ConfigError {
    /// True for what provisioning fixes by itself at boot: a configuration file not written
    /// yet, or no aggregator named yet.
    pub fn may_appear_later(&self) -> bool {
        match self {
            ConfigError::Read { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
            ConfigError::Invalid(m) => m.starts_with("no aggregators"),
            ConfigError::Parse { .. } => false,
        }
    }
}

/// Parses a TOML document into `T`, naming `path` in errors (agent and aggregator configs).
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &Path,
) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.message().to_owned(),
    })
}

/// Reads `path` and parses it with [`parse_toml`].
pub fn load_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_toml(&text, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        interval_secs: u64,
    }

    #[test]
    fn errors_name_the_file() {
        let s: Sample = parse_toml("interval_secs = 3", Path::new("a.toml")).unwrap();
        assert_eq!(s, Sample { interval_secs: 3 });
        let e = parse_toml::<Sample>("intervall_secs = 3", Path::new("a.toml")).unwrap_err();
        assert!(e.to_string().starts_with("a.toml: "), "{e}");
        assert!(e.to_string().contains("unknown field"), "{e}");
        assert!(!e.may_appear_later());
    }

    #[test]
    fn a_missing_file_may_appear_later() {
        let path =
            std::env::temp_dir().join(format!("hvscope-no-such-{}.toml", std::process::id()));
        let e = load_toml::<Sample>(&path).unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }), "{e}");
        assert!(e.to_string().contains("hvscope-no-such-"), "{e}");
        assert!(e.may_appear_later());
        assert!(ConfigError::Invalid("no aggregators: …".into()).may_appear_later());
        assert!(!ConfigError::Invalid("interval_secs must be 1..=3600".into()).may_appear_later());
    }
}
