//! Stable ids for label sets. An id is never reused within one agent process, so a batch kept in
//! the spool still names the same series when it is re-sent after a reconnect.
//!
//! The registry also adds the process's static labels (rack, …) to each series definition, where
//! the collected label set lacks them, so the per-collection label sets are never copied for it.
//! The series of a collection are mostly label sets kept by the sources and pushed again each
//! time (shared [`Labels`]), so the registry remembers the id of each shared set it saw in the
//! last collections by the address of its pairs: a steady collection neither copies nor hashes
//! any label set. That is sound because the registry keeps a clone of each remembered set:
//! while it does, the pairs cannot be freed (their address cannot be reused for other pairs)
//! nor changed ([`Labels::set`] copies shared pairs first, giving them a new address). A steady
//! collection pushes them in the same order too, so each is first looked for at its position in
//! the last collection: one comparison, no lookup. Label sets a source builds afresh each
//! collection are found the same way, by comparing their pairs with the ones at that position.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};

use super::{Labels, SeriesBuf};

/// A hasher for integer keys (ids, addresses): one multiplication, then the well-mixed high bits
/// rotated down to where the table takes its bucket index.
#[derive(Debug, Default, Clone, Copy)]
pub struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0xf135_7aea_2e62_a9c5);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

type IntMap<K, V> = HashMap<K, V, BuildHasherDefault<IntHasher>>;

/// A set of series ids (the registry's: small integers it hands out, never chosen by the host
/// or a guest), hashed with one multiplication instead of SipHash.
pub type IdSet = std::collections::HashSet<u64, BuildHasherDefault<IntHasher>>;

/// A definition as a key of the id table: the label set and its hash, computed once (SipHash,
/// keyed per registry: label values come from the host and its guests), so that growing the
/// table re-hashes none of the definitions (it hashed every one of them, over all their labels,
/// each time the table doubled: a 10 ms cycle at 16k series).
#[derive(Debug, Clone)]
struct Def {
    hash: u64,
    labels: Labels,
}

impl PartialEq for Def {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.labels == other.labels
    }
}

impl Eq for Def {}

impl Hash for Def {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// A series the registry knows.
#[derive(Debug)]
struct Entry {
    id: u64,
    /// The definition: the collected labels plus the static ones they lack, and its hash.
    def: Def,
    /// Sequence number of the last batch that carried this series.
    last_seq: u64,
}

/// A label set seen recently, by the address of its pairs.
#[derive(Debug)]
struct Seen {
    /// Keeps the pairs alive and shared, so the address keeps naming these pairs.
    _labels: Labels,
    id: u64,
    /// Where its entry is.
    slot: usize,
    /// Sequence number of the last batch that carried this very set.
    seq: u64,
}

/// A sample of the last [`Registry::assign`], at its position.
#[derive(Debug)]
struct Recent {
    /// Keeps the pairs alive, as in [`Seen`].
    labels: Labels,
    id: u64,
    slot: usize,
}

/// Label set ↔ id, with eviction of series no longer referenced by any unacknowledged batch.
///
/// The series are kept in a slab (`entries`, their slot found by id in `slots`), so a label set
/// found by address leads to its entry without a second lookup; and the samples of the last
/// collection are remembered by position, so a collection that pushes the same label sets in the
/// same order (a steady one) finds each without any lookup. An entry found either way is checked
/// to still hold the id (ids are never reused; evicted entries' slots are).
#[derive(Debug, Default)]
pub struct Registry {
    /// Added to every definition that lacks them; explicit labels win.
    static_labels: Vec<(String, String)>,
    /// Keys the definitions' hashes.
    keyed: RandomState,
    ids: IntMap<Def, u64>,
    slots: IntMap<u64, usize>,
    entries: Vec<Option<Entry>>,
    /// Slots of evicted entries, to reuse.
    free: Vec<usize>,
    /// Collected label sets (without the static labels) seen recently, by address.
    seen: IntMap<usize, Seen>,
    /// The samples of the last `assign`, in its order.
    last: Vec<Recent>,
    next_id: u64,
}

impl Registry {
    /// A registry adding `labels` (static labels such as rack) to every series definition that
    /// lacks them.
    pub fn with_static_labels<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut static_labels: Vec<(String, String)> = Vec::new();
        for (k, v) in labels {
            // The first value of a name wins, as when they were added one after the other.
            if !static_labels.iter().any(|(n, _)| n == k) {
                static_labels.push((k.to_owned(), v.to_owned()));
            }
        }
        Self {
            static_labels,
            ..Self::default()
        }
    }

