//! The daemon: collect every `interval_secs`, turn the snapshot into series, give them ids,
//! and queue one batch per collection on every aggregator's link.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hvscope_common::clock::now_ms;
use hvscope_common::config::ConfigError;
use hvscope_common::notify::Notifier;
use hvscope_common::tls::TlsFiles;
use hvscope_proto::v1::{Batch, Hello, Label};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::Config;
use crate::io::{HostRoot, Ticker};
use crate::series::{Registry, SeriesBuf};
use crate::snapshot::Collector;
use crate::transport::Link;
use crate::transport::spool::SpooledBatch;
use crate::transport::stream::{self, StreamParams};
use crate::{VERSION, selfstat};

/// The agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The running agent's state, shared by the collector and the stream tasks.
pub struct Agent {
    config: Config,
    root: HostRoot,
    collector: Collector,
    registry: Arc<Mutex<Registry>>,
    links: Vec<Arc<Link>>,
    seq: u64,
    hello: Hello,
    checks: Vec<Box<dyn crate::checks::Check>>,
    last_collection: Duration,
    stamps: TickStamps,
    /// The last collection's series, whose label sets the next one reuses.
    series: SeriesBuf,
    /// The agent's own `/proc/self/{stat,statm}`, kept open (`None` without `/proc`).
    own: Option<selfstat::SelfFiles>,
}

/// Batch timestamps on the collection grid, as Prometheus stamps scrapes (`scrape.go`: the
/// wall clock read when the tick fires, *before* scraping, snapped to the previous stamp plus
/// whole intervals when within `ScrapeTimestampTolerance`, 2 ms capped at 1 % of the interval).
/// Equal deltas make the XOR chunks' delta-of-delta a single 0 bit instead of ~2 bytes per
/// sample. The tolerance here is 10 ms (capped at 1 % of the interval): tokio's timer wheel
/// has 1 ms resolution and ticks of a busy single-threaded runtime fire a few ms late. Outside
/// the tolerance (a missed tick, a clock step) the grid re-anchors on the clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickStamps {
    interval_ms: i64,
    tolerance_ms: i64,
    grid: Option<i64>,
}

impl TickStamps {
    /// Stamps for collections every `interval_ms`.
    pub fn new(interval_ms: i64) -> Self {
        Self {
            interval_ms: interval_ms.max(1),
            tolerance_ms: (interval_ms / 100).min(10),
            grid: None,
        }
    }

    /// The timestamp of a collection whose tick fired at wall-clock `now_ms`.
    pub fn stamp(&mut self, now_ms: i64) -> i64 {
        if let Some(grid) = self.grid {
            // The nearest later grid point (skipped ticks advance it by whole intervals; the
            // wall clock may run slightly ahead of or behind the monotonic tick).
            let k = (now_ms - grid + self.interval_ms / 2).div_euclid(self.interval_ms);
            let next = grid + k * self.interval_ms;
            if k >= 1 && (now_ms - next).abs() <= self.tolerance_ms {
                self.grid = Some(next);
                return next;
            }
        }
        self.grid = Some(now_ms);
        now_ms
    }
}

/// Which ticks of the loop's one ticker collect, when the collection interval is a whole
/// number `every` of SLI sample periods (the defaults: 10 × 1 s). The ticker then runs at the
/// sample period: every `every`-th tick collects, and that collection is the tick's SLI sample
/// too ([`Collector::collect_sampled`]); the other ticks sample. One wakeup, and one read of
/// each vCPU's `schedstat`, serve both where two tickers would take two of each. Ticks are
/// counted in periods (a late tick stands for the ones it coalesced), so the collections stay
/// on their grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beats {
    every: u64,
    /// Periods ticked so far.
    seen: u64,
}

impl Beats {
    /// `None` when `interval` is not a whole number of `sample` periods (then each has a
    /// ticker of its own).
    pub fn new(interval: Duration, sample: Duration) -> Option<Self> {
        let (i, s) = (interval.as_millis(), sample.as_millis());
        (s > 0 && i >= s && i % s == 0).then(|| Self {
            every: u64::try_from(i / s).unwrap_or(u64::MAX),
            seen: 0,
        })
    }

    /// A tick standing for `periods` periods: whether a collection falls among them (the
    /// first tick collects).
    pub fn collects(&mut self, periods: u64) -> bool {
        let first = self.seen;
        self.seen = self.seen.saturating_add(periods.max(1));
        first.div_ceil(self.every).saturating_mul(self.every) < self.seen
    }
}

