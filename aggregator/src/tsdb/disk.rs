//! Closed chunks on disk, as Prometheus keeps its head's full chunks in `chunks_head/`: a chunk
//! is immutable once cut, so the head writes it to a file and keeps only where it is (48 bytes
//! instead of the chunk's few hundred). Readers `pread` it back; the kernel's page cache, which
//! it may drop under pressure, holds the hot ones, not the aggregator's heap.
//!
//! The files are unnamed (`O_TMPFILE` in the WAL's directory, or created and unlinked at once
//! where the file system lacks it): nothing to clean after a crash, since the WAL rebuilds the
//! head on start. A file is freed when the last chunk in it is dropped by retention (every
//! chunk holds its file), so the space used follows the head's retention.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Size at which a new chunk file is started (offsets are 32-bit).
pub const DEFAULT_FILE_BYTES: u32 = 256 << 20;

/// One unnamed chunk file.
#[derive(Debug)]
pub struct ChunkFile {
    file: File,
    /// Files open: closed (and their space freed) when the last chunk in one goes.
    open: Arc<AtomicU64>,
}

impl Drop for ChunkFile {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where one closed chunk is (16 bytes: the series' list of them is most of what a series
/// holds on the heap at a long retention).
#[derive(Debug, Clone)]
pub struct DiskChunk {
    file: Arc<ChunkFile>,
    offset: u32,
    len: u16,
    samples: u16,
}

impl DiskChunk {
    /// Bytes of the chunk.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Samples in the chunk (as its header says).
    pub fn samples(&self) -> u16 {
        self.samples
    }

    /// True for a chunk of no bytes (never written by the head).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reads the chunk back.
    pub fn read(&self) -> io::Result<Arc<[u8]>> {
        let mut buf = vec![0u8; self.len()];
        self.file
            .file
            .read_exact_at(&mut buf, u64::from(self.offset))?;
        Ok(Arc::from(buf))
    }
}

#[derive(Debug)]
struct Current {
    file: Arc<ChunkFile>,
    end: u32,
}

/// The chunk files of one head.
#[derive(Debug)]
pub struct ChunkFiles {
    dir: PathBuf,
    file_bytes: u32,
    current: Mutex<Current>,
    open: Arc<AtomicU64>,
    /// Chunks that could not be written (they stay in memory).
    write_errors: AtomicU64,
}

impl ChunkFiles {
    /// Chunk files in `dir` (which must exist and be writable: checked here by opening the
    /// first file).
    pub fn open(dir: &Path) -> io::Result<Self> {
        Self::with_file_bytes(dir, DEFAULT_FILE_BYTES)
    }

    /// As [`ChunkFiles::open`], starting a new file every `file_bytes` bytes.
    pub fn with_file_bytes(dir: &Path, file_bytes: u32) -> io::Result<Self> {
        let open = Arc::new(AtomicU64::new(0));
        let first = unnamed_file(dir, &open)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            file_bytes: file_bytes.max(1),
            current: Mutex::new(Current {
                file: Arc::new(first),
                end: 0,
            }),
            open,
            write_errors: AtomicU64::new(0),
        })
    }

    /// Writes a closed chunk of `samples` samples; on an error (a full disk, a chunk over 64
    /// KiB, which 120 XOR samples never make) the caller keeps it in memory.
    pub fn write(&self, bytes: &[u8], samples: u16) -> io::Result<DiskChunk> {
        self.try_write(bytes, samples).inspect_err(|_| {
            self.write_errors.fetch_add(1, Ordering::Relaxed);
        })
    }

    fn try_write(&self, bytes: &[u8], samples: u16) -> io::Result<DiskChunk> {
        let len = u16::try_from(bytes.len()).map_err(|_| io::Error::other("chunk too large"))?;
        let (file, offset) = {
            let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
            if u64::from(cur.end) + u64::from(len) > u64::from(self.file_bytes) {
                *cur = Current {
                    file: Arc::new(unnamed_file(&self.dir, &self.open)?),
                    end: 0,
                };
            }
            let at = cur.end;
            cur.end += u32::from(len);
            (cur.file.clone(), at)
        };
        // Written outside the lock; the range is this chunk's alone.
        file.file.write_all_at(bytes, u64::from(offset))?;
        Ok(DiskChunk {
            file,
            offset,
            len,
            samples,
        })
    }

