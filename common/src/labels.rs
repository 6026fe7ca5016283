//! A series' label set packed into one shared string: the agent builds hundreds per
//! collection, and the aggregator holds millions (one allocation each instead of two per pair
//! and a vector: about 1 KB less per series held).

/// A label set: `(name, value)` pairs sorted by name, `__name__` included, packed into one
/// shared string (one allocation per set: a collection builds hundreds of sets, and musl's
/// allocator, the shipped agent's, is slow). Each name and each value is stored as its length in
/// decimal, `:`, then its text, so any text round-trips. Cloning shares the string (a source may
/// keep label sets and push them again each collection, and the registry keeps the same ones);
/// [`set`](Self::set) builds a new one.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Labels(std::sync::Arc<str>);

/// Most label sets have fewer pairs than this; they are sorted on the stack.
const STACK_PAIRS: usize = 24;

/// Calls `f` with `("__name__", name)` and `labels`, sorted (on the stack when they fit).
fn with_sorted<R>(name: &str, labels: &[(&str, &str)], f: impl FnOnce(&[(&str, &str)]) -> R) -> R {
    let n = labels.len() + 1;
    if n <= STACK_PAIRS {
        let mut v = [("", ""); STACK_PAIRS];
        v[0] = ("__name__", name);
        v[1..n].copy_from_slice(labels);
        v[..n].sort_unstable();
        f(&v[..n])
    } else {
        let mut v: Vec<(&str, &str)> = Vec::with_capacity(n);
        v.push(("__name__", name));
        v.extend_from_slice(labels);
        v.sort_unstable();
        f(&v)
    }
}

impl Labels {
    /// Builds a label set from a metric name and extra labels (sorted here).
    pub fn new(name: &str, labels: &[(&str, &str)]) -> Self {
        with_sorted(name, labels, Self::packed)
    }

    /// Whether this set is the one [`new`](Self::new) would build from `name` and `labels`,
    /// found without building it.
    pub fn is(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        with_sorted(name, labels, |want| {
            let mut pairs = self.pairs();
            want.iter().all(|w| pairs.next() == Some(*w)) && pairs.next().is_none()
        })
    }

    /// Packs `pairs` (sorted) with a single allocation: the text is assembled in a buffer kept
    /// per thread and copied once into the shared string. The buffer is scratch space only
    /// (cleared on every use, nothing read from it carries over between calls), the one
    /// `thread_local` of the agent: no cache lives there.
    fn packed(pairs: &[(&str, &str)]) -> Self {
        use std::fmt::Write as _;
        thread_local! {
            static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        SCRATCH.with(|scratch| {
            let mut b = scratch.borrow_mut();
            b.clear();
            for (k, v) in pairs {
                let _ = write!(b, "{}:{k}{}:{v}", k.len(), v.len());
            }
            let out = Self(std::sync::Arc::from(b.as_str()));
            // Bounded: one huge set does not keep its buffer.
            if b.capacity() > 64 << 10 {
                *b = String::new();
            }
            out
        })
    }

    /// The metric name (`__name__`), or "" when absent.
    pub fn name(&self) -> &str {
        self.get("__name__").unwrap_or("")
    }

    /// The value of label `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// The pairs, sorted by name.
    pub fn pairs(&self) -> Pairs<'_> {
        Pairs(&self.0)
    }

    /// The number of pairs, `__name__` included.
    pub fn len(&self) -> usize {
        self.pairs().count()
    }

    /// Whether the set has no pair at all (not even `__name__`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The address of the packed pairs: equal for clones of one set.
    pub fn addr(&self) -> usize {
        std::sync::Arc::as_ptr(&self.0) as *const u8 as usize
    }

