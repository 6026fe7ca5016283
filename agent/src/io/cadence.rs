//! How often a cached figure is read again when no change signal vouches for it: one
//! [`Cadence`] ("at least every N collections") for every source, with the two ways of spreading
//! the re-reads the iSCSI source uses: a [`Schedule`] of due cycles (each kept item read again
//! within the period, no cycle taking more than its share) and a [`Cursor`] walking a list a
//! slice per collection.

/// The agent's refresh period: whatever a change signal cannot vouch for is read again within
/// 30 collections (5 minutes at the default 10 s interval). Every source uses it; the table in
/// the [`io`](super) module doc says which figures it bounds.
pub const REFRESH: Cadence = Cadence::every(30);

/// "Read again at least every `every` collections". A figure read at collection `c` is read
/// again at the latest at collection `c + every`: its age in collections (0 in the collection
/// that read it) stays below `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    every: u32,
}

impl Cadence {
    /// A period of `every` collections (at least 1).
    pub const fn every(every: u32) -> Self {
        Self {
            every: if every == 0 { 1 } else { every },
        }
    }

    /// The period, in collections.
    pub const fn collections(self) -> u32 {
        self.every
    }

    /// Whether a figure read `age` collections ago (1: in the previous collection) must be read
    /// again now.
    pub const fn is_due(self, age: u64) -> bool {
        age >= self.every as u64
    }

    /// Whether collection `cycle` (the first is 0) starts a period: a state dropped as a whole
    /// and read anew every period is dropped then.
    pub const fn starts_period(self, cycle: u64) -> bool {
        cycle.is_multiple_of(self.every as u64)
    }

    /// The collection by which something read in collection `cycle` must be read again.
    pub const fn latest(self, cycle: u64) -> u64 {
        cycle + self.every as u64
    }

    fn slots(self) -> usize {
        self.every as usize
    }
}

/// The cycles by which kept items (the iSCSI sessions) are due for their next complete read: per
/// cycle modulo the period, how many items are due then. Each item is read again within the
/// period, and the re-reads are spread over the cycles (about `1/every` of the items per cycle)
/// instead of all landing in one.
#[derive(Debug, Clone)]
pub struct Schedule {
    cadence: Cadence,
    load: Vec<u32>,
}

impl Default for Schedule {
    fn default() -> Self {
        Self::new(REFRESH)
    }
}

impl Schedule {
    /// An empty schedule over `cadence`'s period.
    pub fn new(cadence: Cadence) -> Self {
        Self {
            cadence,
            load: vec![0; cadence.slots()],
        }
    }

    /// The most items due in one cycle while `items` are kept: an even share.
    pub fn cap(&self, items: usize) -> u32 {
        u32::try_from(items.div_ceil(self.cadence.slots()).max(1)).unwrap_or(u32::MAX)
    }

    /// The cycle by which an item read completely in `cycle` is read again: the latest one
    /// within the period that has fewer than `cap` items due (so items read in the same cycle,
    /// as all are in the first, are due in different ones).
    pub fn place(&mut self, cycle: u64, cap: u32) -> u64 {
        let latest = self.cadence.latest(cycle);
        let due = (0..u64::from(self.cadence.every))
            .map(|back| latest - back)
            .find(|d| self.load[self.slot(*d)] < cap)
            .unwrap_or(latest);
        let s = self.slot(due);
        self.load[s] += 1;
        due
    }

    /// An item due at `due` is no longer (read, or gone).
    pub fn remove(&mut self, due: u64) {
        let s = self.slot(due);
        let l = &mut self.load[s];
        *l = l.saturating_sub(1);
    }

    pub fn clear(&mut self) {
        self.load.fill(0);
    }

    fn slot(&self, cycle: u64) -> usize {
        (cycle % u64::from(self.cadence.every)) as usize
    }
}

/// A position in a list walked a slice per cycle, so each entry is visited at least once per
/// period while the list does not grow.
#[derive(Debug, Clone)]
pub struct Cursor {
    cadence: Cadence,
    at: usize,
}

impl Default for Cursor {
    fn default() -> Self {
        Self::new(REFRESH)
    }
}

impl Cursor {
    /// A cursor at the start of a list, walking it once per `cadence` period.
    pub fn new(cadence: Cadence) -> Self {
        Self { cadence, at: 0 }
    }

    /// The indices to visit this cycle in a list of `len` entries: the next `len / every`
    /// (rounded up), wrapping around.
    pub fn next(&mut self, len: usize) -> impl Iterator<Item = usize> + use<> {
        let n = len.div_ceil(self.cadence.slots());
        let start = if len == 0 { 0 } else { self.at % len };
        self.at = if len == 0 { 0 } else { (start + n) % len };
        (start..start + n).map(move |i| i % len.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY: u64 = REFRESH.collections() as u64;

    #[test]
    fn ages_and_periods() {
        let c = Cadence::every(3);
        assert!(!c.is_due(0) && !c.is_due(2) && c.is_due(3) && c.is_due(4));
        assert!(c.starts_period(0) && !c.starts_period(1) && c.starts_period(3));
        assert_eq!(c.latest(5), 8);
        assert_eq!(Cadence::every(0).collections(), 1);
    }

    #[test]
    fn sessions_read_together_are_spread_and_never_late() {
        let mut s = Schedule::default();
        let cap = s.cap(512);
        assert_eq!(cap, 18);
        let mut dues: Vec<u64> = (0..512).map(|_| s.place(1, cap)).collect();
        assert!(dues.iter().all(|d| (2..=31).contains(d)), "{dues:?}");
        let mut per_cycle = std::collections::HashMap::new();
        for d in &dues {
            *per_cycle.entry(*d).or_insert(0) += 1;
        }
        assert!(per_cycle.values().all(|n| *n <= cap));
        // Each session, read again when due, is due again within the period, and no cycle gets
        // more than its share.
        for cycle in 2..200 {
            let mut read = 0;
            for d in dues.iter_mut().filter(|d| **d == cycle) {
                s.remove(*d);
                *d = s.place(cycle, cap);
                assert!(*d > cycle && *d <= cycle + EVERY);
                read += 1;
            }
            assert!(read <= cap, "cycle {cycle}: {read}");
        }
    }

    #[test]
    fn few_sessions_are_read_once_per_period() {
        let mut s = Schedule::default();
        let cap = s.cap(3);
        assert_eq!(cap, 1);
        assert_eq!(
            [s.place(1, cap), s.place(1, cap), s.place(1, cap)],
            [31, 30, 29]
        );
        // Read early (a state changed): due a full period later again.
        s.remove(30);
        assert_eq!(s.place(5, cap), 35);
        // Past the cap (all slots full): still within the period.
        let mut full = Schedule::default();
        for _ in 0..EVERY {
            full.place(1, 1);
        }
        assert_eq!(full.place(1, 1), 31);
    }

    #[test]
    fn cursors_visit_every_entry_each_period() {
        let mut c = Cursor::default();
        let mut seen = vec![0; 100];
        for _ in 0..EVERY {
            for i in c.next(100) {
                seen[i] += 1;
            }
        }
        assert!(seen.iter().all(|n| *n >= 1), "{seen:?}");
        assert_eq!(c.next(0).count(), 0);
        assert_eq!(c.next(3).collect::<Vec<_>>(), [0]);
        assert_eq!(c.next(3).collect::<Vec<_>>(), [1]);
        // The list shrank under the cursor: it wraps.
        assert_eq!(c.next(1).collect::<Vec<_>>(), [0]);
    }
}
