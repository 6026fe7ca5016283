//! Live state of every node: connection, identity of the agent instance, the latest value of
//! each series, and the open findings. Applying a batch is idempotent per
//! (node, agent instance, sequence): a batch received twice is applied once. Every applied
//! sample is also appended to the TSDB head ([`Db`]); liveness series are in [`liveness`], the
//! series of open findings in [`findings`].
//!
//! Staleness, as Prometheus does it for a scrape: a series the node had that is missing from
//! its next batch (a VM stopped, a session logged out, a finding cleared) gets the stale marker
//! [`STALE_NAN`] at that batch's timestamp, so PromQL stops returning it at once instead of
//! for the 5-minute lookback. So do the series of the previous agent instance that the new
//! one does not send, and every series of a node declared stale ([`Node::mark_stale`];
//! `hvscope_node_up`, the rack series and the node's open findings excepted). Markers are
//! samples like any other: the WAL replays the batches that produce them and records the
//! stale declarations.

pub mod findings;
pub mod liveness;
mod wal;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use hvscope_proto::v1::{Batch, Finding, Hello, Label, SeriesDef};
use serde::Serialize;

use crate::labels::Labels;
use crate::tsdb::{BatchAppender, Db, SeriesHandle};
use crate::wal::{Wal, WalRecord};
use findings::FindingKey;

/// Prometheus' stale marker (`value.StaleNaN`): a NaN with exactly these bits ends a series.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;
/// The stale marker as a value.
pub const STALE_NAN: f64 = f64::from_bits(STALE_NAN_BITS);

/// True for the stale marker (and no other NaN).
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// Bounds the store applies to every node, so that one node (a label-churn bug in its agent,
/// or a compromised node with a valid certificate) cannot exhaust the aggregator for the
/// fleet. The defaults are far above what a compute node sends (~2,000 series, ~12 labels).
/// What a limit refuses is counted by [`LimitReason`], logged once per node and reason, and
/// named in the batch's ack; the rest of the batch is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Findings of one check shown with their own `hvscope_finding` series, per node; the rest
    /// are folded (see [`findings`]).
    pub max_findings_per_check: usize,
    /// Series a node may have defined at once (ended series are forgotten after
    /// [`FORGET_ENDED_MS`]).
    pub max_series_per_node: usize,
    /// Labels of one series, `__name__` and `node` included.
    pub max_labels_per_series: usize,
    /// Longest label name, bytes.
    pub max_label_name_bytes: usize,
    /// Longest label value, bytes.
    pub max_label_value_bytes: usize,
    /// Series definitions in one batch.
    pub max_defs_per_batch: usize,
    /// Samples in one batch.
    pub max_samples_per_batch: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_findings_per_check: findings::DEFAULT_MAX_PER_CHECK,
            max_series_per_node: 50_000,
            max_labels_per_series: 32,
            max_label_name_bytes: 256,
            max_label_value_bytes: 2048,
            max_defs_per_batch: 50_000,
            max_samples_per_batch: 100_000,
        }
    }
}

/// A series that ended (stale marker) and was not sent again for this long is forgotten: its
/// id no longer counts against `max_series_per_node` (the agent defines it again if it
/// returns; the TSDB keeps its samples).
pub const FORGET_ENDED_MS: i64 = 10 * 60 * 1000;

/// Why a limit refused part of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitReason {
    SeriesPerNode,
    LabelsPerSeries,
    LabelNameLength,
    LabelValueLength,
    DefsPerBatch,
    SamplesPerBatch,
}