    /// This set plus the `labels` it lacks (explicit labels win), sharing the pairs when it
    /// lacks none.
    pub fn with_missing(&self, labels: &[(String, String)]) -> Self {
        if labels.iter().all(|(k, _)| self.get(k).is_some()) {
            return self.clone();
        }
        let mut v: Vec<(&str, &str)> = self.pairs().collect();
        for (k, val) in labels {
            if !v.iter().any(|(n, _)| n == k) {
                v.push((k, val));
            }
        }
        v.sort_unstable();
        Self::packed(&v)
    }

    /// Builds a label set from pairs in any order (sorted here; a repeated name is kept as
    /// given, callers deduplicate).
    pub fn from_pairs<S: AsRef<str>>(pairs: &[(S, S)]) -> Self {
        let mut v: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect();
        v.sort_unstable();
        Self::packed(&v)
    }

    /// Builds a label set from pairs already sorted by name (as [`from_pairs`](Self::from_pairs)
    /// without the sort).
    pub fn from_sorted(pairs: &[(&str, &str)]) -> Self {
        debug_assert!(pairs.is_sorted());
        Self::packed(pairs)
    }

    /// The pairs as owned strings (for callers that edit them).
    pub fn to_vec(&self) -> Vec<(String, String)> {
        self.pairs()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// Bytes the packed pairs take (the shared string, without its reference counts).
    pub fn packed_len(&self) -> usize {
        self.0.len()
    }

    /// Adds or replaces a label, keeping the order.
    pub fn set(&mut self, name: &str, value: &str) {
        let mut v: Vec<(&str, &str)> = self.pairs().collect();
        match v.binary_search_by(|(k, _)| (*k).cmp(name)) {
            Ok(i) => v[i].1 = value,
            Err(i) => v.insert(i, (name, value)),
        }
        *self = Self::packed(&v);
    }
}

/// Ordered as Prometheus orders label sets (`labels.Compare`): pair by pair, name then value,
/// a set that is a prefix of another first.
impl Ord for Labels {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.pairs().cmp(other.pairs())
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for Labels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.pairs()).finish()
    }
}

/// The `(name, value)` pairs of a [`Labels`], in order.
#[derive(Clone)]
pub struct Pairs<'a>(&'a str);

