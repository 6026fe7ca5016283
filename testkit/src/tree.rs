//! Fixture trees: a fresh temporary directory that a test fills with files and symlinks laid out
//! as the code under test expects them (a host root: `proc/…`, `sys/…`, `dev/…`), removed on
//! drop. The one builder behind the agent's synthetic host roots; what a tree means (a process,
//! an interface, an iSCSI session) is written by domain helpers beside the tests that use them.

use std::io::Write as _;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A directory tree under construction; every path argument is relative to its root.
#[derive(Debug)]
pub struct TestTree {
    root: PathBuf,
}

impl TestTree {
    /// An empty tree in a fresh temporary directory named after `tag`.
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let root = std::env::temp_dir().join(format!(
            "hvscope-tree-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create temp tree");
        Self { root }
    }

    /// The tree's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The absolute path of `rel`.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    /// Writes (or replaces) `rel`, creating its parents.
    pub fn write(&self, rel: &str, content: &str) {
        let p = self.parent_made(rel);
        std::fs::write(p, content).expect("write");
    }

    /// Appends `content` to `rel` (created when missing).
    pub fn append(&self, rel: &str, content: &str) {
        let p = self.parent_made(rel);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .and_then(|mut f| f.write_all(content.as_bytes()))
            .unwrap_or_else(|e| panic!("append {}: {e}", p.display()));
    }

    /// Creates (or replaces) the symlink `rel` -> `target`, creating its parents.
    pub fn link(&self, rel: &str, target: &str) {
        let p = self.parent_made(rel);
        let _ = std::fs::remove_file(&p);
        symlink(target, p).expect("symlink");
    }

    /// Copies each of `rels` from the directory `from` to the same place in the tree.
    pub fn copy_from(&self, from: &Path, rels: &[&str]) {
        for rel in rels {
            let to = self.parent_made(rel);
            let src = from.join(rel);
            std::fs::copy(&src, to).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
        }
    }

    fn parent_made(&self, rel: &str) -> PathBuf {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().expect("a path inside the tree")).expect("mkdir");
        p
    }
}

/// A writable copy of the whole directory `from` at a fresh temporary path named after `tag`
/// (`cp -a`: links, modes and times as they are), for tests that change a real capture. The
/// caller removes it.
pub fn copy_dir(from: &Path, tag: &str) -> PathBuf {
    let to = std::env::temp_dir().join(format!("hvscope-copy-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&to);
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(&to)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "cp -a {} {}", from.display(), to.display());
    to
}

impl Drop for TestTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_files_links_and_removes_itself() {
        let t = TestTree::new("self");
        let other = TestTree::new("self");
        assert_ne!(t.root(), other.root());
        t.write("a/b/c", "one\n");
        t.write("a/b/c", "two\n");
        t.append("a/log", "x\n");
        t.append("a/log", "y\n");
        t.link("l/to-c", "../a/b/c");
        other.copy_from(t.root(), &["a/b/c", "a/log"]);
        assert_eq!(std::fs::read_to_string(t.join("l/to-c")).unwrap(), "two\n");
        assert_eq!(
            std::fs::read_to_string(other.join("a/log")).unwrap(),
            "x\ny\n"
        );
        t.link("l/to-c", "../a/log");
        assert_eq!(std::fs::read_to_string(t.join("l/to-c")).unwrap(), "x\ny\n");
        let root = t.root().to_path_buf();
        drop(t);
        assert!(!root.exists());
    }
}
