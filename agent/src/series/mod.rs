//! From a collected [`Snapshot`](crate::snapshot::Snapshot) to Prometheus-style series: names
//! with the `hvscope_` prefix in base units, counters ending in `_total`, metadata as `_info`.
//! The [`Registry`] gives each distinct label set a stable numeric id, so the wire carries
//! labels once per stream and `(id, value)` afterwards.

pub mod registry;
pub mod text;

pub use registry::Registry;

/// A label set: `(name, value)` pairs sorted by name, `__name__` included, packed into one
/// shared string (one allocation per set: a collection builds hundreds of sets, and musl's
/// allocator, the shipped agent's, is slow). Each name and each value is stored as its length in
/// decimal, `:`, then its text, so any text round-trips. Cloning shares the string (a source may
/// keep label sets and push them again each collection, and the registry keeps the same ones);
/// [`set`](Self::set) builds a new one.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

/// One series value of a collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: f64,
    /// The `# HELP` text of the metric.
    pub help: &'static str,
}

/// The series of one collection, in the order they were produced.
///
/// A buffer kept from one collection to the next and [`recycle`](Self::recycle)d in between
/// reuses the previous collection's label sets: a sample pushed at the same position with the
/// same name and labels (a steady collection pushes the same series in the same order) gets the
/// label set built last time, shared, instead of a new one. Nothing is formatted or allocated
/// for it, and the [`Registry`] finds its id by address.
#[derive(Debug, Default, Clone)]
pub struct SeriesBuf {
    pub samples: Vec<Sample>,
    /// The previous collection's label sets, by position.
    previous: Vec<Labels>,
}

impl SeriesBuf {
    /// Empties the buffer for the next collection, keeping this one's label sets for reuse
    /// (and both vectors' capacity).
    pub fn recycle(&mut self) {
        self.previous.clear();
        self.previous
            .extend(self.samples.drain(..).map(|s| s.labels));
    }

    /// Adds a sample of metric `name` with `labels`.
    pub fn push(&mut self, name: &str, help: &'static str, labels: &[(&str, &str)], value: f64) {
        let labels = match self.previous.get(self.samples.len()) {
            Some(prev) if prev.is(name, labels) => prev.clone(),
            _ => Labels::new(name, labels),
        };
        self.samples.push(Sample {
            labels,
            value,
            help,
        });
    }

    /// Adds a sample with a label set built before (`__name__` included): a clone of `labels`
    /// shares its pairs, nothing is formatted.
    pub fn push_labels(&mut self, labels: &Labels, help: &'static str, value: f64) {
        self.samples.push(Sample {
            labels: labels.clone(),
            value,
            help,
        });
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
    fn setting_a_shared_label_set_leaves_the_other_alone() {
        let kept = Labels::new("m", &[("device", "sda")]);
        let mut buf = SeriesBuf::default();
        buf.push_labels(&kept, "", 1.0);
        buf.push_labels(&kept, "", 2.0);
        assert_eq!(buf.samples[1].labels.addr(), kept.addr(), "pushing shares");
        buf.samples[1].labels.set("rack", "r1");
        assert_eq!(buf.samples[1].labels.get("rack"), Some("r1"));
        assert_ne!(buf.samples[1].labels.addr(), kept.addr());
        assert_eq!(kept.get("rack"), None, "the kept set is not changed");
        assert_eq!(kept.len(), 2);
        assert_eq!(buf.samples[0].labels.addr(), kept.addr());
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
    fn a_recycled_buffer_reuses_label_sets_only_where_they_match() {
        let mut buf = SeriesBuf::default();
        let push_all = |buf: &mut SeriesBuf, vms: &[&str]| {
            for vm in vms {
                buf.push("m_a", "", &[("vm", vm), ("nic", "tap0")], 1.0);
                buf.push("m_b", "", &[("vm", vm)], 2.0);
            }
        };
        push_all(&mut buf, &["a", "b"]);
        let first: Vec<usize> = buf.samples.iter().map(|s| s.labels.addr()).collect();
        buf.recycle();
        assert!(buf.samples.is_empty());
        push_all(&mut buf, &["a", "b"]);
        let second: Vec<usize> = buf.samples.iter().map(|s| s.labels.addr()).collect();
        assert_eq!(first, second, "a steady collection shares every set");
        // A VM gone: positions shift, and each sample still gets exactly its own labels.
        buf.recycle();
        push_all(&mut buf, &["b"]);
        assert_eq!(
            buf.samples[0].labels,
            Labels::new("m_a", &[("vm", "b"), ("nic", "tap0")])
        );
        assert_eq!(buf.samples[1].labels, Labels::new("m_b", &[("vm", "b")]));
        assert_ne!(
            buf.samples[0].labels.addr(),
            first[2],
            "not found by position"
        );
        // A label value changed at the same position: a new set.
        buf.recycle();
        buf.push("m_a", "", &[("vm", "b"), ("nic", "tap1")], 1.0);
        assert_eq!(buf.samples[0].labels.get("nic"), Some("tap1"));
        // Fewer or more labels than the set at that position: never taken for it.
        buf.recycle();
        buf.push("m_a", "", &[("vm", "b")], 1.0);
        assert_eq!(buf.samples[0].labels, Labels::new("m_a", &[("vm", "b")]));
        buf.recycle();
        buf.push("m_a", "", &[("vm", "b"), ("nic", "tap1"), ("x", "")], 1.0);
        assert_eq!(buf.samples[0].labels.len(), 4);
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
}
