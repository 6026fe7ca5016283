//! Agent liveness as stored series, written for every known node at each tick so alerts can be
//! written on them: `hvscope_node_up{node,rack}` (1 while a stream is open and a message came
//! within the staleness window, else 0) and
//! `hvscope_node_last_report_timestamp_seconds{node,rack}` (collection time of the newest
//! applied batch). `rack` comes from the agent's hello labels. A node found down gets stale
//! markers on every other series it has, once (until its next batch).
//!
//! `hvscope_rack_down{rack}`: for every rack with at least two reporting nodes, 1 when all of
//! them are down and went silent within `rack_window_ms` of each other (one outage of the
//! whole rack: power, top-of-rack switch), else 0. The nodes' `hvscope_node_up` stays 0 too,
//! so Alertmanager can inhibit the node alerts on the rack alert. It clears as soon as one node
//! of the rack is back.
//!
//! After an aggregator restart the nodes replayed from the WAL have no stream yet; they get the
//! same grace as a live connection ([`NodeStore::resume_after_restart`]): up until
//! `stale_after_ms` passes without them reconnecting, so a restart raises neither node nor rack
//! alerts, while `last_report` carries the replayed batches' time.

use std::collections::BTreeMap;

use super::{Node, NodeStore, lock};
use crate::labels::Labels;

/// Name of the up series.
pub const NODE_UP: &str = "hvscope_node_up";
/// Name of the last-report series.
pub const NODE_LAST_REPORT: &str = "hvscope_node_last_report_timestamp_seconds";
/// Name of the rack-down series.
pub const RACK_DOWN: &str = "hvscope_rack_down";

/// What the rack rule looks at for one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    pub rack: String,
    pub up: bool,
    /// When it was last heard from (ms).
    pub last_seen_ms: i64,
}

/// Per rack with at least two nodes: whether the whole rack is down (every node down, gone
/// silent within `window_ms` of each other). Racks with one node are left out (a node alert
/// says it all).
pub fn racks_down(nodes: &[NodeState], window_ms: i64) -> BTreeMap<String, bool> {
    let mut by_rack: BTreeMap<&str, Vec<&NodeState>> = BTreeMap::new();
    for n in nodes.iter().filter(|n| !n.rack.is_empty()) {
        by_rack.entry(&n.rack).or_default().push(n);
    }
    by_rack
        .into_iter()
        .filter(|(_, ns)| ns.len() >= 2)
        .map(|(rack, ns)| {
            let all_down = ns.iter().all(|n| !n.up);
            let first = ns.iter().map(|n| n.last_seen_ms).min().unwrap_or(0);
            let last = ns.iter().map(|n| n.last_seen_ms).max().unwrap_or(0);
            (
                rack.to_owned(),
                all_down && last.saturating_sub(first) <= window_ms,
            )
        })
        .collect()
}

fn rack_of(n: &Node) -> Option<&str> {
    n.hello
        .labels
        .iter()
        .find(|l| l.name == "rack" && !l.value.is_empty())
        .map(|l| l.value.as_str())
}

fn labels(name: &str, n: &Node) -> Labels {
    let mut v = vec![
        ("__name__".to_owned(), name.to_owned()),
        ("node".to_owned(), n.name.clone()),
    ];
    if let Some(rack) = rack_of(n) {
        v.push(("rack".to_owned(), rack.to_owned()));
    }
    Labels::from_pairs(&v)
}

impl NodeStore {
    /// Nodes replayed from the WAL at start have no stream yet: count them as last heard from
    /// at `now_ms` and up until they reconnect or `stale_after_ms` passes.
    pub fn resume_after_restart(&self, now_ms: i64) -> usize {
        let mut resumed = 0;
        for n in self.handles() {
            let mut n = lock(&n);
            if n.streams == 0 && n.last_batch_ms > 0 {
                n.awaiting_reconnect = true;
                n.last_seen_ms = n.last_seen_ms.max(now_ms);
                resumed += 1;
            }
        }
        resumed
    }

