//! The root filesystem of a diskless node, which lives in RAM: tmpfs or ramfs (`rootfs`), an
//! overlay whose upper layer is on tmpfs, often over a squashfs image (itself in RAM, on a loop
//! device whose backing file sits on tmpfs). Reports how full it is (bytes and inodes, via
//! statvfs) and how much RAM the image pins.
//!
//! statvfs describes whatever is mounted at a path of *this* process's mount namespace, so it is
//! only taken when the host root is the live `/`; below a fixture tree the usage is unknown
//! (`usage: None`) and the mount layout is still read from `proc/mounts`.

use std::path::Path;

use crate::io::HostRoot;
use hvscope_parse::proc::mounts::{self, Mount};

/// Space and inode figures of one filesystem (statvfs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FsUsage {
    pub size_bytes: u64,
    pub free_bytes: u64,
    /// Free for unprivileged users (`f_bavail`).
    pub avail_bytes: u64,
    pub inodes: u64,
    pub inodes_free: u64,
}

impl FsUsage {
    /// Used share of the space, in percent, as `df` computes it: used / (used + available).
    /// `None` for filesystems without a size (ramfs).
    pub fn bytes_used_percent(&self) -> Option<f64> {
        let used = self.size_bytes.saturating_sub(self.free_bytes);
        let denom = used + self.avail_bytes;
        (self.size_bytes > 0 && denom > 0).then(|| used as f64 * 100.0 / denom as f64)
    }

    /// Used share of the inodes, in percent; `None` without an inode limit (ramfs).
    pub fn inodes_used_percent(&self) -> Option<f64> {
        (self.inodes > 0).then(|| {
            self.inodes.saturating_sub(self.inodes_free) as f64 * 100.0 / self.inodes as f64
        })
    }

    /// Bytes in use.
    pub fn used_bytes(&self) -> u64 {
        self.size_bytes.saturating_sub(self.free_bytes)
    }
}

/// RAM-backed filesystem types.
pub fn is_ram_fs(fs_type: &str) -> bool {
    matches!(fs_type, "tmpfs" | "ramfs" | "rootfs")
}

/// How `/` is built, from the mount table.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Layout {
    pub root: Mount,
    /// For an overlay root: the mount holding `upperdir`.
    pub upper: Option<Mount>,
    /// For an overlay root: the mounts holding each `lowerdir` layer.
    pub lowers: Vec<Mount>,
}

impl Layout {
    /// True when what is written to `/` ends up in RAM.
    pub fn ram_backed(&self) -> bool {
        is_ram_fs(&self.root.fs_type) || self.upper.as_ref().is_some_and(|u| is_ram_fs(&u.fs_type))
    }
}

/// The mount holding `path` (longest mount point that is a path prefix of it; last wins).
pub fn mount_of<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    let mut best: Option<&Mount> = None;
    for m in mounts {
        let mp = m.mount_point.trim_end_matches('/');
        let under = path == mp || path.starts_with(&format!("{mp}/")) || m.mount_point == "/";
        if under && best.is_none_or(|b| m.mount_point.len() >= b.mount_point.len()) {
            best = Some(m);
        }
    }
    best
}

/// The layout of `/` in `mounts`; `None` when nothing is mounted at `/`.
pub fn layout(mounts: &[Mount]) -> Option<Layout> {
    let root = mounts::effective(mounts, "/")?.clone();
    let mut out = Layout {
        root,
        upper: None,
        lowers: Vec::new(),
    };
    if out.root.fs_type == "overlay" {
        // The mounts below were made before the overlay: search only those.
        let before = &mounts[..mounts.iter().rposition(|m| m == &out.root).unwrap_or(0)];
        out.upper = out
            .root
            .option("upperdir")
            .and_then(|u| mount_of(before, u))
            .cloned();
        if let Some(lower) = out.root.option("lowerdir") {
            for l in lower.split(':').filter(|l| !l.is_empty()) {
                if let Some(m) = mount_of(before, l)
                    && !out.lowers.contains(m)
                {
                    out.lowers.push(m.clone());
                }
            }
        }
    }
    Some(out)
}

/// What was learnt about the root filesystem.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RootFs {
    pub layout: Layout,
    pub ram_backed: bool,
    /// Usage of `/` (statvfs); `None` below a fixture tree.
    pub usage: Option<FsUsage>,
    /// Usage of the overlay's upper filesystem, when `/` is an overlay (live host only).
    pub upper_usage: Option<FsUsage>,
    /// RAM the OS image holds: used bytes of the RAM-backed filesystems `/` is made of, plus
    /// the size of loop-mounted image layers (squashfs) whose backing file is on such a
    /// filesystem. `None` when usage could not be measured.
    pub image_ram_bytes: Option<u64>,
}

/// The root filesystem could not be examined.
#[derive(Debug, thiserror::Error)]
pub enum RootFsError {
    #[error("no filesystem mounted at / in proc/mounts")]
    NoRoot,
    #[error("statvfs {path}: {source}")]
    Statvfs {
        path: String,
        #[source]
        source: nix::Error,
    },
}

