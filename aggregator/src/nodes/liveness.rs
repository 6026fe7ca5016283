//! Agent liveness as stored series, written for every known node at each tick so alerts can be
//! written on them: `hvscope_node_up{node,rack}` (1 while a stream is open and a message came
//! within the staleness window, else 0) and
//! `hvscope_node_last_report_timestamp_seconds{node,rack}` (collection time of the newest
//! applied batch). `rack` comes from the agent's hello labels.

use std::sync::Arc;

use super::{Labels, Node, NodeStore, lock};

/// Name of the up series.
pub const NODE_UP: &str = "hvscope_node_up";
/// Name of the last-report series.
pub const NODE_LAST_REPORT: &str = "hvscope_node_last_report_timestamp_seconds";

fn labels(name: &str, n: &Node) -> Labels {
    let mut v = vec![
        ("__name__".to_owned(), name.to_owned()),
        ("node".to_owned(), n.name.clone()),
    ];
    if let Some(rack) = n
        .hello
        .labels
        .iter()
        .find(|l| l.name == "rack" && !l.value.is_empty())
    {
        v.push(("rack".to_owned(), rack.value.clone()));
    }
    v.sort();
    Arc::new(v)
}

impl NodeStore {
    /// Appends one liveness sample per node at `now_ms`; a node is up when a stream is open
    /// and it was heard from within `stale_after_ms`. Returns the number of nodes up.
    pub fn record_liveness(&self, now_ms: i64, stale_after_ms: i64) -> usize {
        let nodes: Vec<_> = self
            .nodes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        let mut up_count = 0;
        for n in nodes {
            let n = lock(&n);
            let up = n.streams > 0 && now_ms - n.last_seen_ms <= stale_after_ms;
            up_count += usize::from(up);
            self.db
                .append_labels(&labels(NODE_UP, &n), now_ms, f64::from(u8::from(up)));
            if n.last_batch_ms > 0 {
                self.db.append_labels(
                    &labels(NODE_LAST_REPORT, &n),
                    now_ms,
                    n.last_batch_ms as f64 / 1000.0,
                );
            }
        }
        up_count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::matcher::{MatchKind, Matcher};
    use crate::tsdb::xor;
    use hvscope_proto::v1::{Batch, Hello, Label};

    fn values(s: &NodeStore, name: &str) -> Vec<(String, Vec<(i64, f64)>)> {
        let m = Matcher::new(MatchKind::Equal, "__name__", name).unwrap();
        s.db()
            .select(&[m], 0, i64::MAX)
            .into_iter()
            .map(|sel| {
                let rack = sel
                    .labels
                    .iter()
                    .find(|(k, _)| k == "rack")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let samples = sel
                    .chunks
                    .iter()
                    .flat_map(|c| xor::decode(&c.data).unwrap())
                    .collect();
                (rack, samples)
            })
            .collect()
    }

    #[test]
    fn up_and_last_report_per_node_with_rack() {
        let s = NodeStore::default();
        let hello = Hello {
            boot_id: "b".into(),
            labels: vec![Label {
                name: "rack".into(),
                value: "r7".into(),
            }],
            ..Default::default()
        };
        s.open_stream("n1", &hello, 1_000);
        let batch = Batch {
            seq: 1,
            timestamp_ms: 1_500,
            ..Default::default()
        };
        s.apply("n1", &batch, &[], true, 1_600);
        assert_eq!(s.record_liveness(2_000, 30_000), 1);
        s.close_stream("n1", 2_500);
        assert_eq!(s.record_liveness(3_000, 30_000), 0);
        assert_eq!(
            values(&s, NODE_UP),
            vec![("r7".to_owned(), vec![(2_000, 1.0), (3_000, 0.0)])]
        );
        assert_eq!(
            values(&s, NODE_LAST_REPORT),
            vec![("r7".to_owned(), vec![(2_000, 1.5), (3_000, 1.5)])]
        );
    }
}