    /// Appends one liveness sample per node at `now_ms`, and one rack-down sample per rack of
    /// two or more nodes; a node is up when a stream is open (or it awaits its reconnection
    /// after a restart) and it was heard from within `stale_after_ms`. Returns the number of
    /// nodes up.
    pub fn record_liveness(&self, now_ms: i64, stale_after_ms: i64, rack_window_ms: i64) -> usize {
        let nodes = self.handles();
        let mut up_count = 0;
        let mut states = Vec::with_capacity(nodes.len());
        let mut stored: Vec<(Labels, f64)> = Vec::new();
        let mut store = |labels: Labels, v: f64| {
            if matches!(
                self.db.append_labels(&labels, now_ms, v),
                crate::tsdb::Appended::Stored { .. }
            ) {
                stored.push((labels, v));
            }
        };
        for n in nodes {
            let mut n = lock(&n);
            let up = (n.streams > 0 || n.awaiting_reconnect)
                && now_ms - n.last_seen_ms <= stale_after_ms;
            if !up && !n.stale_marked && n.last_batch_ms > 0 {
                self.mark_stale(&mut n, now_ms);
            }
            up_count += usize::from(up);
            if n.last_batch_ms > 0 {
                states.push(NodeState {
                    rack: rack_of(&n).unwrap_or_default().to_owned(),
                    up,
                    last_seen_ms: n.last_seen_ms,
                });
            }
            store(labels(NODE_UP, &n), f64::from(u8::from(up)));
            if n.last_batch_ms > 0 {
                store(
                    labels(NODE_LAST_REPORT, &n),
                    n.last_batch_ms as f64 / 1000.0,
                );
            }
        }
        for (rack, down) in racks_down(&states, rack_window_ms) {
            let labels = Labels::from_pairs(&[("__name__", RACK_DOWN), ("rack", rack.as_str())]);
            store(labels, f64::from(u8::from(down)));
        }
        self.log_derived(now_ms, stored);
        up_count
    }