/// statvfs of a path of this process's mount namespace.
pub fn statvfs(path: &str) -> Result<FsUsage, RootFsError> {
    let s = nix::sys::statvfs::statvfs(Path::new(path)).map_err(|source| RootFsError::Statvfs {
        path: path.to_owned(),
        source,
    })?;
    let frag = s.fragment_size();
    Ok(FsUsage {
        size_bytes: (s.blocks() as u64).saturating_mul(frag),
        free_bytes: (s.blocks_free() as u64).saturating_mul(frag),
        avail_bytes: (s.blocks_available() as u64).saturating_mul(frag),
        inodes: s.files() as u64,
        inodes_free: s.files_free() as u64,
    })
}

/// Size of loop device `dev` (`/dev/loop3`) when its backing file is on a RAM filesystem.
fn loop_image_bytes(root: &HostRoot, mounts: &[Mount], dev: &str) -> Option<u64> {
    let name = dev.strip_prefix("/dev/")?;
    let backing = root
        .read_string(format!("sys/block/{name}/loop/backing_file"))
        .ok()?;
    let on = mount_of(mounts, backing.trim())?;
    if !is_ram_fs(&on.fs_type) {
        return None;
    }
    let sectors: u64 = root
        .read_string(format!("sys/block/{name}/size"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    sectors.checked_mul(512)
}

/// Examines `/` given the host's mount table.
pub fn collect(root: &HostRoot, mounts: &[Mount]) -> Result<RootFs, RootFsError> {
    let layout = layout(mounts).ok_or(RootFsError::NoRoot)?;
    let mut out = RootFs {
        ram_backed: layout.ram_backed(),
        ..Default::default()
    };
    if root.is_live() {
        let usage = statvfs("/")?;
        out.usage = Some(usage);
        let mut image = if is_ram_fs(&layout.root.fs_type) {
            usage.used_bytes()
        } else {
            0
        };
        if let Some(u) = &layout.upper {
            let uu = statvfs(&u.mount_point)?;
            out.upper_usage = Some(uu);
            if is_ram_fs(&u.fs_type) {
                image += uu.used_bytes();
            }
        }
        for l in &layout.lowers {
            if is_ram_fs(&l.fs_type) && Some(l) != layout.upper.as_ref() {
                image += statvfs(&l.mount_point)?.used_bytes();
            } else if let Some(b) = loop_image_bytes(root, mounts, &l.device) {
                image += b;
            }
        }
        out.image_ram_bytes = Some(image);
    }
    out.layout = layout;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DISKLESS: &str = "rootfs / rootfs rw 0 0\n\
        tmpfs /run tmpfs rw,size=1024k 0 0\n\
        /dev/loop0 /run/ro squashfs ro 0 0\n\
        tmpfs /run/rw tmpfs rw,size=4g 0 0\n\
        overlay / overlay rw,lowerdir=/run/ro,upperdir=/run/rw/upper,workdir=/run/rw/work 0 0\n\
        tmpfs /run/rw/upper/tmp tmpfs rw 0 0\n";

    #[test]
    fn overlay_on_tmpfs_over_squashfs() {
        let m = mounts::parse(DISKLESS).unwrap();
        let l = layout(&m).unwrap();
        assert_eq!(l.root.fs_type, "overlay");
        assert_eq!(l.upper.as_ref().unwrap().mount_point, "/run/rw");
        assert_eq!(l.lowers.len(), 1);
        assert_eq!(l.lowers[0].fs_type, "squashfs");
        assert!(l.ram_backed());
        assert_eq!(mount_of(&m, "/run/rwx").unwrap().mount_point, "/run");
    }

    #[test]
    fn plain_roots() {
        let m = mounts::parse("tmpfs / tmpfs rw,size=8g 0 0\n").unwrap();
        assert!(layout(&m).unwrap().ram_backed());
        let m = mounts::parse("/dev/vda / ext4 rw 0 0\n").unwrap();
        let l = layout(&m).unwrap();
        assert!(!l.ram_backed() && l.upper.is_none());
        assert!(layout(&mounts::parse("tmpfs /run tmpfs rw 0 0").unwrap()).is_none());
    }

    #[test]
    fn percentages() {
        let u = FsUsage {
            size_bytes: 100,
            free_bytes: 20,
            avail_bytes: 10,
            inodes: 10,
            inodes_free: 1,
        };
        assert_eq!(u.bytes_used_percent(), Some(80.0 * 100.0 / 90.0));
        assert_eq!(u.inodes_used_percent(), Some(90.0));
        let ramfs = FsUsage::default();
        assert_eq!(ramfs.bytes_used_percent(), None);
        assert_eq!(ramfs.inodes_used_percent(), None);
    }

    #[test]
    fn fixture_has_layout_but_no_usage_and_live_has_usage() {
        let fx = HostRoot::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/libvirt-kvm-2vm"
        ));
        let text = fx.read_string("proc/mounts").unwrap();
        let r = collect(&fx, &mounts::parse(&text).unwrap()).unwrap();
        assert_eq!(r.layout.root.fs_type, "ext4");
        assert!(r.usage.is_none() && r.image_ram_bytes.is_none());
        let live = HostRoot::default();
        let text = live.read_string("proc/mounts").unwrap();
        let r = collect(&live, &mounts::parse(&text).unwrap()).unwrap();
        assert!(r.usage.unwrap().size_bytes > 0);
    }
}
