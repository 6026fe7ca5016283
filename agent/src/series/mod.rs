//! From a collected [`Snapshot`](crate::snapshot::Snapshot) to Prometheus-style series: names
//! with the `hvscope_` prefix in base units, counters ending in `_total`, metadata as `_info`.
//! The [`Registry`] gives each distinct label set a stable numeric id, so the wire carries
//! labels once per stream and `(id, value)` afterwards.

pub mod registry;
pub mod text;

pub use registry::Registry;

pub use hvscope_common::labels::{Labels, Pairs};

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
}
