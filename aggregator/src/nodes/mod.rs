//! Live state of every node: connection, identity of the agent instance, the latest value of
//! each series, and the open findings. Applying a batch is idempotent per
//! (node, agent instance, sequence): a batch received twice is applied once. Every applied
//! sample is also appended to the TSDB head ([`Db`]); liveness series are in [`liveness`].

pub mod liveness;
mod wal;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use hvscope_proto::v1::{Batch, Finding, Hello, Label, SeriesDef, Severity};
use serde::Serialize;

use crate::labels::Labels;
use crate::tsdb::{Db, SeriesHandle};
use crate::wal::Wal;

/// One agent process on one boot of a node: sequences restart with each.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Instance {
    pub boot_id: String,
    pub started_ms: i64,
}

/// A series defined by an agent: its stored labels, its handle in the TSDB and its latest
/// sample (one map lookup per sample on the append path).
#[derive(Debug, Clone)]
struct Def {
    labels: Labels,
    series: SeriesHandle,
    latest: Option<(i64, f64)>,
}

/// Hasher for the agent's series ids (small integers from an authenticated agent): one
/// multiply instead of SipHash on the per-sample lookup.
#[derive(Debug, Default, Clone, Copy)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        // Fibonacci hashing; hashbrown takes its control bits from the top of the hash.
        self.0 = (self.0 ^ id).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type IdMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<IdHasher>>;

/// State of one node.
#[derive(Debug, Default)]
pub struct Node {
    pub name: String,
    pub streams: u32,
    pub last_seen_ms: i64,
    /// Collection time of the newest applied batch (ms), 0 before the first.
    pub last_batch_ms: i64,
    pub hello: Hello,
    pub instance: Instance,
    /// Highest sequence applied for `instance`.
    pub last_seq: u64,
    /// First sequence applied by this aggregator process on the current stream.
    pub stream_first_seq: Option<u64>,
    pub batches: u64,
    pub samples: u64,
    defs: IdMap<Def>,
    pub findings: Vec<Finding>,
    /// WAL segment the ids in `wal_defined` were written to.
    wal_segment: u64,
    /// Series ids whose definition the current WAL segment holds.
    wal_defined: std::collections::HashSet<u64>,
    /// Replayed from the WAL, no stream since this aggregator started: counted up within the
    /// staleness window (see [`liveness`]).
    pub awaiting_reconnect: bool,
}

/// What applying a batch did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Applied: `samples` stored, `gap` batches missing before it.
    New { samples: usize, gap: u64 },
    /// Already applied earlier: acknowledged again, not applied twice.
    Duplicate,
    /// Samples reference series never defined on this node: ask for a resend from here.
    UnknownSeries { unknown: usize },
    /// The write-ahead log refused the batch: nothing applied, no ack.
    NotDurable { error: String },
}

/// Converts wire labels to stored labels: sorted, `node` replaced by the certificate's name.
pub fn stamp_labels(labels: &[Label], node: &str) -> Labels {
    let mut v: Vec<(String, String)> = labels
        .iter()
        .filter(|l| l.name != "node" && !l.value.is_empty())
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    v.push(("node".to_owned(), node.to_owned()));
    v.sort();
    v.dedup_by(|a, b| a.0 == b.0);
    Arc::new(v)
}

impl Node {
    /// Makes `inst` the node's agent instance; a new boot or a restarted agent starts its ids
    /// and sequences afresh, so what belonged to the previous one is dropped.
    pub(crate) fn switch_instance(&mut self, inst: Instance) {
        if inst != self.instance {
            self.instance = inst;
            self.last_seq = 0;
            self.defs.clear();
            self.findings.clear();
        }
    }

    /// Records a new stream from `hello`; returns the sequence the agent may resume from
    /// (0: unknown, send everything).
    fn open(&mut self, hello: &Hello, now_ms: i64) -> u64 {
        let inst = Instance {
            boot_id: hello.boot_id.clone(),
            started_ms: hello.started_ms,
        };
        self.switch_instance(inst);
        self.hello = hello.clone();
        self.streams += 1;
        self.awaiting_reconnect = false;
        self.stream_first_seq = None;
        self.last_seen_ms = now_ms;
        if self.last_seq > 0 {
            self.last_seq + 1
        } else {
            0
        }
    }

