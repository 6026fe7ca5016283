//! Hugepage pools: `/sys/kernel/mm/hugepages/hugepages-<size>kB/{nr,free,resv,surplus}_hugepages`
//! (host-wide) and the same below `/sys/devices/system/node/node<N>/hugepages/` (per node).
//! Nova backs `hw:mem_page_size=large` guests with these pools.

use std::path::Path;

use super::files::SysFiles;
use hvscope_parse::sys::hugepages::parse_dir_name;
use hvscope_parse::sys::{index_of, parse_u64};

use super::SysError;
use crate::io::{FdBudget, HostRoot};

/// One pool (one page size, host-wide or on one node).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pool {
    /// `None` for the host-wide pool.
    pub node: Option<u32>,
    pub page_size_bytes: u64,
    pub total: u64,
    pub free: u64,
    /// Reserved for mappings but not yet faulted in (host-wide pools only).
    pub reserved: Option<u64>,
    pub surplus: u64,
}

fn read_pools(
    root: &HostRoot,
    fds: &FdBudget,
    files: &mut SysFiles,
    base: &Path,
    names: &[String],
    node: Option<u32>,
    out: &mut Vec<Pool>,
) -> Result<(), SysError> {
    for name in names {
        let Some(page_size_bytes) = parse_dir_name(name) else {
            continue;
        };
        let dir = base.join(name);
        out.push(Pool {
            node,
            page_size_bytes,
            total: files.read_parsed(root, fds, &dir.join("nr_hugepages"), parse_u64)?,
            free: files.read_parsed(root, fds, &dir.join("free_hugepages"), parse_u64)?,
            reserved: files.read_optional(root, fds, &dir.join("resv_hugepages"), parse_u64)?,
            surplus: files.read_parsed(root, fds, &dir.join("surplus_hugepages"), parse_u64)?,
        });
    }
    Ok(())
}

/// Reads the host-wide and per-node pools. `None` when the kernel offers no hugepages. The
/// counters stay open and the listings of pools and nodes are reused ([`super::files`]).
pub fn read(
    root: &HostRoot,
    fds: &FdBudget,
    files: &mut SysFiles,
) -> Result<Option<Vec<Pool>>, SysError> {
    let global = Path::new("sys/kernel/mm/hugepages");
    let Some(sizes) = files.list_dir(root, global)? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    read_pools(root, fds, files, global, &sizes, None, &mut out)?;
    let nodes = Path::new("sys/devices/system/node");
    for name in files.list_dir(root, nodes)?.unwrap_or_default() {
        if let Some(n) = index_of(&name, "node") {
            let dir = nodes.join(&name).join("hugepages");
            let sizes = files.list_dir(root, &dir)?.unwrap_or_default();
            read_pools(root, fds, files, &dir, &sizes, Some(n), &mut out)?;
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_synthetic_tree() {
        let dir = std::env::temp_dir().join(format!("hvscope-hp-{}", std::process::id()));
        let pool = dir.join("sys/kernel/mm/hugepages/hugepages-2048kB");
        let npool = dir.join("sys/devices/system/node/node1/hugepages/hugepages-2048kB");
        for (d, resv) in [(&pool, true), (&npool, false)] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("nr_hugepages"), "512\n").unwrap();
            std::fs::write(d.join("free_hugepages"), "100\n").unwrap();
            std::fs::write(d.join("surplus_hugepages"), "0\n").unwrap();
            if resv {
                std::fs::write(d.join("resv_hugepages"), "3\n").unwrap();
            }
        }
        let fds = FdBudget::for_process();
        let p = read(&HostRoot::new(&dir), &fds, &mut SysFiles::default())
            .unwrap()
            .unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].node, p[0].total, p[0].free, p[0].reserved),
            (None, 512, 100, Some(3))
        );
        assert_eq!((p[1].node, p[1].reserved), (Some(1), None));
        std::fs::write(pool.join("free_hugepages"), "lots\n").unwrap();
        assert!(read(&HostRoot::new(&dir), &fds, &mut SysFiles::default()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            read(&HostRoot::new(&dir), &fds, &mut SysFiles::default())
                .unwrap()
                .is_none()
        );
    }
}
