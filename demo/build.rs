//! Bundles the sample hypervisor: every file and symlink of the fixture host roots the demo's
//! second agent reads (`agent/tests/fixtures/libvirt-kvm-2vm-drift` and `iscsi-guest-failed`,
//! real captures), embedded with `include_bytes!` so the binary needs no checkout at run time.
//! The demo writes them out into its temporary directory (`src/sample.rs`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The fixture trees, in the order they are laid over each other.
const TREES: [&str; 2] = ["libvirt-kvm-2vm-drift", "iscsi-guest-failed"];

fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        let rel = p.strip_prefix(root).expect("inside root");
        // Notes for humans, not host paths.
        if rel.starts_with("_meta") || rel == Path::new("SCENARIO.md") {
            continue;
        }
        let meta = std::fs::symlink_metadata(&p).expect("stat");
        if meta.is_dir() {
            walk(root, &p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let fixtures = manifest.join("../agent/tests/fixtures");
    let mut code = String::from(
        "/// The sample's entries: (tree, path in the host root, content or symlink target).\n\
         pub const ENTRIES: &[(&str, &str, Entry)] = &[\n",
    );
    for tree in TREES {
        let root = fixtures.join(tree);
        println!("cargo:rerun-if-changed={}", root.display());
        let mut files = Vec::new();
        walk(&root, &root, &mut files);
        for p in files {
            let rel = p
                .strip_prefix(&root)
                .expect("inside root")
                .to_str()
                .expect("utf-8 path");
            let meta = std::fs::symlink_metadata(&p).expect("stat");
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&p).expect("readlink");
                writeln!(
                    code,
                    "    ({tree:?}, {rel:?}, Entry::Link({:?})),",
                    target.to_str().expect("utf-8")
                )
                .unwrap();
            } else {
                let abs = p.canonicalize().expect("canonical path");
                writeln!(
                    code,
                    "    ({tree:?}, {rel:?}, Entry::File(include_bytes!({:?}))),",
                    abs.to_str().expect("utf-8")
                )
                .unwrap();
            }
        }
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("out dir")).join("sample_tree.rs");
    std::fs::write(out, code).expect("write sample_tree.rs");
}