    /// Applies `batch` unless it was applied before. `strict` refuses a batch whose samples
    /// reference undefined series (first attempt); otherwise those samples are dropped.
    fn apply(
        &mut self,
        db: &Db,
        wal: Option<&Wal>,
        batch: &Batch,
        samples: &[(u64, f64)],
        strict: bool,
        now_ms: i64,
    ) -> Applied {
        self.last_seen_ms = now_ms;
        if batch.seq <= self.last_seq {
            return Applied::Duplicate;
        }
        for SeriesDef { id, labels } in &batch.defs {
            let labels = stamp_labels(labels, &self.name);
            let series = db.series(&labels);
            let latest = self.defs.get(id).and_then(|d| d.latest);
            self.defs.insert(
                *id,
                Def {
                    labels,
                    series,
                    latest,
                },
            );
        }
        let unknown = samples
            .iter()
            .filter(|(id, _)| !self.defs.contains_key(id))
            .count();
        if unknown > 0 && strict {
            return Applied::UnknownSeries { unknown };
        }
        if let Some(wal) = wal
            && let Err(e) = wal.append(|segment| self.wal_record(segment, batch, samples))
        {
            return Applied::NotDurable {
                error: e.to_string(),
            };
        }
        let mut stored = 0;
        let t = batch.timestamp_ms;
        let mut appender = db.appender();
        for &(id, v) in samples {
            if let Some(def) = self.defs.get_mut(&id) {
                appender.append(&mut def.series, t, v);
                def.latest = Some((t, v));
                stored += 1;
            }
        }
        drop(appender);
        self.last_batch_ms = self.last_batch_ms.max(batch.timestamp_ms);
        let gap = if self.last_seq > 0 {
            batch.seq - self.last_seq - 1
        } else {
            0
        };
        self.last_seq = batch.seq;
        self.stream_first_seq.get_or_insert(batch.seq);
        self.findings = batch.findings.clone();
        self.batches += 1;
        self.samples += stored as u64;
        Applied::New {
            samples: stored,
            gap,
        }
    }
}

/// Every node's state.
#[derive(Debug, Default)]
pub struct NodeStore {
    nodes: RwLock<BTreeMap<String, Arc<Mutex<Node>>>>,
    db: Arc<Db>,
    wal: Option<Arc<Wal>>,
}

fn lock(n: &Mutex<Node>) -> std::sync::MutexGuard<'_, Node> {
    n.lock().unwrap_or_else(|p| p.into_inner())
}

impl NodeStore {
    /// A store whose samples go to `db`.
    pub fn with_db(db: Arc<Db>) -> Self {
        Self {
            nodes: RwLock::default(),
            db,
            wal: None,
        }
    }

    /// Logs every applied batch to `wal` before it is applied (and acknowledged).
    pub fn set_wal(&mut self, wal: Arc<Wal>) {
        self.wal = Some(wal);
    }

    /// The write-ahead log, when configured.
    pub fn wal(&self) -> Option<&Arc<Wal>> {
        self.wal.as_ref()
    }

    /// The TSDB head samples are appended to.
    pub fn db(&self) -> &Arc<Db> {
        &self.db
    }

