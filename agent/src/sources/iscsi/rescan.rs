//! When the safety-net re-reads happen: each kept session is read completely again at most
//! [`RESCAN_EVERY`] cycles after it was last read completely, and the sessions' re-reads are
//! spread over the cycles (about `1/RESCAN_EVERY` of them per cycle) instead of all landing in
//! one; the other re-read lists (`sys/block` links, multipath maps, `by-path` and `by-id` links)
//! are walked a slice per cycle ([`Cursor`]).

/// Every kept session is read completely again within this many cycles of its last complete
/// read (a safety net for changes no listing shows, such as a LUN without a block device added
/// to a live session, and the bound on how old a session's attributes other than its states may
/// be); so is every entry of the other re-read lists.
pub const RESCAN_EVERY: u64 = 30;

const SLOTS: usize = RESCAN_EVERY as usize;

/// The cycles by which the kept sessions are due for their next complete read: per cycle modulo
/// [`RESCAN_EVERY`], how many sessions are due then.
#[derive(Debug, Clone)]
pub(super) struct Schedule {
    load: [u32; SLOTS],
}

impl Default for Schedule {
    fn default() -> Self {
        Self { load: [0; SLOTS] }
    }
}

impl Schedule {
    /// The most sessions due in one cycle while `sessions` are kept: an even share.
    pub fn cap(sessions: usize) -> u32 {
        u32::try_from(sessions.div_ceil(SLOTS).max(1)).unwrap_or(u32::MAX)
    }

    /// The cycle by which a session read completely in `cycle` is read again: the latest one
    /// within [`RESCAN_EVERY`] cycles that has fewer than `cap` sessions due (so sessions read in
    /// the same cycle, as all are in the first, are due in different ones).
    pub fn place(&mut self, cycle: u64, cap: u32) -> u64 {
        let latest = cycle + RESCAN_EVERY;
        let due = (0..RESCAN_EVERY)
            .map(|back| latest - back)
            .find(|d| self.load[slot(*d)] < cap)
            .unwrap_or(latest);
        self.load[slot(due)] += 1;
        due
    }

    /// A session due at `due` is no longer (read, or gone).
    pub fn remove(&mut self, due: u64) {
        let l = &mut self.load[slot(due)];
        *l = l.saturating_sub(1);
    }

    pub fn clear(&mut self) {
        self.load = [0; SLOTS];
    }
}

fn slot(cycle: u64) -> usize {
    (cycle % RESCAN_EVERY) as usize
}

/// A position in a list walked a slice per cycle, so each entry is visited at least once every
/// [`RESCAN_EVERY`] cycles while the list does not grow.
#[derive(Debug, Default, Clone)]
pub(super) struct Cursor(usize);

impl Cursor {
    /// The indices to visit this cycle in a list of `len` entries: the next `len /
    /// RESCAN_EVERY` (rounded up), wrapping around.
    pub fn next(&mut self, len: usize) -> impl Iterator<Item = usize> + use<> {
        let n = len.div_ceil(SLOTS);
        let start = if len == 0 { 0 } else { self.0 % len };
        self.0 = if len == 0 { 0 } else { (start + n) % len };
        (start..start + n).map(move |i| i % len.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_read_together_are_spread_and_never_late() {
        let mut s = Schedule::default();
        let cap = Schedule::cap(512);
        assert_eq!(cap, 18);
        let mut dues: Vec<u64> = (0..512).map(|_| s.place(1, cap)).collect();
        assert!(dues.iter().all(|d| (2..=31).contains(d)), "{dues:?}");
        let mut per_cycle = std::collections::HashMap::new();
        for d in &dues {
            *per_cycle.entry(*d).or_insert(0) += 1;
        }
        assert!(per_cycle.values().all(|n| *n <= cap));
        // Each session, read again when due, is due again within RESCAN_EVERY cycles, and no
        // cycle gets more than its share.
        for cycle in 2..200 {
            let mut read = 0;
            for d in dues.iter_mut().filter(|d| **d == cycle) {
                s.remove(*d);
                *d = s.place(cycle, cap);
                assert!(*d > cycle && *d <= cycle + RESCAN_EVERY);
                read += 1;
            }
            assert!(read <= cap, "cycle {cycle}: {read}");
        }
    }

    #[test]
    fn few_sessions_are_read_once_per_period() {
        let mut s = Schedule::default();
        let cap = Schedule::cap(3);
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
        for _ in 0..RESCAN_EVERY {
            full.place(1, 1);
        }
        assert_eq!(full.place(1, 1), 31);
    }

    #[test]
    fn cursors_visit_every_entry_each_period() {
        let mut c = Cursor::default();
        let mut seen = vec![0; 100];
        for _ in 0..RESCAN_EVERY {
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