impl LimitReason {
    pub const ALL: [Self; 6] = [
        Self::SeriesPerNode,
        Self::LabelsPerSeries,
        Self::LabelNameLength,
        Self::LabelValueLength,
        Self::DefsPerBatch,
        Self::SamplesPerBatch,
    ];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SeriesPerNode => "series_per_node",
            Self::LabelsPerSeries => "labels_per_series",
            Self::LabelNameLength => "label_name_length",
            Self::LabelValueLength => "label_value_length",
            Self::DefsPerBatch => "defs_per_batch",
            Self::SamplesPerBatch => "samples_per_batch",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What the limits refused of one batch: series definitions by reason, and samples (beyond the
/// batch limit, or of series whose definition was refused, in this batch or an earlier one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Refused {
    pub series: [u64; 6],
    /// Samples beyond `max_samples_per_batch`.
    pub samples_over_batch: u64,
    /// Samples of series the limits refused to define.
    pub samples_of_refused: u64,
}

impl Refused {
    /// Nothing refused.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// One line naming what was refused, for the agent and the log.
    pub fn reason(&self, limits: &Limits) -> String {
        let mut parts = Vec::new();
        for r in LimitReason::ALL {
            let n = self.series[r.index()];
            if n > 0 {
                let bound = match r {
                    LimitReason::SeriesPerNode => limits.max_series_per_node,
                    LimitReason::LabelsPerSeries => limits.max_labels_per_series,
                    LimitReason::LabelNameLength => limits.max_label_name_bytes,
                    LimitReason::LabelValueLength => limits.max_label_value_bytes,
                    LimitReason::DefsPerBatch => limits.max_defs_per_batch,
                    LimitReason::SamplesPerBatch => limits.max_samples_per_batch,
                };
                parts.push(format!(
                    "{n} series refused: {} (limit {bound})",
                    r.as_str()
                ));
            }
        }
        if self.samples_over_batch > 0 {
            parts.push(format!(
                "{} samples refused: samples_per_batch (limit {})",
                self.samples_over_batch, limits.max_samples_per_batch
            ));
        }
        if self.samples_of_refused > 0 {
            parts.push(format!(
                "{} samples of refused series dropped",
                self.samples_of_refused
            ));
        }
        parts.join("; ")
    }
}

/// Why `labels` (as sent, before `node` is stamped) may not be defined, if so.
pub fn check_labels(labels: &[Label], limits: &Limits) -> Option<LimitReason> {
    // `node` is replaced, never added twice.
    let count = labels.iter().filter(|l| l.name != "node").count() + 1;
    if count > limits.max_labels_per_series {
        return Some(LimitReason::LabelsPerSeries);
    }
    if labels
        .iter()
        .any(|l| l.name.len() > limits.max_label_name_bytes)
    {
        return Some(LimitReason::LabelNameLength);
    }
    if labels
        .iter()
        .any(|l| l.value.len() > limits.max_label_value_bytes)
    {
        return Some(LimitReason::LabelValueLength);
    }
    None
}

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

impl Def {
    fn new(db: &Db, labels: Labels) -> Self {
        Self {
            series: db.series(&labels),
            labels,
            latest: None,
        }
    }

    /// Has a current (not stale) value.
    fn live(&self) -> bool {
        self.latest.is_some_and(|(_, v)| !is_stale(v))
    }

    /// Ends the series at `t` (when it has a current value older than `t`); true when a marker
    /// was stored.
    fn end(&mut self, appender: &mut BatchAppender<'_>, t: i64) -> bool {
        match self.latest {
            Some((lt, v)) if lt < t && !is_stale(v) => {
                self.latest = Some((t, STALE_NAN));
                appender.append_if_newer(&mut self.series, t, STALE_NAN)
            }
            _ => false,
        }
    }
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
    /// First batch time (ms) of each open finding.
    since: HashMap<FindingKey, i64>,
    /// The `hvscope_finding` series of the open findings, by labels.
    finding_defs: HashMap<Labels, Def>,
    /// Findings shown with their own series in the last batch (kept first under the bound).
    shown: HashSet<FindingKey>,
    /// Series of the previous agent instance, ended at the new one's first batch unless it
    /// sends them too.
    orphans: Vec<Def>,
    /// Every series was ended by [`Node::mark_stale`] and no batch came since.
    pub stale_marked: bool,
    /// The limits refused series of this agent instance: samples of undefined series are
    /// dropped (they are most likely the refused ones) instead of asking for a resend.
    refusing: bool,
    /// Limit reasons already logged for this node (bit per [`LimitReason`]).
    logged_limits: u8,
    /// WAL segment the ids in `wal_defined` were written to.
    wal_segment: u64,
    /// Series ids whose definition the current WAL segment holds.
    wal_defined: std::collections::HashSet<u64>,
    /// Replayed from the WAL, no stream since this aggregator started: counted up within the
    /// staleness window (see [`liveness`]).
    pub awaiting_reconnect: bool,
}

/// Where a node's batch goes: the TSDB head, the WAL (not on replay), under the store's limits.
#[derive(Debug, Clone, Copy)]
struct Target<'a> {
    db: &'a Db,
    wal: Option<&'a Wal>,
    limits: Limits,
}