    /// Logs the liveness samples just stored, for remote-write (replay of the head skips them).
    fn log_derived(&self, now_ms: i64, stored: Vec<(Labels, f64)>) {
        let Some(wal) = &self.wal else { return };
        if stored.is_empty() {
            return;
        }
        let derived = stored
            .into_iter()
            .map(|(labels, value)| crate::wal::DerivedSample {
                labels: super::wire_labels(&labels),
                timestamp_ms: now_ms,
                value,
            })
            .collect();
        let rec = crate::wal::WalRecord {
            derived,
            ..Default::default()
        };
        if let Err(error) = wal.append(|_| rec) {
            tracing::warn!(%error, "could not log the liveness samples for remote-write");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hvscope_proto::v1::{Batch, Hello, Label};

    fn values(s: &NodeStore, name: &str) -> Vec<(String, Vec<(i64, f64)>)> {
        crate::nodes::tests::stored(s, name, "rack")
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
        assert_eq!(s.record_liveness(2_000, 30_000, 30_000), 1);
        s.close_stream("n1", 2_500);
        assert_eq!(s.record_liveness(3_000, 30_000, 30_000), 0);
        assert_eq!(
            values(&s, NODE_UP),
            vec![("r7".to_owned(), vec![(2_000, 1.0), (3_000, 0.0)])]
        );
        assert_eq!(
            values(&s, NODE_LAST_REPORT),
            vec![("r7".to_owned(), vec![(2_000, 1.5), (3_000, 1.5)])]
        );
    }

    fn st(rack: &str, up: bool, last_seen_ms: i64) -> NodeState {
        NodeState {
            rack: rack.into(),
            up,
            last_seen_ms,
        }
    }

    #[test]
    fn rack_down_when_every_node_goes_silent_together() {
        let w = 30_000;
        let r = racks_down(
            &[
                st("r1", false, 100_000),
                st("r1", false, 120_000),
                st("r2", false, 10_000),
                st("r2", false, 100_000), // silent 90 s apart: two node outages
                st("r3", false, 5),       // a rack of one: no rack series
                st("r4", true, 100_000),
                st("r4", false, 100_000), // one node still up
                st("", false, 0),
                st("", false, 0),
            ],
            w,
        );
        let want: BTreeMap<String, bool> = [("r1", true), ("r2", false), ("r4", false)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(r, want);
        assert!(racks_down(&[], w).is_empty());
    }

    fn hello(rack: &str) -> Hello {
        Hello {
            boot_id: "b".into(),
            labels: vec![Label {
                name: "rack".into(),
                value: rack.into(),
            }],
            ..Default::default()
        }
    }

    fn batch(seq: u64, t: i64) -> Batch {
        Batch {
            seq,
            timestamp_ms: t,
            ..Default::default()
        }
    }

    fn last(s: &NodeStore, name: &str) -> Vec<(String, f64)> {
        values(s, name)
            .into_iter()
            .map(|(rack, v)| (rack, v.last().unwrap().1))
            .collect()
    }

    #[test]
    fn rack_down_series_set_and_cleared() {
        let s = NodeStore::default();
        for n in ["a", "b"] {
            s.open_stream(n, &hello("r1"), 1_000);
            s.apply(n, &batch(1, 1_000), &[], true, 1_000);
        }
        s.open_stream("c", &hello("r2"), 1_000);
        s.apply("c", &batch(1, 1_000), &[], true, 1_000);
        assert_eq!(s.record_liveness(10_000, 60_000, 30_000), 3);
        assert_eq!(last(&s, RACK_DOWN), vec![("r1".to_owned(), 0.0)]);
        // Both nodes of r1 drop within 5 s.
        s.close_stream("a", 20_000);
        s.close_stream("b", 25_000);
        assert_eq!(s.record_liveness(30_000, 60_000, 30_000), 1);
        assert_eq!(last(&s, RACK_DOWN), vec![("r1".to_owned(), 1.0)]);
        assert_eq!(
            last(&s, NODE_UP),
            vec![
                ("r1".to_owned(), 0.0),
                ("r1".to_owned(), 0.0),
                ("r2".to_owned(), 1.0)
            ],
            "node_up stays 0 under the rack alert"
        );
        // One comes back: the rack is not down any more.
        s.open_stream("b", &hello("r1"), 40_000);
        s.record_liveness(40_000, 60_000, 30_000);
        assert_eq!(last(&s, RACK_DOWN), vec![("r1".to_owned(), 0.0)]);
    }

    #[test]
    fn replayed_nodes_keep_liveness_across_a_restart() {
        use crate::wal::WalRecord;
        // What a restarted aggregator has: nodes replayed from the WAL, no stream.
        let s = NodeStore::default();
        for n in ["a", "b"] {
            s.replay(WalRecord {
                node: n.into(),
                boot_id: "b".into(),
                started_ms: 0,
                hello_labels: hello("r1").labels,
                batch: Some(batch(7, 50_000)),
                stale_ms: 0,
                derived: Vec::new(),
            });
        }
        assert_eq!(s.resume_after_restart(100_000), 2);
        // Within the staleness window: up, last report from the WAL, rack not down.
        assert_eq!(s.record_liveness(100_000, 60_000, 30_000), 2);
        assert_eq!(
            last(&s, NODE_LAST_REPORT),
            vec![("r1".to_owned(), 50.0), ("r1".to_owned(), 50.0)]
        );
        assert_eq!(last(&s, RACK_DOWN), vec![("r1".to_owned(), 0.0)]);
        // "a" reconnects and resumes after its durable batches; "b" never does.
        assert_eq!(s.open_stream("a", &hello("r1"), 110_000), 8);
        assert_eq!(s.record_liveness(170_000, 60_000, 30_000), 1);
        assert_eq!(
            last(&s, NODE_UP),
            vec![("r1".to_owned(), 1.0), ("r1".to_owned(), 0.0)]
        );
        assert_eq!(last(&s, RACK_DOWN), vec![("r1".to_owned(), 0.0)]);
        s.close_stream("a", 175_000);
        assert_eq!(s.record_liveness(240_000, 60_000, 30_000), 0);
    }
}