    fn node(&self, name: &str) -> Arc<Mutex<Node>> {
        if let Some(n) = self
            .nodes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return n.clone();
        }
        let mut w = self.nodes.write().unwrap_or_else(|p| p.into_inner());
        w.entry(name.to_owned())
            .or_insert_with(|| {
                Arc::new(Mutex::new(Node {
                    name: name.to_owned(),
                    ..Default::default()
                }))
            })
            .clone()
    }

    /// A stream from `node` opened with `hello`; returns the resume sequence (0: unknown).
    pub fn open_stream(&self, node: &str, hello: &Hello, now_ms: i64) -> u64 {
        lock(&self.node(node)).open(hello, now_ms)
    }

    /// The stream ended.
    pub fn close_stream(&self, node: &str, now_ms: i64) {
        let n = self.node(node);
        let mut n = lock(&n);
        n.streams = n.streams.saturating_sub(1);
        n.awaiting_reconnect = false;
        n.last_seen_ms = now_ms;
    }

    /// Applies a batch of `node` (see [`Applied`]).
    pub fn apply(
        &self,
        node: &str,
        batch: &Batch,
        samples: &[(u64, f64)],
        strict: bool,
        now_ms: i64,
    ) -> Applied {
        lock(&self.node(node)).apply(
            &self.db,
            self.wal.as_deref(),
            batch,
            samples,
            strict,
            now_ms,
        )
    }

    /// Number of nodes known.
    pub fn len(&self) -> usize {
        self.nodes.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// True when no node is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every node's handle, taken under the map's read lock and used without it.
    pub(super) fn handles(&self) -> Vec<Arc<Mutex<Node>>> {
        self.nodes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The JSON view of every node (`GET /api/v1/nodes`).
    pub fn view(&self, with_series: bool) -> NodesView {
        let nodes = self.handles();
        NodesView {
            nodes: nodes
                .iter()
                .map(|n| NodeView::of(&lock(n), with_series))
                .collect(),
        }
    }
}

/// `GET /api/v1/nodes`.
#[derive(Debug, Serialize)]
pub struct NodesView {
    pub nodes: Vec<NodeView>,
}

/// One node in the JSON view.
#[derive(Debug, Serialize)]
pub struct NodeView {
    pub node: String,
    pub connected: bool,
    pub last_seen_ms: i64,
    pub series: usize,
    pub findings: Vec<FindingView>,
    pub labels: BTreeMap<String, String>,
    pub claimed_node: String,
    pub agent_version: String,
    pub image_version: String,
    pub boot_id: String,
    pub last_seq: u64,
    pub stream_first_seq: Option<u64>,
    pub batches: u64,
    pub samples: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series_values: Option<Vec<SeriesView>>,
}

/// A finding in the JSON view (DESIGN.md §3 shape).
#[derive(Debug, Serialize)]
pub struct FindingView {
    pub check: String,
    pub severity: &'static str,
    pub subject: BTreeMap<String, String>,
    pub message: String,
}

/// A series with its latest value.
#[derive(Debug, Serialize)]
pub struct SeriesView {
    pub labels: BTreeMap<String, String>,
    pub timestamp_ms: i64,
    pub value: f64,
}

fn severity_name(s: i32) -> &'static str {
    match Severity::try_from(s) {
        Ok(Severity::Ok) => "ok",
        Ok(Severity::Warning) => "warning",
        Ok(Severity::Critical) => "critical",
        Ok(Severity::Unknown) => "unknown",
        _ => "unspecified",
    }
}

impl NodeView {
    fn of(n: &Node, with_series: bool) -> Self {
        let series_values = with_series.then(|| {
            let mut v: Vec<SeriesView> = n
                .defs
                .values()
                .filter_map(|d| {
                    let (timestamp_ms, value) = d.latest?;
                    Some(SeriesView {
                        labels: d.labels.iter().cloned().collect(),
                        timestamp_ms,
                        value,
                    })
                })
                .collect();
            v.sort_by(|a, b| a.labels.cmp(&b.labels));
            v
        });
        Self {
            node: n.name.clone(),
            connected: n.streams > 0,
            last_seen_ms: n.last_seen_ms,
            series: n.defs.values().filter(|d| d.latest.is_some()).count(),
            findings: n
                .findings
                .iter()
                .map(|f| FindingView {
                    check: f.check.clone(),
                    severity: severity_name(f.severity),
                    subject: f
                        .subject
                        .iter()
                        .map(|l| (l.name.clone(), l.value.clone()))
                        .collect(),
                    message: f.message.clone(),
                })
                .collect(),
            labels: n
                .hello
                .labels
                .iter()
                .filter(|l| l.name != "node")
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect(),
            claimed_node: n.hello.claimed_node.clone(),
            agent_version: n.hello.agent_version.clone(),
            image_version: n.hello.image_version.clone(),
            boot_id: n.instance.boot_id.clone(),
            last_seq: n.last_seq,
            stream_first_seq: n.stream_first_seq,
            batches: n.batches,
            samples: n.samples,
            series_values,
        }
    }
}

#[cfg(test)]
mod tests;