/// What applying a batch did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Applied: `samples` stored, `gap` batches missing before it, `ended` series given a
    /// stale marker, what the limits `refused`.
    New {
        samples: usize,
        gap: u64,
        ended: usize,
        refused: Refused,
    },
    /// Already applied earlier: acknowledged again, not applied twice.
    Duplicate,
    /// Samples reference series never defined on this node: ask for a resend from here.
    UnknownSeries { unknown: usize },
    /// The write-ahead log refused the batch: nothing applied, no ack.
    NotDurable { error: String },
}

/// Stored labels as the wire (and the WAL) carries them.
pub fn wire_labels(labels: &Labels) -> Vec<Label> {
    labels
        .pairs()
        .map(|(name, value)| Label {
            name: name.to_owned(),
            value: value.to_owned(),
        })
        .collect()
}

/// Converts wire labels to stored labels: sorted, `node` replaced by the certificate's name.
pub fn stamp_labels(labels: &[Label], node: &str) -> Labels {
    let mut v: Vec<(&str, &str)> = labels
        .iter()
        .filter(|l| l.name != "node" && !l.value.is_empty())
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    v.push(("node", node));
    v.sort_unstable();
    v.dedup_by(|a, b| a.0 == b.0);
    Labels::from_sorted(&v)
}