/// Waits for `t`'s next tick; never, without one.
async fn tick_of(t: &mut Option<Ticker>) -> u64 {
    match t {
        Some(t) => t.tick().await,
        None => std::future::pending().await,
    }
}

fn read_trimmed(root: &HostRoot, rel: &str) -> Option<String> {
    root.read_string(rel)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// `IMAGE_VERSION`, else `VERSION_ID`, of an os-release file.
fn os_release_version(text: &str) -> Option<String> {
    let get = |key: &str| {
        text.lines().find_map(|l| {
            l.strip_prefix(key)
                .and_then(|r| r.strip_prefix('='))
                .map(|v| v.trim_matches('"').to_owned())
        })
    };
    get("IMAGE_VERSION").or_else(|| get("VERSION_ID"))
}

impl Agent {
    /// Prepares an agent from a validated configuration (with kernel parameters merged).
    pub fn new(config: Config) -> Result<Self, RunError> {
        config.validate()?;
        let root = HostRoot::new(&config.host_root);
        let boot_id = read_trimmed(&root, "proc/sys/kernel/random/boot_id")
            .unwrap_or_else(|| format!("unknown-{:016x}", fastrand::u64(..)));
        let claimed = config
            .node_name
            .clone()
            .or_else(|| read_trimmed(&root, "proc/sys/kernel/hostname"))
            .unwrap_or_default();
        let image_version = config
            .image_version
            .clone()
            .or_else(|| {
                root.read_string("etc/os-release")
                    .ok()
                    .and_then(|t| os_release_version(&t))
            })
            .unwrap_or_default();
        let hello = Hello {
            agent_version: VERSION.to_owned(),
            boot_id,
            image_version,
            labels: config
                .labels
                .iter()
                .map(|(k, v)| Label {
                    name: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            claimed_node: claimed,
            started_ms: now_ms(),
        };
        let links = config
            .aggregators
            .iter()
            .map(|a| Link::new(a.clone(), config.spool_max_bytes))
            .collect();
        let checks = crate::checks::configured(&config);
        let collector = Collector::new(root.clone(), &config);
        // Static labels (rack, …) go into every series definition that lacks them.
        let registry = Arc::new(Mutex::new(Registry::with_static_labels(
            config
                .labels
                .iter()
                .filter(|(k, _)| k.as_str() != "node")
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )));
        let stamps = TickStamps::new(config.interval_secs.saturating_mul(1000) as i64);
        Ok(Self {
            collector,
            checks,
            config,
            root,
            registry,
            links,
            seq: 0,
            hello,
            last_collection: Duration::ZERO,
            series: SeriesBuf::default(),
            stamps,
            own: selfstat::SelfFiles::open(),
        })
    }

    /// The links, one per aggregator.
    pub fn links(&self) -> &[Arc<Link>] {
        &self.links
    }

    /// Collects once and returns the batch (not yet queued). Its series stay in `self.series`
    /// until the next collection, which reuses their label sets (the registry adds the static
    /// labels to the definitions it sends).
    pub fn collect_batch(&mut self) -> Batch {
        self.collect_batch_with(false)
    }

    /// [`collect_batch`](Self::collect_batch); `sample`: the collection is also an SLI
    /// sample ([`Collector::collect_sampled`]).
    fn collect_batch_with(&mut self, sample: bool) -> Batch {
        let started = Instant::now();
        let timestamp_ms = self.stamps.stamp(now_ms());
        let snap = if sample {
            self.collector.collect_sampled()
        } else {
            self.collector.collect()
        };
        let findings = crate::checks::run_all(&self.checks, &snap);
        let mut buf = std::mem::take(&mut self.series);
        buf.recycle();
        snap.series(&mut buf);
        crate::checks::series(&findings, &mut buf);
        self.self_series(&mut buf);
        self.seq += 1;
        let mut samples = self
            .registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .assign(&buf, self.seq);
        self.series = buf;
        let mut batch = Batch {
            seq: self.seq,
            timestamp_ms,
            findings: findings.iter().map(|f| f.to_proto()).collect(),
            ..Default::default()
        };
        hvscope_proto::pack_samples(&mut batch, &mut samples);
        self.last_collection = started.elapsed();
        batch
    }

    fn self_series(&self, out: &mut SeriesBuf) {
        out.push(
            "hvscope_agent_info",
            "Agent build and boot identity.",
            &[
                ("version", VERSION),
                ("boot_id", &self.hello.boot_id),
                ("image_version", &self.hello.image_version),
            ],
            1.0,
        );
        if let Some(s) = self.own.as_ref().and_then(selfstat::SelfFiles::read) {
            out.push(
                "hvscope_agent_resident_memory_bytes",
                "Resident memory of the agent process.",
                &[],
                s.rss_bytes as f64,
            );
            out.push(
                "hvscope_agent_cpu_seconds_total",
                "CPU time (user + system) of the agent process.",
                &[],
                s.cpu_seconds,
            );
        }
        out.push(
            "hvscope_agent_collection_duration_seconds",
            "Wall time of the previous collection.",
            &[],
            self.last_collection.as_secs_f64(),
        );
        let series = self
            .registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        out.push(
            "hvscope_agent_series",
            "Series the agent currently has ids for.",
            &[],
            series as f64,
        );
        let mut expiry = 0;
        for l in &self.links {
            let a = [("aggregator", l.addr.as_str())];
            let (bytes, batches, dropped) = {
                let s = l.spool();
                (s.bytes(), s.len(), s.dropped())
            };
            out.push(
                "hvscope_agent_spool_bytes",
                "Encoded bytes of unacknowledged batches held in memory.",
                &a,
                bytes as f64,
            );
            out.push(
                "hvscope_agent_spool_batches",
                "Unacknowledged batches held in memory.",
                &a,
                batches as f64,
            );
            out.push(
                "hvscope_agent_spool_dropped_batches_total",
                "Batches dropped because the spool was full.",
                &a,
                dropped as f64,
            );
            out.push(
                "hvscope_agent_connected",
                "1 while a stream to the aggregator is established.",
                &a,
                if l.is_connected() { 1.0 } else { 0.0 },
            );
            out.push(
                "hvscope_agent_stream_connects_total",
                "Streams established to the aggregator since start.",
                &a,
                l.connects.load(Ordering::Relaxed) as f64,
            );
            expiry = expiry.max(l.cert_not_after.load(Ordering::Relaxed));
        }
        if expiry > 0 {
            out.push(
                "hvscope_agent_tls_cert_expiry_timestamp_seconds",
                "notAfter of the client certificate in use, seconds since the epoch.",
                &[],
                expiry as f64,
            );
        }
    }

    /// Queues a batch on every link and forgets series no spool needs any more.
    pub fn queue(&mut self, batch: Batch) {
        let entry = SpooledBatch::new(batch);
        for l in &self.links {
            l.push(entry.clone());
        }
        let oldest = self
            .links
            .iter()
            .filter_map(|l| l.spool().oldest_seq())
            .min()
            .unwrap_or(self.seq + 1);
        self.registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .evict_older_than(oldest.min(self.seq));
    }

    /// Runs until `shutdown` turns true: collection loop plus one stream task per aggregator.
    pub async fn run(mut self, shutdown: watch::Receiver<bool>) {
        let tls = self.config.tls.clone().expect("validated");
        let params = StreamParams {
            tls: TlsFiles {
                ca: tls.ca,
                cert: tls.cert,
                key: tls.key,
            },
            server_name: tls.server_name,
            hello: self.hello.clone(),
            registry: self.registry.clone(),
            connect_timeout: Duration::from_secs(self.config.connect_timeout_secs),
            max_backoff: Duration::from_secs(self.config.max_backoff_secs),
            compression: self.config.compression,
            ack_timeout: stream::ACK_TIMEOUT,
        };
        let mut tasks = Vec::new();
        for l in &self.links {
            tasks.push(tokio::spawn(stream::run(
                l.clone(),
                params.clone(),
                shutdown.clone(),
            )));
        }
        info!(aggregators = ?self.config.aggregators, interval_secs = self.config.interval_secs,
            host_root = %self.root.root().display(), boot_id = %self.hello.boot_id, "agent started");
        let notifier = Notifier::from_env();
        // The periodic wakeups are timerfds (`io::Ticker`: one wakeup per period, where the
        // runtime's timer wheel takes two or three). A collection or sample that overran its
        // period is followed by one tick for the missed ones, then the grid holds. With the
        // default cadence one ticker serves the collection and the SLI sample ([`Beats`]).
        let interval = Duration::from_secs(self.config.interval_secs);
        let sample = Duration::from_millis(self.config.sli.sample_interval_ms);
        let mut beats = Beats::new(interval, sample);
        let tick_period = if beats.is_some() { sample } else { interval };
        let mut tick = Ticker::new(tick_period);
        let mut sli_tick = beats.is_none().then(|| Ticker::new(sample));
        // The watchdog is fed from this loop only: a collection stuck in a read blocks the
        // (single-threaded) runtime, the pings stop, and systemd restarts the agent. Pings are
        // due every third of its timeout; they ride on the loop's ticks when those come at
        // least that often, and have a ticker of their own otherwise.
        let ping_every = notifier
            .watchdog()
            .map(|w| (w / 3).max(Duration::from_millis(100)));
        let mut watchdog = ping_every
            .filter(|p| *p < tick_period.min(sample))
            .map(Ticker::new);
        let mut pinged = Instant::now();
        let mut shutdown_rx = shutdown.clone();
        let mut ready = false;
        loop {
            tokio::select! {
                periods = tick.tick() => {
                    if beats.as_mut().is_none_or(|b| b.collects(periods)) {
                        let batch = self.collect_batch_with(beats.is_some());
                        self.queue(batch);
                        if !ready {
                            notifier.ready("collecting");
                            ready = true;
                        }
                    } else {
                        self.collector.sample_sli();
                    }
                }
                _ = tick_of(&mut sli_tick) => self.collector.sample_sli(),
                _ = tick_of(&mut watchdog) => {}
                _ = shutdown_rx.changed() => break,
            }
            if ping_every.is_some_and(|p| pinged.elapsed() >= p) {
                notifier.alive();
                pinged = Instant::now();
            }
        }
        notifier.stopping();
        for t in tasks {
            if let Err(error) = t.await {
                warn!(%error, "stream task ended abnormally");
            }
        }
        info!("agent stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_stamps_snap_to_the_grid_and_reanchor() {
        let mut s = TickStamps::new(10_000);
        assert_eq!(s.stamp(1_000_003), 1_000_003);
        // late by up to 10 ms: on the grid
        assert_eq!(s.stamp(1_010_007), 1_010_003);
        assert_eq!(s.stamp(1_020_003), 1_020_003);
        assert_eq!(s.stamp(1_030_013), 1_030_003);
        // a skipped tick keeps the grid; so does a tick a little early by the wall clock
        assert_eq!(s.stamp(1_050_001), 1_050_003);
        assert_eq!(s.stamp(1_059_995), 1_060_003);
        let mut s = TickStamps::new(10_000);
        s.stamp(1_000_000);
        // too late: re-anchored on the clock, then snapped to the new grid
        assert_eq!(s.stamp(1_010_020), 1_010_020);
        assert_eq!(s.stamp(1_020_021), 1_020_020);
        // a clock stepped back re-anchors too
        assert_eq!(s.stamp(1_000_500), 1_000_500);
        assert_eq!(s.stamp(1_010_500), 1_010_500);
        // a 1 s interval tolerates 10 ms, a 100 ms one 1 ms
        let mut s = TickStamps::new(100);
        s.stamp(0);
        assert_eq!(s.stamp(102), 102);
        assert_eq!(s.stamp(201), 202);
    }

    #[test]
    fn beats_collect_every_nth_period_and_keep_the_grid_over_late_ticks() {
        let s = Duration::from_secs;
        assert_eq!(Beats::new(s(10), Duration::from_millis(1500)), None);
        assert_eq!(
            Beats::new(s(1), s(2)),
            None,
            "a sample period longer than the interval"
        );
        assert_eq!(Beats::new(s(10), Duration::ZERO), None);
        let mut b = Beats::new(s(10), s(1)).unwrap();
        let ticks: Vec<bool> = (0..21).map(|_| b.collects(1)).collect();
        let at: Vec<usize> = (0..21).filter(|&i| ticks[i]).collect();
        assert_eq!(at, [0, 10, 20], "the first tick, then every tenth");
        // Periods 21..=23 are one late tick (none collects), 24..=31 another: period 30
        // is among them, so it collects; the next is period 40, not 10 ticks after.
        assert!(!b.collects(3));
        assert!(b.collects(8));
        assert!(!(0..8).any(|_| b.collects(1)));
        assert!(b.collects(1), "period 40");
        // A collection interval of one sample period: every tick collects.
        let mut b = Beats::new(s(1), s(1)).unwrap();
        assert!((0..5).all(|_| b.collects(1)));
        assert!(b.collects(0), "a tick is at least one period");
    }

    #[test]
    fn os_release_prefers_image_version() {
        assert_eq!(
            os_release_version("ID=debian\nVERSION_ID=\"12\"\nIMAGE_VERSION=2026.11.1\n"),
            Some("2026.11.1".into())
        );
        assert_eq!(os_release_version("VERSION_ID=\"12\""), Some("12".into()));
        assert_eq!(os_release_version(""), None);
    }
}
