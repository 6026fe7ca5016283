//! Stable ids for label sets. An id is never reused within one agent process, so a batch kept in
//! the spool still names the same series when it is re-sent after a reconnect.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Labels, SeriesBuf};

#[derive(Debug)]
struct Entry {
    id: u64,
    /// Sequence number of the last batch that carried this series.
    last_seq: u64,
}

/// Label set ↔ id, with eviction of series no longer referenced by any unacknowledged batch.
#[derive(Debug, Default)]
pub struct Registry {
    ids: HashMap<Arc<Labels>, Entry>,
    by_id: HashMap<u64, Arc<Labels>>,
    next_id: u64,
}

impl Registry {
    /// Gives every sample of `buf` its id (allocating new ones) and marks them used by batch
    /// `seq`. Returns `(id, value)` pairs in `buf` order.
    pub fn assign(&mut self, buf: &SeriesBuf, seq: u64) -> Vec<(u64, f64)> {
        let mut out = Vec::with_capacity(buf.samples.len());
        for s in &buf.samples {
            let id = match self.ids.get_mut(&s.labels) {
                Some(e) => {
                    e.last_seq = seq;
                    e.id
                }
                None => {
                    self.next_id += 1;
                    let id = self.next_id;
                    let labels = Arc::new(s.labels.clone());
                    self.by_id.insert(id, labels.clone());
                    self.ids.insert(labels, Entry { id, last_seq: seq });
                    id
                }
            };
            out.push((id, s.value));
        }
        out
    }

    /// The labels of series `id`.
    pub fn labels(&self, id: u64) -> Option<&Arc<Labels>> {
        self.by_id.get(&id)
    }

    /// Forgets series whose last use is older than `oldest_needed_seq` (the oldest batch any
    /// spool still holds, or the next sequence when every spool is empty).
    pub fn evict_older_than(&mut self, oldest_needed_seq: u64) -> usize {
        let before = self.ids.len();
        let by_id = &mut self.by_id;
        self.ids.retain(|_, e| {
            let keep = e.last_seq >= oldest_needed_seq;
            if !keep {
                by_id.remove(&e.id);
            }
            keep
        });
        before - self.ids.len()
    }

    /// Number of series known.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when no series is known.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buf(names: &[&str]) -> SeriesBuf {
        let mut b = SeriesBuf::default();
        for n in names {
            b.push(n, "", &[], 1.0);
        }
        b
    }

    #[test]
    fn ids_are_stable_and_never_reused() {
        let mut r = Registry::default();
        let a = r.assign(&buf(&["a", "b"]), 1);
        let b = r.assign(&buf(&["b", "c"]), 2);
        assert_eq!(a[1].0, b[0].0);
        assert_ne!(b[1].0, a[0].0);
        assert_eq!(r.len(), 3);
        // batch 1 acknowledged everywhere: "a" is only referenced by it.
        assert_eq!(r.evict_older_than(2), 1);
        assert!(r.labels(a[0].0).is_none());
        let c = r.assign(&buf(&["a"]), 3);
        assert!(c[0].0 > b[1].0, "a re-appearing series gets a fresh id");
    }
}