    /// Chunk files open (the current one included).
    pub fn files(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Chunks kept in memory because writing them failed, since start.
    pub fn write_errors(&self) -> u64 {
        self.write_errors.load(Ordering::Relaxed)
    }
}

/// A file with no name in `dir`, read-write, deleted when closed.
fn unnamed_file(dir: &Path, open: &Arc<AtomicU64>) -> io::Result<ChunkFile> {
    let tmp = OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(nix::fcntl::OFlag::O_TMPFILE.bits())
        .open(dir);
    let file = match tmp {
        Ok(f) => f,
        // A file system without O_TMPFILE.
        Err(e) if e.raw_os_error() == Some(nix::libc::EOPNOTSUPP) => named_then_unlinked(dir)?,
        Err(e) => return Err(e),
    };
    open.fetch_add(1, Ordering::Relaxed);
    Ok(ChunkFile {
        file,
        open: open.clone(),
    })
}

/// A named file, unlinked as soon as it is open.
fn named_then_unlinked(dir: &Path) -> io::Result<File> {
    // Unique by `create_new`: a clash is an error, not a shared file.
    let path = dir.join(format!(
        ".hvscope-chunks-{}-{:016x}",
        std::process::id(),
        fastrand::u64(..)
    ));
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(f)
}

/// A fresh directory for the tsdb's tests, removed when dropped.
#[cfg(test)]
pub(crate) struct TestDir(pub PathBuf);

#[cfg(test)]
impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// [`TestDir`] named after `name` (unique per test in this process).
#[cfg(test)]
pub(crate) fn test_dir(name: &str) -> TestDir {
    let d = std::env::temp_dir().join(format!("hvscope-chunks-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TestDir(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> TestDir {
        test_dir(name)
    }

    #[test]
    fn chunks_read_back_across_files_and_files_go_with_their_last_chunk() {
        let d = dir("roll");
        let files = ChunkFiles::with_file_bytes(&d.0, 1000).unwrap();
        let chunks: Vec<(Vec<u8>, DiskChunk)> = (0..30u8)
            .map(|i| {
                let bytes = vec![i; 100 + usize::from(i)];
                let c = files.write(&bytes, u16::from(i)).unwrap();
                (bytes, c)
            })
            .collect();
        for (bytes, c) in &chunks {
            assert_eq!(&*c.read().unwrap(), &bytes[..]);
            assert_eq!(c.len(), bytes.len());
            assert_eq!(usize::from(c.samples()), usize::from(bytes[0]));
        }
        let open = files.files();
        assert!(open >= 4, "{open} files for 3.4 kB at 1 kB each");
        // Nothing is named in the directory: a crash leaves nothing behind.
        assert_eq!(std::fs::read_dir(&d.0).unwrap().count(), 0);
        drop(chunks);
        assert_eq!(files.files(), 1, "only the current file stays open");
        assert_eq!(files.write_errors(), 0);
    }

    #[test]
    fn the_fallback_file_has_no_name_either() {
        let d = dir("named");
        let f = named_then_unlinked(&d.0).unwrap();
        f.write_all_at(b"chunk", 3).unwrap();
        let mut back = [0u8; 5];
        f.read_exact_at(&mut back, 3).unwrap();
        assert_eq!(&back, b"chunk");
        assert_eq!(std::fs::read_dir(&d.0).unwrap().count(), 0);
    }

    #[test]
    fn a_chunk_over_64_kib_is_refused_and_counted() {
        let d = dir("large");
        let files = ChunkFiles::open(&d.0).unwrap();
        assert!(files.write(&vec![0; 70_000], 120).is_err());
        assert_eq!(files.write_errors(), 1);
        assert!(files.write(&[1, 2, 3], 1).is_ok());
    }

    #[test]
    fn a_missing_directory_is_an_error_at_open() {
        let d = dir("missing");
        assert!(ChunkFiles::open(&d.0.join("nope")).is_err());
    }
}
