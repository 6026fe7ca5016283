//! A target's progress through the WAL, kept on disk so a restart resumes where the receiver
//! left off. Per shard: `acked`, the WAL position up to which every sample of that shard was
//! answered by the receiver (stored, or refused for good), and `inflight`, the end of the
//! request being sent (written before it goes out). After a crash the shard first sends
//! exactly that request again, rebuilt from the same WAL records, so a receiver that already
//! had it sees a pure duplicate (Prometheus refuses it as out of order, VictoriaMetrics and
//! Mimir drop it) and nothing new is ever mixed into a request the receiver would refuse.
//!
//! The file is text, written to a temporary name and renamed over the old one (atomic):
//! ```text
//! hvscope-remote-write-checkpoint 1 shards=2
//! 0 7 1024 7 2048
//! 1 7 1024 - -
//! ```
//! (shard, acked segment and offset, in-flight segment and offset or `- -`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::wal::reader::Position;

/// A checkpoint could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("remote-write checkpoint {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One shard's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShardProgress {
    pub acked: Position,
    pub inflight: Option<Position>,
}

/// Every shard's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub shards: Vec<ShardProgress>,
}

impl Checkpoint {
    /// Nothing sent yet: every shard starts at the oldest WAL segment.
    pub fn fresh(shards: usize) -> Self {
        Self {
            shards: vec![ShardProgress::default(); shards],
        }
    }

    /// The text form.
    pub fn render(&self) -> String {
        let mut o = format!(
            "hvscope-remote-write-checkpoint 1 shards={}\n",
            self.shards.len()
        );
        for (i, s) in self.shards.iter().enumerate() {
            let _ = write!(o, "{i} {} {}", s.acked.segment, s.acked.offset);
            match s.inflight {
                Some(p) => {
                    let _ = writeln!(o, " {} {}", p.segment, p.offset);
                }
                None => o.push_str(" - -\n"),
            }
        }
        o
    }

    /// Parses the text form for `shards` shards. A file written with another shard count
    /// maps series to shards differently: every shard then resumes from the least advanced
    /// one (a receiver may see some samples twice) and the in-flight requests are forgotten.
    pub fn parse(text: &str, shards: usize) -> Result<Self, String> {
        let mut lines = text.lines();
        let head = lines.next().ok_or("empty")?;
        let n: usize = head
            .strip_prefix("hvscope-remote-write-checkpoint 1 shards=")
            .ok_or_else(|| format!("unknown header {head:?}"))?
            .parse()
            .map_err(|_| format!("bad shard count in {head:?}"))?;
        let mut v = Vec::with_capacity(n);
        for line in lines.take(n) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() != 5 {
                return Err(format!("bad line {line:?}"));
            }
            let num = |s: &str| {
                s.parse::<u64>()
                    .map_err(|_| format!("bad number in {line:?}"))
            };
            let acked = Position {
                segment: num(f[1])?,
                offset: num(f[2])?,
            };
            let inflight = if f[3] == "-" {
                None
            } else {
                Some(Position {
                    segment: num(f[3])?,
                    offset: num(f[4])?,
                })
            };
            v.push(ShardProgress { acked, inflight });
        }
        if v.len() != n {
            return Err(format!("{} shard lines for {n} shards", v.len()));
        }
        if n == shards {
            return Ok(Self { shards: v });
        }
        let least = v.iter().map(|s| s.acked).min().unwrap_or_default();
        Ok(Self {
            shards: vec![
                ShardProgress {
                    acked: least,
                    inflight: None
                };
                shards
            ],
        })
    }

    /// Where reading must start: the least advanced shard.
    pub fn start(&self) -> Position {
        self.shards
            .iter()
            .map(|s| s.acked)
            .min()
            .unwrap_or_default()
    }
}

/// The file a target's checkpoint lives in.
#[derive(Debug, Clone)]
pub struct CheckpointFile {
    path: PathBuf,
}

fn err(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A name safe as a file name: `[A-Za-z0-9._-]`, the rest as `_`.
pub fn file_name(target: &str) -> String {
    let s: String = target
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{s}.checkpoint")
}

impl CheckpointFile {
    /// `<wal_dir>/remote_write/<target>.checkpoint`.
    pub fn new(wal_dir: &Path, target: &str) -> Self {
        Self {
            path: wal_dir.join("remote_write").join(file_name(target)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored checkpoint; a fresh one when there is none or it cannot be read (logged).
    pub fn load(&self, shards: usize) -> Checkpoint {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => match Checkpoint::parse(&text, shards) {
                Ok(c) => c,
                Err(why) => {
                    tracing::warn!(path = %self.path.display(), %why,
                        "unreadable remote-write checkpoint: sending the whole WAL again");
                    Checkpoint::fresh(shards)
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Checkpoint::fresh(shards),
            Err(error) => {
                tracing::warn!(path = %self.path.display(), %error,
                    "unreadable remote-write checkpoint: sending the whole WAL again");
                Checkpoint::fresh(shards)
            }
        }
    }

    /// Writes `c` atomically (temporary file, then rename).
    pub fn store(&self, c: &Checkpoint) -> Result<(), CheckpointError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(err(dir))?;
        }
        let tmp = self.path.with_extension("checkpoint.tmp");
        std::fs::write(&tmp, c.render()).map_err(err(&tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(err(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(segment: u64, offset: u64) -> Position {
        Position { segment, offset }
    }

    #[test]
    fn round_trips_and_survives_a_changed_shard_count() {
        let c = Checkpoint {
            shards: vec![
                ShardProgress {
                    acked: p(7, 1024),
                    inflight: Some(p(7, 2048)),
                },
                ShardProgress {
                    acked: p(6, 10),
                    inflight: None,
                },
            ],
        };
        let text = c.render();
        assert_eq!(Checkpoint::parse(&text, 2).unwrap(), c);
        assert_eq!(c.start(), p(6, 10));
        let three = Checkpoint::parse(&text, 3).unwrap();
        assert_eq!(three.shards.len(), 3);
        assert!(
            three
                .shards
                .iter()
                .all(|s| s.acked == p(6, 10) && s.inflight.is_none())
        );
        assert!(Checkpoint::parse("nope", 2).is_err());
        assert!(
            Checkpoint::parse("hvscope-remote-write-checkpoint 1 shards=2\n0 1 2 - -\n", 2)
                .is_err()
        );

        let dir = std::env::temp_dir().join(format!("hvscope-rwckpt-{}", std::process::id()));
        let f = CheckpointFile::new(&dir, "http://vm:8428/api/v1/write");
        assert!(
            f.path()
                .ends_with("remote_write/http___vm_8428_api_v1_write.checkpoint")
        );
        assert_eq!(f.load(2), Checkpoint::fresh(2));
        f.store(&c).unwrap();
        assert_eq!(f.load(2), c);
        std::fs::write(f.path(), "garbage").unwrap();
        assert_eq!(f.load(2), Checkpoint::fresh(2));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