    /// Gives every sample of `buf` its id (allocating new ones) and marks them used by batch
    /// `seq`. Returns `(id, value)` pairs in `buf` order.
    pub fn assign(&mut self, buf: &SeriesBuf, seq: u64) -> Vec<(u64, f64)> {
        let mut out = Vec::with_capacity(buf.samples.len());
        self.last.truncate(buf.samples.len());
        for (i, s) in buf.samples.iter().enumerate() {
            let addr = s.labels.addr();
            // The same set at the same position as last time, its entry still there: the same
            // shared pairs, or pairs built afresh with the same names and values (compared,
            // not hashed).
            let hit = self.last.get(i).and_then(|r| {
                let e = self.entries.get_mut(r.slot)?.as_mut()?;
                (e.id == r.id && (r.labels.addr() == addr || r.labels == s.labels)).then_some(e)
            });
            let id = match hit {
                Some(e) => {
                    e.last_seq = seq;
                    e.id
                }
                None => {
                    let (id, slot) = self.find(&s.labels, seq);
                    if let Some(Some(e)) = self.entries.get_mut(slot) {
                        e.last_seq = seq;
                    }
                    let r = Recent {
                        labels: s.labels.clone(),
                        id,
                        slot,
                    };
                    match self.last.get_mut(i) {
                        Some(old) => *old = r,
                        None => self.last.push(r),
                    }
                    id
                }
            };
            out.push((id, s.value));
        }
        // Label sets built afresh each collection are remembered once per collection: forget
        // those not seen in this one when they outnumber the ones seen (those found by position
        // count as seen).
        if self.seen.len() > 2 * buf.samples.len() + 64 {
            for r in &self.last {
                if let Some(s) = self.seen.get_mut(&r.labels.addr()) {
                    s.seq = seq;
                }
            }
            self.seen.retain(|_, s| s.seq == seq);
        }
        out
    }

    /// The id and slot of collected `labels`, by address, else by value (allocated if new).
    fn find(&mut self, labels: &Labels, seq: u64) -> (u64, usize) {
        let addr = labels.addr();
        if let Some(seen) = self.seen.get_mut(&addr) {
            seen.seq = seq;
            return (seen.id, seen.slot);
        }
        let (id, slot) = self.id_of(labels);
        self.seen.insert(
            addr,
            Seen {
                _labels: labels.clone(),
                id,
                slot,
                seq,
            },
        );
        (id, slot)
    }

    /// The id and slot of collected `labels` (without the static labels), allocated if new.
    fn id_of(&mut self, labels: &Labels) -> (u64, usize) {
        let labels = labels.with_missing(&self.static_labels);
        let def = Def {
            hash: self.keyed.hash_one(&labels),
            labels,
        };
        if let Some(&id) = self.ids.get(&def)
            && let Some(&slot) = self.slots.get(&id)
        {
            return (id, slot);
        }
        self.next_id += 1;
        let id = self.next_id;
        self.ids.insert(def.clone(), id);
        let entry = Some(Entry {
            id,
            def,
            last_seq: 0,
        });
        let slot = match self.free.pop() {
            Some(slot) => {
                self.entries[slot] = entry;
                slot
            }
            None => {
                self.entries.push(entry);
                self.entries.len() - 1
            }
        };
        self.slots.insert(id, slot);
        (id, slot)
    }

    /// The labels of series `id` (its definition, static labels included).
    pub fn labels(&self, id: u64) -> Option<&Labels> {
        let slot = *self.slots.get(&id)?;
        self.entries.get(slot)?.as_ref().map(|e| &e.def.labels)
    }

    /// Forgets series whose last use is older than `oldest_needed_seq` (the oldest batch any
    /// spool still holds, or the next sequence when every spool is empty).
    pub fn evict_older_than(&mut self, oldest_needed_seq: u64) -> usize {
        let mut evicted = 0;
        for (slot, entry) in self.entries.iter_mut().enumerate() {
            if let Some(e) = entry
                && e.last_seq < oldest_needed_seq
            {
                self.ids.remove(&e.def);
                self.slots.remove(&e.id);
                *entry = None;
                self.free.push(slot);
                evicted += 1;
            }
        }
        if evicted > 0 {
            // A forgotten series that re-appears gets a fresh id, even as the same label set.
            let slots = &self.slots;
            self.seen.retain(|_, s| slots.contains_key(&s.id));
        }
        evicted
    }

    /// Number of series known.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when no series is known.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
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