impl<'a> Pairs<'a> {
    /// The next length-prefixed text, or `None` at the end (or, never for a set built here, on
    /// a malformed rest).
    fn text(&mut self) -> Option<&'a str> {
        let (len, rest) = self.0.split_once(':')?;
        let len: usize = len.parse().ok()?;
        let text = rest.get(..len)?;
        self.0 = rest.get(len..)?;
        Some(text)
    }
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        match (self.text(), self.text()) {
            (Some(k), Some(v)) => Some((k, v)),
            _ => {
                self.0 = "";
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_sorted_and_settable() {
        let mut l = Labels::new("m", &[("z", "1"), ("a", "2")]);
        assert_eq!(l.pairs().next().unwrap().0, "__name__");
        assert_eq!(l.pairs().nth(1).unwrap().0, "a");
        l.set("b", "3");
        l.set("a", "4");
        assert_eq!(l.get("a"), Some("4"));
        assert_eq!(l.pairs().nth(2).unwrap().0, "b");
        assert_eq!(l.name(), "m");
    }

    #[test]
    fn missing_labels_are_added_and_explicit_ones_win() {
        let l = Labels::new("m", &[("rack", "mine")]);
        let statics = [
            ("rack".to_owned(), "r1".to_owned()),
            ("dc".to_owned(), "d1".to_owned()),
        ];
        let d = l.with_missing(&statics);
        assert_eq!(d.get("rack"), Some("mine"));
        assert_eq!(d.get("dc"), Some("d1"));
        assert_eq!(d.pairs().next().unwrap().0, "__name__");
        assert_eq!(d.pairs().nth(1).unwrap().0, "dc", "kept sorted");
        assert_eq!(l.get("dc"), None, "the original is not changed");
        let full = Labels::new("m", &[("rack", "x"), ("dc", "y")]);
        assert_eq!(
            full.with_missing(&statics).addr(),
            full.addr(),
            "nothing copied"
        );
    }

    #[test]
    fn any_text_round_trips_in_order() {
        let odd = ["", ":", "12:", "3:abc", "ü:ß\n\"x\"", "a=b,c", "0"];
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..500 {
            let n = rng.usize(0..40);
            let names: Vec<String> = (0..n)
                .map(|i| format!("l{i}{}", odd[rng.usize(..odd.len())]))
                .collect();
            let values: Vec<&str> = (0..n).map(|_| odd[rng.usize(..odd.len())]).collect();
            let pairs: Vec<(&str, &str)> = names.iter().map(String::as_str).zip(values).collect();
            let l = Labels::new("m:x", &pairs);
            let mut want: Vec<(&str, &str)> = pairs.clone();
            want.push(("__name__", "m:x"));
            want.sort_unstable();
            assert_eq!(l.pairs().collect::<Vec<_>>(), want);
            assert_eq!(l.len(), n + 1);
            assert_eq!(l.name(), "m:x");
            assert_eq!(l, Labels::new("m:x", &pairs), "equal sets compare equal");
        }
    }

    #[test]
    fn a_malformed_rest_ends_the_pairs_without_panicking() {
        for bad in [
            "x",
            "9:ab",
            "1:a",
            "1:a2:b",
            ":",
            "99999999999999999999999:a",
            "1:ü",
        ] {
            let _ = Pairs(bad).count();
        }
        assert_eq!(Pairs("1:a1:b1:c").collect::<Vec<_>>(), [("a", "b")]);
    }

    #[test]
    fn a_set_is_one_shared_string() {
        let l = Labels::new("m", &[("device", "sda"), ("rack", "r1")]);
        let c = l.clone();
        assert_eq!(c.addr(), l.addr());
        assert_eq!(
            format!("{l:?}"),
            r#"{"__name__": "m", "device": "sda", "rack": "r1"}"#
        );
    }

    #[test]
    fn is_matches_exactly_what_new_builds() {
        let mut rng = fastrand::Rng::with_seed(11);
        let words = ["", "a", "b", "vm", "tap0", "1:a"];
        for _ in 0..2000 {
            let mk = |rng: &mut fastrand::Rng| -> Vec<(&str, &str)> {
                (0..rng.usize(0..30))
                    .map(|_| {
                        (
                            words[rng.usize(..words.len())],
                            words[rng.usize(..words.len())],
                        )
                    })
                    .collect()
            };
            let (a, b) = (mk(&mut rng), mk(&mut rng));
            let (na, nb) = (words[rng.usize(..3)], words[rng.usize(..3)]);
            let built = Labels::new(na, &a);
            assert!(built.is(na, &a));
            assert_eq!(
                built.is(nb, &b),
                built == Labels::new(nb, &b),
                "{a:?} {b:?}"
            );
        }
    }

    #[test]
    fn sets_order_pair_by_pair_as_prometheus_does() {
        let a = Labels::from_pairs(&[("__name__", "m"), ("b", "1")]);
        let b = Labels::from_pairs(&[("__name__", "m"), ("b", "1"), ("c", "0")]);
        let c = Labels::from_pairs(&[("__name__", "m"), ("b", "10")]);
        let d = Labels::from_pairs(&[("__name__", "m"), ("b", "2")]);
        // Packed, "1:b1:1" sorts after "1:b2:10" as text; as pairs it comes first.
        let mut v = vec![d.clone(), c.clone(), b.clone(), a.clone()];
        v.sort();
        assert_eq!(v, [a.clone(), b, c, d]);
        assert_eq!(
            a.to_vec(),
            [
                ("__name__".to_owned(), "m".to_owned()),
                ("b".to_owned(), "1".to_owned())
            ]
        );
        assert_eq!(Labels::from_pairs(&a.to_vec()), a);
    }
}
