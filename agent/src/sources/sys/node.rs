//! NUMA nodes: `/sys/devices/system/node/node<N>/{cpulist,meminfo}`. The per-node meminfo
//! repeats `Node <N> ` before each `Key: value kB` line.

use std::path::Path;

use super::files::SysFiles;
use hvscope_parse::sys::node::parse_meminfo;
use hvscope_parse::sys::{cpulist, index_of};

use super::SysError;
use crate::io::{FdBudget, HostRoot};
use hvscope_parse::proc::meminfo::MemInfo;

/// One NUMA node.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Node {
    pub node: u32,
    pub cpus: Vec<u32>,
    /// The node's meminfo, values in bytes (counts for HugePages_*).
    pub meminfo: MemInfo,
}

const BASE: &str = "sys/devices/system/node";

/// Reads every NUMA node below `root`. `None` when the kernel has no NUMA directory (built
/// without CONFIG_NUMA). The files stay open and the listing of nodes is reused
/// ([`super::files`]).
pub fn read(
    root: &HostRoot,
    fds: &FdBudget,
    files: &mut SysFiles,
) -> Result<Option<Vec<Node>>, SysError> {
    let base = Path::new(BASE);
    let Some(names) = files.list_dir(root, base)? else {
        return Ok(None);
    };
    let mut nodes = Vec::new();
    for name in names {
        let Some(node) = index_of(&name, "node") else {
            continue;
        };
        let dir = base.join(&name);
        nodes.push(Node {
            node,
            cpus: files.read_parsed(root, fds, &dir.join("cpulist"), cpulist::parse)?,
            meminfo: files
                .read_parsed(root, fds, &dir.join("meminfo"), |t| parse_meminfo(t, node))?,
        });
    }
    nodes.sort_by_key(|n| n.node);
    Ok(Some(nodes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fixture() {
        let root = HostRoot::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/libvirt-kvm-2vm"
        ));
        let fds = FdBudget::for_process();
        let nodes = read(&root, &fds, &mut SysFiles::default())
            .unwrap()
            .unwrap();
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].cpus, vec![0, 1]);
        assert!(
            read(
                &HostRoot::new("/nonexistent-hvscope"),
                &fds,
                &mut SysFiles::default()
            )
            .unwrap()
            .is_none()
        );
    }
}
