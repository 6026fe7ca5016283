//! The `dev/disk/by-path` and `by-id` link maps: listed again only when the directory's
//! [`DirStamp`] moved (or it changed less than 2 s ago), and a slice of the links resolved again
//! per cycle ([`Cursor`]), so every link is checked within each refresh period (any difference
//! lists the directory again).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{IscsiError, read};
use crate::io::{Cursor, DirStamp, HostRoot, listing_holds};

/// One link directory as last listed.
#[derive(Debug, Default)]
pub(super) struct LinkDir {
    stamp: Option<DirStamp>,
    pub map: Arc<BTreeMap<String, String>>,
    /// The links resolved again next.
    cursor: Cursor,
}

/// Lists `dir` again when its stamp says it changed (or a link of this cycle's slice moved).
pub(super) fn read_link_dir(
    root: &HostRoot,
    dir: &str,
    cache: &mut LinkDir,
    now_ns: i128,
) -> Result<(), IscsiError> {
    let stamp = match std::fs::metadata(root.path(dir)) {
        Ok(m) => Some(DirStamp::of(&m)),
        Err(_) => None,
    };
    if let Some(s) = &stamp
        && listing_holds(cache.stamp.as_ref(), s, now_ns)
        && !links_moved(root, dir, cache)
    {
        return Ok(());
    }
    cache.stamp = None;
    cache.map = Arc::new(read::links(root, dir)?);
    cache.stamp = stamp;
    Ok(())
}

/// Resolves this cycle's share of the links of `dir` again: true when one no longer names the
/// device it named.
fn links_moved(root: &HostRoot, dir: &str, cache: &mut LinkDir) -> bool {
    let n = cache.map.len();
    let mut share = cache.cursor.next(n).peekable();
    let Some(&first) = share.peek() else {
        return false;
    };
    let Some(base) = read::open_base(root, dir) else {
        return true;
    };
    let mut links = cache.map.iter().cycle().skip(first);
    share.any(|_| {
        let Some((name, dev)) = links.next() else {
            return true;
        };
        read::link_device(&base, name).as_ref() != Some(dev)
    })
}