impl Node {
    /// Makes `inst` the node's agent instance; a new boot or a restarted agent starts its ids
    /// and sequences afresh, so what belonged to the previous one is dropped.
    pub(crate) fn switch_instance(&mut self, inst: Instance) {
        if inst != self.instance {
            self.instance = inst;
            self.last_seq = 0;
            self.orphans
                .extend(self.defs.drain().map(|(_, d)| d).filter(Def::live));
            self.findings.clear();
            self.refusing = false;
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
        to: Target<'_>,
        batch: &Batch,
        samples: &[(u64, f64)],
        strict: bool,
        now_ms: i64,
    ) -> Applied {
        let Target { db, wal, limits } = to;
        self.last_seen_ms = now_ms;
        if batch.seq <= self.last_seq {
            return Applied::Duplicate;
        }
        let mut refused = Refused::default();
        for (i, SeriesDef { id, labels }) in batch.defs.iter().enumerate() {
            let known = self.defs.contains_key(id);
            let why = if i >= limits.max_defs_per_batch {
                Some(LimitReason::DefsPerBatch)
            } else if let Some(r) = check_labels(labels, &limits) {
                Some(r)
            } else if !known
                && self.defs.len() + self.finding_defs.len() >= limits.max_series_per_node
            {
                Some(LimitReason::SeriesPerNode)
            } else {
                None
            };
            if let Some(r) = why {
                refused.series[r.index()] += 1;
                continue;
            }
            let labels = stamp_labels(labels, &self.name);
            let latest = self.defs.get(id).and_then(|d| d.latest);
            let mut def = Def::new(db, labels);
            def.latest = latest;
            self.defs.insert(*id, def);
        }
        if !refused.is_empty() {
            self.refusing = true;
        }
        let samples = if samples.len() > limits.max_samples_per_batch {
            refused.samples_over_batch = (samples.len() - limits.max_samples_per_batch) as u64;
            &samples[..limits.max_samples_per_batch]
        } else {
            samples
        };
        let unknown = samples
            .iter()
            .filter(|(id, _)| !self.defs.contains_key(id))
            .count();
        if unknown > 0 && strict && !self.refusing {
            return Applied::UnknownSeries { unknown };
        }
        if self.refusing {
            refused.samples_of_refused = unknown as u64;
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
        let mut ended = 0;
        for def in self.defs.values_mut() {
            ended += usize::from(def.end(&mut appender, t));
        }
        for mut def in self.orphans.drain(..) {
            ended += usize::from(appender.append_if_newer(&mut def.series, t, STALE_NAN));
        }
        ended += self.apply_findings(db, &mut appender, &batch.findings, t, limits);
        drop(appender);
        self.stale_marked = false;
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
            ended,
            refused,
        }
    }

    /// Forgets series that ended before `cutoff_ms` and were not sent since (they no longer
    /// count against the node's series limit); returns how many.
    fn forget_ended(&mut self, cutoff_ms: i64, limits: &Limits) -> usize {
        let before = self.defs.len();
        self.defs
            .retain(|_, d| d.live() || d.latest.is_some_and(|(t, _)| t >= cutoff_ms));
        if self.defs.len() + self.finding_defs.len() < limits.max_series_per_node {
            // Room again: undefined ids get a resend, which defines them.
            self.refusing = false;
        }
        before - self.defs.len()
    }

    /// The reasons in `refused` not logged for this node before (and marks them logged).
    fn first_refusals(&mut self, refused: &Refused) -> bool {
        let mut bits = 0u8;
        for r in LimitReason::ALL {
            if refused.series[r.index()] > 0 {
                bits |= 1 << r.index();
            }
        }
        if refused.samples_over_batch > 0 {
            bits |= 1 << LimitReason::SamplesPerBatch.index();
        }
        let new = bits & !self.logged_limits;
        self.logged_limits |= bits;
        new != 0
    }

    /// The node's own labels on derived series: `node` and the hello's static labels.
    fn base_labels(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .hello
            .labels
            .iter()
            .filter(|l| l.name != "node" && !l.value.is_empty())
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        v.push(("node".to_owned(), self.name.clone()));
        v.sort();
        v.dedup_by(|a, b| a.0 == b.0);
        v
    }

    /// Writes the `hvscope_finding` series of `open` at `t` and ends those of findings that
    /// cleared; returns the markers stored.
    fn apply_findings(
        &mut self,
        db: &Db,
        appender: &mut BatchAppender<'_>,
        open: &[Finding],
        t: i64,
        limits: Limits,
    ) -> usize {
        if open.is_empty() && self.finding_defs.is_empty() {
            self.since.clear();
            self.shown.clear();
            return 0;
        }
        let fs = findings::series(
            open,
            &self.base_labels(),
            limits.max_findings_per_check,
            &self.shown,
        );
        let mut next = HashMap::with_capacity(fs.series.len());
        for (labels, v) in fs.series {
            let mut def = self
                .finding_defs
                .remove(&labels)
                .unwrap_or_else(|| Def::new(db, labels.clone()));
            appender.append(&mut def.series, t, v);
            def.latest = Some((t, v));
            next.insert(labels, def);
        }
        let mut ended = 0;
        for (_, mut def) in self.finding_defs.drain() {
            ended += usize::from(def.end(appender, t));
        }
        self.finding_defs = next;
        self.shown = fs.shown;
        let mut since = HashMap::with_capacity(open.len());
        for f in open {
            let k = findings::key(f);
            let first = self.since.get(&k).copied().unwrap_or(t);
            since.insert(k, first);
        }
        self.since = since;
        ended
    }

    /// Ends the node's series (the agent's, and the previous instance's) at `t`, or just after
    /// a series' newest sample when that is later (the agent's clock may run ahead of ours).
    /// Returns the markers stored.
    ///
    /// The `hvscope_finding` series are left to age out (Prometheus' 5-minute lookback): ending
    /// them would resolve every alert of the node at once, a burst of "resolved" notifications
    /// that say nothing was wrong, sent before `HvscopeNodeDown` (which has a `for:`) fires and
    /// inhibits them. Left alone, they stay firing, quiet under the node alert, and resolve
    /// under it; a node back within the lookback ends the ones that cleared with its batch.
    pub(crate) fn mark_stale(&mut self, db: &Db, t: i64) -> usize {
        let mut appender = db.appender();
        let mut ended = 0;
        let defs = self.defs.values_mut().chain(self.orphans.iter_mut());
        for def in defs {
            if !def.live() {
                continue;
            }
            let at = def.latest.map_or(t, |(lt, _)| t.max(lt + 1));
            def.latest = Some((at, STALE_NAN));
            ended += usize::from(appender.append_if_newer(&mut def.series, at, STALE_NAN));
        }
        self.orphans.clear();
        self.stale_marked = true;
        ended
    }

    /// The WAL record declaring the node stale at `t`.
    fn stale_record(&self, t: i64) -> WalRecord {
        WalRecord {
            node: self.name.clone(),
            boot_id: self.hello.boot_id.clone(),
            started_ms: self.hello.started_ms,
            hello_labels: self.hello.labels.clone(),
            batch: None,
            stale_ms: t,
            derived: Vec::new(),
        }
    }

    /// When the open finding `f` was first seen (ms), 0 when unknown.
    pub fn since_ms(&self, f: &Finding) -> i64 {
        self.since.get(&findings::key(f)).copied().unwrap_or(0)
    }
}

/// Every node's state.
#[derive(Debug, Default)]
pub struct NodeStore {
    nodes: RwLock<BTreeMap<String, Arc<Mutex<Node>>>>,
    db: Arc<Db>,
    wal: Option<Arc<Wal>>,
    limits: Limits,
    /// Stale markers stored (missing series, cleared findings, stale nodes).
    stale_markers: AtomicU64,
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
            limits: Limits::default(),
            stale_markers: AtomicU64::new(0),
        }
    }

    /// Sets the per-node bounds.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Stale markers stored since start.
    pub fn stale_markers(&self) -> u64 {
        self.stale_markers.load(Ordering::Relaxed)
    }

    fn target(&self, with_wal: bool) -> Target<'_> {
        Target {
            db: &self.db,
            wal: self.wal.as_deref().filter(|_| with_wal),
            limits: self.limits,
        }
    }

    fn count_ended(&self, n: usize) {
        if n > 0 {
            self.stale_markers.fetch_add(n as u64, Ordering::Relaxed);
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
        let handle = self.node(node);
        let mut n = lock(&handle);
        let r = n.apply(self.target(true), batch, samples, strict, now_ms);
        if let Applied::New { ended, refused, .. } = &r {
            self.count_ended(*ended);
            if !refused.is_empty() && n.first_refusals(refused) {
                tracing::warn!(%node, seq = batch.seq, reason = %refused.reason(&self.limits),
                    "per-node limits refused part of a batch (logged once per node and reason; \
                     see hvscope_aggregator_limited_*_total)");
            }
        }
        r
    }

    /// The store's limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Forgets, on every node, series that ended more than [`FORGET_ENDED_MS`] before
    /// `now_ms`; returns how many.
    pub fn forget_ended(&self, now_ms: i64) -> usize {
        self.handles()
            .iter()
            .map(|n| lock(n).forget_ended(now_ms - FORGET_ENDED_MS, &self.limits))
            .sum()
    }

    /// Declares `n` stale at `t`: ends its series and records that in the WAL.
    pub(crate) fn mark_stale(&self, n: &mut Node, t: i64) {
        if let Some(wal) = &self.wal
            && let Err(error) = wal.append(|_| n.stale_record(t))
        {
            tracing::warn!(node = %n.name, %error, "could not log the node's stale markers");
        }
        let ended = n.mark_stale(&self.db, t);
        self.count_ended(ended);
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

    /// The JSON view of one node, if known.
    pub fn node_view(&self, name: &str, with_series: bool) -> Option<NodeView> {
        let n = self
            .nodes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()?;
        Some(NodeView::of(&lock(&n), with_series))
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
    /// Collection time of the first batch that had this finding (ms; 0: unknown).
    pub since_ms: i64,
}

/// A series with its latest value.
#[derive(Debug, Serialize)]
pub struct SeriesView {
    pub labels: BTreeMap<String, String>,
    pub timestamp_ms: i64,
    pub value: f64,
}

impl NodeView {
    fn of(n: &Node, with_series: bool) -> Self {
        let series_values = with_series.then(|| {
            let mut v: Vec<SeriesView> = n
                .defs
                .values()
                .filter_map(|d| {
                    let (timestamp_ms, value) = d.latest.filter(|(_, v)| !is_stale(*v))?;
                    Some(SeriesView {
                        labels: d.labels.to_vec().into_iter().collect(),
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
            series: n.defs.values().filter(|d| d.live()).count(),
            findings: n
                .findings
                .iter()
                .map(|f| FindingView {
                    check: f.check.clone(),
                    severity: findings::severity_name(f.severity),
                    subject: f
                        .subject
                        .iter()
                        .map(|l| (l.name.clone(), l.value.clone()))
                        .collect(),
                    message: f.message.clone(),
                    since_ms: n.since_ms(f),
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