    fn kept(sets: &[&Labels]) -> SeriesBuf {
        let mut b = SeriesBuf::default();
        for l in sets {
            b.push_labels(l, "", 1.0);
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

    #[test]
    fn static_labels_go_into_definitions_and_explicit_ones_win() {
        let mut r = Registry::with_static_labels([("rack", "r1"), ("dc", "d1"), ("rack", "r2")]);
        let mut b = SeriesBuf::default();
        b.push("m", "", &[("device", "sda")], 1.0);
        b.push("m", "", &[("rack", "own")], 2.0);
        let ids = r.assign(&b, 1);
        let d0 = r.labels(ids[0].0).unwrap();
        assert_eq!(d0.get("rack"), Some("r1"), "the first value of a name wins");
        assert_eq!(d0.get("dc"), Some("d1"));
        assert_eq!(d0.get("device"), Some("sda"));
        let d1 = r.labels(ids[1].0).unwrap();
        assert_eq!(
            d1.get("rack"),
            Some("own"),
            "an explicit label is not overridden"
        );
        assert_eq!(d1.get("dc"), Some("d1"));
        assert_eq!(
            b.samples[0].labels.get("rack"),
            None,
            "samples are not changed"
        );
        // A set that already carries the static value is the same series as one lacking it.
        let mut c = SeriesBuf::default();
        c.push(
            "m",
            "",
            &[("device", "sda"), ("rack", "r1"), ("dc", "d1")],
            1.0,
        );
        assert_eq!(r.assign(&c, 2)[0].0, ids[0].0);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn kept_label_sets_keep_their_ids_and_changed_ones_get_new_ids() {
        let mut r = Registry::with_static_labels([("rack", "r1")]);
        let mut a = Labels::new("m", &[("device", "sda")]);
        let b = Labels::new("m", &[("device", "sdb")]);
        let first = r.assign(&kept(&[&a, &b]), 1);
        // Same sets, other order, and a rebuilt copy of `a`: same ids.
        let again = r.assign(&kept(&[&b, &a]), 2);
        assert_eq!((again[0].0, again[1].0), (first[1].0, first[0].0));
        let rebuilt = Labels::new("m", &[("device", "sda")]);
        assert_eq!(r.assign(&kept(&[&rebuilt]), 3)[0].0, first[0].0);
        // `a` changed in place by its source: a new series, `a`'s old id is not reused for it.
        a.set("device", "sdc");
        let changed = r.assign(&kept(&[&a, &b]), 4);
        assert_ne!(changed[0].0, first[0].0);
        assert_eq!(changed[1].0, first[1].0);
        assert_eq!(r.labels(changed[0].0).unwrap().get("device"), Some("sdc"));
        assert_eq!(r.labels(changed[0].0).unwrap().get("rack"), Some("r1"));
        assert_eq!(r.labels(first[0].0).unwrap().get("device"), Some("sda"));
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn an_evicted_kept_label_set_gets_a_fresh_id() {
        let mut r = Registry::default();
        let a = Labels::new("m", &[("device", "sda")]);
        let b = Labels::new("m", &[("device", "sdb")]);
        let first = r.assign(&kept(&[&a, &b]), 1);
        r.assign(&kept(&[&b]), 2);
        assert_eq!(r.evict_older_than(2), 1);
        assert!(r.labels(first[0].0).is_none());
        let back = r.assign(&kept(&[&a, &b]), 3);
        assert!(back[0].0 > first[1].0, "fresh id");
        assert_eq!(back[1].0, first[1].0);
        assert_eq!(r.labels(back[0].0).unwrap().get("device"), Some("sda"));
        // The new id is used, so it survives eviction of older batches.
        assert_eq!(r.evict_older_than(3), 0);
    }

    #[test]
    fn steady_collections_find_their_sets_by_position_and_reused_slots_are_not_mistaken() {
        let mut r = Registry::with_static_labels([("rack", "r1")]);
        let a = Labels::new("m", &[("device", "sda")]);
        let b = Labels::new("m", &[("device", "sdb")]);
        let first = r.assign(&kept(&[&a, &b]), 1);
        assert_eq!(r.assign(&kept(&[&a, &b]), 2), first);
        // Both evicted; `a` comes back and takes the slot `b` had: `b`, remembered at that slot
        // by position, must not get `a`'s id.
        assert_eq!(r.evict_older_than(3), 2);
        let back = r.assign(&kept(&[&a, &b]), 3);
        assert!(back[0].0 > first[1].0 && back[1].0 > first[1].0);
        assert_ne!(back[0].0, back[1].0);
        assert_eq!(r.labels(back[0].0).unwrap().get("device"), Some("sda"));
        assert_eq!(r.labels(back[1].0).unwrap().get("device"), Some("sdb"));
        assert_eq!(r.labels(back[1].0).unwrap().get("rack"), Some("r1"));
        assert_eq!(r.len(), 2);
        // Another order: found by address instead.
        let swapped = r.assign(&kept(&[&b, &a]), 4);
        assert_eq!((swapped[0].0, swapped[1].0), (back[1].0, back[0].0));
        // Evicted and forgotten ones are not lent out.
        assert!(r.labels(first[0].0).is_none());
    }

    #[test]
    fn label_sets_built_each_collection_are_not_all_remembered() {
        let mut r = Registry::default();
        for seq in 1..=200 {
            let ids = r.assign(&buf(&["a", "b"]), seq);
            assert_eq!((ids[0].0, ids[1].0), (1, 2));
        }
        assert_eq!(r.len(), 2);
        // Found at their positions by value: only the first collection's sets were remembered.
        assert_eq!(r.seen.len(), 2);
        // Shifted by one (a series added in front): found by value through the id table, and
        // remembered at their new positions.
        for seq in 201..=300 {
            let ids = r.assign(&buf(&["z", "a", "b"]), seq);
            assert_eq!((ids[1].0, ids[2].0), (1, 2));
        }
        assert_eq!(r.len(), 3);
        assert!(r.seen.len() <= 2 * 3 + 64 + 3, "{}", r.seen.len());
    }
}
