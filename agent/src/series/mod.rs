//! From a collected [`Snapshot`](crate::snapshot::Snapshot) to Prometheus-style series: names
//! with the `hvscope_` prefix in base units, counters ending in `_total`, metadata as `_info`.
//! The [`Registry`] gives each distinct label set a stable numeric id, so the wire carries
//! labels once per stream and `(id, value)` afterwards.

pub mod registry;
pub mod text;

pub use registry::Registry;

/// A label set: `(name, value)` pairs sorted by name, `__name__` included. Cloning shares the
/// pairs (a source may keep label sets and push them again each collection, and the registry
/// keeps the same ones); [`set`](Self::set) copies them first when they are shared.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(std::sync::Arc<Vec<(String, String)>>);

impl Labels {
    /// Builds a label set from a metric name and extra labels (sorted here).
    pub fn new(name: &str, labels: &[(&str, &str)]) -> Self {
        let mut v: Vec<(String, String)> = Vec::with_capacity(labels.len() + 1);
        v.push(("__name__".to_owned(), name.to_owned()));
        v.extend(
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        v.sort();
        Self(std::sync::Arc::new(v))
    }

    /// The metric name (`__name__`), or "" when absent.
    pub fn name(&self) -> &str {
        self.get("__name__").unwrap_or("")
    }

    /// The value of label `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The pairs, sorted by name.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The address of the pairs: equal for clones of one set while they share the pairs.
    pub fn addr(&self) -> usize {
        std::sync::Arc::as_ptr(&self.0) as usize
    }

    /// This set plus the `labels` it lacks (explicit labels win), sharing the pairs when it
    /// lacks none.
    pub fn with_missing(&self, labels: &[(String, String)]) -> Self {
        let mut out = self.clone();
        for (k, v) in labels {
            if out.get(k).is_none() {
                out.set(k, v);
            }
        }
        out
    }

    /// Adds or replaces a label, keeping the order.
    pub fn set(&mut self, name: &str, value: &str) {
        let v = std::sync::Arc::make_mut(&mut self.0);
        match v.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
            Ok(i) => v[i].1 = value.to_owned(),
            Err(i) => v.insert(i, (name.to_owned(), value.to_owned())),
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
#[derive(Debug, Default, Clone)]
pub struct SeriesBuf {
    pub samples: Vec<Sample>,
}

impl SeriesBuf {
    /// Adds a sample of metric `name` with `labels`.
    pub fn push(&mut self, name: &str, help: &'static str, labels: &[(&str, &str)], value: f64) {
        self.samples.push(Sample {
            labels: Labels::new(name, labels),
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
        assert_eq!(l.pairs()[0].0, "__name__");
        assert_eq!(l.pairs()[1].0, "a");
        l.set("b", "3");
        l.set("a", "4");
        assert_eq!(l.get("a"), Some("4"));
        assert_eq!(l.pairs()[2].0, "b");
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
        assert_eq!(kept.pairs().len(), 2);
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
        assert_eq!(d.pairs()[0].0, "__name__");
        assert_eq!(d.pairs()[1].0, "dc", "kept sorted");
        assert_eq!(l.get("dc"), None, "the original is not changed");
        let full = Labels::new("m", &[("rack", "x"), ("dc", "y")]);
        assert_eq!(
            full.with_missing(&statics).addr(),
            full.addr(),
            "nothing copied"
        );
    }
}
