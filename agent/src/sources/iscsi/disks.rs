//! The iSCSI devices' lines of the collection's one reading of `proc/diskstats`.

use std::collections::HashSet;
use std::sync::Arc;

use super::IscsiError;
use crate::io::HostRoot;
use crate::sources::proc::files::{Diskstats, DiskstatsError};
use hvscope_parse::proc::diskstats::{self, DiskStat};

/// The devices picked from `proc/diskstats` last time, in file order.
#[derive(Debug, Default)]
pub(super) struct WantedDisks {
    pub order: Vec<Arc<str>>,
}

impl WantedDisks {
    /// The lines of the devices in `wanted`, from the collection's reading of `proc/diskstats`.
    /// Those of the last reading come first in the same order, so most lines are matched by one
    /// comparison, not a hash lookup. When the whole file does not parse, only the wanted lines
    /// are parsed (a bad line of another device does not matter here).
    pub fn pick(
        &mut self,
        root: &HostRoot,
        disks: Diskstats<'_>,
        wanted: &HashSet<String>,
    ) -> Result<Vec<DiskStat>, String> {
        let mut next = self.order.iter();
        let mut in_order = 0;
        let mut stats = Vec::with_capacity(self.order.len());
        let mut known = |name: &str| match next.clone().next() {
            Some(k) if **k == *name => {
                next.next();
                in_order += 1;
                true
            }
            _ => false,
        };
        match (disks.stats(), disks.text()) {
            (Ok(all), _) => {
                for d in all {
                    if known(&d.name) || wanted.contains(&*d.name) {
                        stats.push(d.clone());
                    }
                }
            }
            (Err(DiskstatsError::Parse(_)), Some(text)) => {
                let named = |name: &str| {
                    if known(name) {
                        Some(name.into())
                    } else {
                        wanted.contains(name).then(|| name.into())
                    }
                };
                diskstats::parse_into(text, named, &mut stats).map_err(|source| {
                    IscsiError::Parse {
                        path: root.path("proc/diskstats"),
                        source,
                    }
                    .to_string()
                })?;
            }
            (Err(e), _) => return Err(e.to_string()),
        }
        if in_order != self.order.len() || stats.len() != in_order {
            self.order = stats.iter().map(|d| Arc::clone(&d.name)).collect();
        }
        Ok(stats)
    }
}
