//! A fleet of simulated compute nodes for load tests: each node streams agent-shaped batches
//! through the agent's own transport (its spool, registry, gzip, mTLS gRPC stream and acks;
//! one client certificate per node), so the aggregator sees exactly what real agents send.
//!
//! A node's series follow the agent's shape (see `tests/golden/*.prom`): about 200 host series
//! (CPU, memory, disks, NICs, PSI; counters and gauges), and per VM about 60 (vCPU times,
//! schedstat waits, memory, disks, NICs, the four SLI counters, an `_info` series). Every
//! [`CHURN_EVERY`] steps one VM of the node is replaced by a new one (its series end, new ones
//! are defined), as VMs come and go.
//!
//! Values follow one of two models ([`Values`]): [`Values::Agent`] moves each series as the
//! agent's source for it does (nanosecond CPU counters, tick counters, byte counters in
//! sectors or pages, mostly-zero SLI counters, exact observed seconds, constant sizes; half
//! the VMs busy, half idle), [`Values::Noisy`] gives every counter a random two-decimal step
//! each collection, a worst case for any float compression.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hvscope_agent::config::Compression;
use hvscope_agent::series::{Registry, SeriesBuf};
use hvscope_agent::transport::Link;
use hvscope_agent::transport::spool::SpooledBatch;
use hvscope_agent::transport::stream::{self, StreamParams};
use hvscope_common::tls::TlsFiles;
use hvscope_proto::v1::{Batch, Hello, Label};

use crate::feed::Rng;

pub mod load;

/// Host series per node.
pub const HOST_SERIES: usize = 200;
/// Series per VM.
pub const VM_SERIES: usize = 60;
/// One VM of each node is replaced every this many steps.
pub const CHURN_EVERY: u64 = 60;

/// How the values of the simulated series move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Values {
    /// As the agent's sources move them (see [`Motion`]).
    #[default]
    Agent,
    /// Every counter steps by a random two-decimal amount each collection, gauges walk.
    Noisy,
}

/// How one series moves from one collection to the next, as the agent's source for it does.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Motion {
    /// Seconds from a nanosecond counter (schedstat, cgroup `usage_usec` scaled): `ns / 1e9`,
    /// growing by about `rate` seconds per second (busy VMs) or a fiftieth of it (idle ones).
    Nanos { rate: f64 },
    /// Seconds from USER_HZ ticks (`/proc/stat`): `ticks / 100`.
    Ticks { rate: f64 },
    /// A byte counter stepping in `unit`s (sectors, pages, or 1 for NICs) with probability `p`
    /// per collection (busy) or `p / 10` (idle), about `rate` bytes per second when it does.
    Bytes { unit: f64, rate: f64, p: f64 },
    /// A per-VM SLI counter: zero, growing by a few milliseconds in one collection of 200.
    Rare,
    /// The seconds a VM was observed: exactly the interval each collection.
    Interval,
    /// A gauge in `unit`s that moves with probability `p`.
    Gauge { unit: f64, p: f64 },
    /// A gauge with two decimals that moves every collection (load average).
    Hundredths,
    /// A size that does not change (configured memory).
    Constant,
}

/// Metric names of a VM's series (60 in all with their label variants), counters marked.
const VM_METRICS: [(&str, bool, Motion); 12] = [
    (
        "hvscope_vm_cpu_seconds_total",
        true,
        Motion::Nanos { rate: 1.0 },
    ),
    (
        "hvscope_vm_vcpu_seconds_total",
        true,
        Motion::Nanos { rate: 0.5 },
    ),
    (
        "hvscope_vm_vcpu_wait_seconds_total",
        true,
        Motion::Nanos { rate: 0.01 },
    ),
    ("hvscope_vm_observed_seconds_total", true, Motion::Interval),
    ("hvscope_vm_cpu_starved_seconds_total", true, Motion::Rare),
    (
        "hvscope_vm_memory_stalled_seconds_total",
        true,
        Motion::Rare,
    ),
    ("hvscope_vm_disk_delayed_seconds_total", true, Motion::Rare),
    (
        "hvscope_vm_network_receive_bytes_total",
        true,
        Motion::Bytes {
            unit: 1.0,
            rate: 2e5,
            p: 0.9,
        },
    ),
    (
        "hvscope_vm_network_transmit_bytes_total",
        true,
        Motion::Bytes {
            unit: 1.0,
            rate: 1e5,
            p: 0.9,
        },
    ),
    (
        "hvscope_disk_read_bytes_total",
        true,
        Motion::Bytes {
            unit: 4096.0,
            rate: 1e6,
            p: 0.5,
        },
    ),
    (
        "hvscope_vm_rss_bytes",
        false,
        Motion::Gauge {
            unit: 4096.0,
            p: 0.3,
        },
    ),
    ("hvscope_vm_memory_bytes", false, Motion::Constant),
];
const HOST_METRICS: [(&str, bool, Motion); 10] = [
    (
        "hvscope_host_logical_cpu_seconds_total",
        true,
        Motion::Ticks { rate: 0.5 },
    ),
    (
        "hvscope_host_disk_read_bytes_total",
        true,
        Motion::Bytes {
            unit: 512.0,
            rate: 5e6,
            p: 0.8,
        },
    ),
    (
        "hvscope_host_disk_written_bytes_total",
        true,
        Motion::Bytes {
            unit: 512.0,
            rate: 2e6,
            p: 0.9,
        },
    ),
    (
        "hvscope_net_receive_bytes_total",
        true,
        Motion::Bytes {
            unit: 1.0,
            rate: 5e6,
            p: 1.0,
        },
    ),
    (
        "hvscope_net_transmit_bytes_total",
        true,
        Motion::Bytes {
            unit: 1.0,
            rate: 5e6,
            p: 1.0,
        },
    ),
    (
        "hvscope_host_pressure_stalled_seconds_total",
        true,
        Motion::Nanos { rate: 0.002 },
    ),
    (
        "hvscope_host_context_switches_total",
        true,
        Motion::Bytes {
            unit: 1.0,
            rate: 2e4,
            p: 1.0,
        },
    ),
    (
        "hvscope_host_memory_available_bytes",
        false,
        Motion::Gauge {
            unit: 4096.0,
            p: 1.0,
        },
    ),
    ("hvscope_host_load1", false, Motion::Hundredths),
    (
        "hvscope_host_numa_memory_free_bytes",
        false,
        Motion::Gauge {
            unit: 4096.0,
            p: 1.0,
        },
    ),
];

/// The collection interval the values are made for (seconds).
const INTERVAL_S: f64 = 10.0;

/// The series of one simulated node, advanced one collection at a time.
pub struct NodeShape {
    pub name: String,
    rng: Rng,
    vms: Vec<u64>,
    next_vm: u64,
    /// Current value of each series, in push order (host, then VMs): the underlying integer
    /// count (nanoseconds, ticks, bytes) for [`Values::Agent`], the value for `Noisy`.
    values: Vec<f64>,
    step: u64,
    model: Values,
}

impl NodeShape {
    /// Node `index` with about `series` series, values as the agent's sources move them.
    pub fn new(index: usize, series: usize) -> Self {
        Self::with_values(index, series, Values::Agent)
    }

    /// Node `index` with about `series` series, values after `model`.
    pub fn with_values(index: usize, series: usize, model: Values) -> Self {
        let vms = series
            .saturating_sub(HOST_SERIES)
            .div_ceil(VM_SERIES)
            .max(1);
        Self {
            name: format!("node-{index:05}"),
            rng: Rng::new(index as u64 * 7919 + 1),
            vms: (0..vms as u64).collect(),
            next_vm: vms as u64,
            values: Vec::new(),
            step: 0,
            model,
        }
    }

    /// Series per collection.
    pub fn series(&self) -> usize {
        HOST_SERIES + self.vms.len() * VM_SERIES
    }

    fn value(&mut self, i: usize, counter: bool, motion: Motion, busy: bool) -> f64 {
        match self.model {
            Values::Noisy => self.noisy(i, counter),
            Values::Agent => self.agent(i, motion, busy),
        }
    }

    /// The next value of series `i` as the agent's source would report it.
    fn agent(&mut self, i: usize, motion: Motion, busy: bool) -> f64 {
        if self.values.len() <= i {
            self.values.resize(i + 1, -1.0);
        }
        let fresh = self.values[i] < 0.0;
        let r = self.rng.unit();
        let jitter = 0.5 + self.rng.unit();
        let v = &mut self.values[i];
        let idle = if busy { 1.0 } else { 0.02 };
        match motion {
            Motion::Nanos { rate } => {
                if fresh {
                    *v = (r * 1e13).round();
                }
                *v += (rate * idle * INTERVAL_S * 1e9 * jitter).round();
                *v / 1e9
            }
            Motion::Ticks { rate } => {
                if fresh {
                    *v = (r * 1e9).round();
                }
                *v += (rate * INTERVAL_S * 100.0 * jitter).round();
                *v / 100.0
            }
            Motion::Bytes { unit, rate, p } => {
                if fresh {
                    *v = (r * 1e12 / unit).round();
                }
                let p = if busy { p } else { p / 10.0 };
                if r < p {
                    *v += (rate * idle * INTERVAL_S * jitter / unit).round().max(1.0);
                }
                *v * unit
            }
            Motion::Rare => {
                if fresh {
                    *v = 0.0;
                }
                if r < 0.005 {
                    *v += (jitter * 5e6).round();
                }
                *v / 1e9
            }
            Motion::Interval => {
                if fresh {
                    *v = 0.0;
                }
                *v += INTERVAL_S;
                *v
            }
            Motion::Gauge { unit, p } => {
                if fresh {
                    *v = (1e5 + r * 1e7).round();
                }
                if r < p {
                    *v = (*v + ((jitter - 1.0) * 200.0).round()).max(0.0);
                }
                *v * unit
            }
            Motion::Hundredths => {
                if fresh {
                    *v = (r * 2000.0).round();
                }
                *v = (*v + ((jitter - 1.0) * 20.0).round()).max(0.0);
                *v / 100.0
            }
            Motion::Constant => {
                if fresh {
                    *v = ((1.0 + (r * 16.0).floor()) * 1024.0 * 1024.0 * 1024.0).round();
                }
                *v
            }
        }
    }

    fn noisy(&mut self, i: usize, counter: bool) -> f64 {
        if self.values.len() <= i {
            self.values.resize(i + 1, 0.0);
            self.values[i] = (self.rng.unit() * 1e6).round();
        }
        let v = &mut self.values[i];
        let r = self.rng.unit();
        if counter {
            // Counters: mostly steady rates with noise (as CPU seconds and bytes are).
            *v += (r * 1000.0).round() / 100.0;
        } else if r < 0.3 {
            *v = (*v + (r - 0.15) * 1000.0).max(0.0).round();
        }
        *v
    }

    /// The next collection's series.
    pub fn collect(&mut self, buf: &mut SeriesBuf) {
        buf.recycle();
        self.step += 1;
        if self.step.is_multiple_of(CHURN_EVERY) {
            // A VM is deleted and another scheduled: the values of the slot start over.
            let slot = (self.step / CHURN_EVERY) as usize % self.vms.len();
            self.vms[slot] = self.next_vm;
            self.next_vm += 1;
            let from = HOST_SERIES + slot * VM_SERIES;
            if self.values.len() >= from + VM_SERIES {
                let start = match self.model {
                    Values::Agent => -1.0,
                    Values::Noisy => 0.0,
                };
                for v in &mut self.values[from..from + VM_SERIES] {
                    *v = start;
                }
            }
        }
        let mut i = 0;
        for k in 0..HOST_SERIES {
            let (name, counter, motion) = HOST_METRICS[k % HOST_METRICS.len()];
            let dev = format!("{}", k / HOST_METRICS.len());
            let v = self.value(i, counter, motion, true);
            buf.push(name, "host", &[("device", &dev)], v);
            i += 1;
        }
        for slot in 0..self.vms.len() {
            let vm = self.vms[slot];
            // Half the VMs are busy, half idle (the same VM stays as it is).
            let busy = vm.is_multiple_of(2);
            let uuid = format!("{vm:08x}-8c41-4a7f-9e15-{:012x}", vm * 31 + 7);
            let dom = format!("instance-{vm:08x}");
            buf.push(
                "hvscope_vm_info",
                "vm",
                &[
                    ("domain_uuid", &uuid),
                    ("domain_name", &dom),
                    ("flavor", "m1.large"),
                ],
                1.0,
            );
            i += 1;
            for k in 0..VM_SERIES - 1 {
                let (name, counter, motion) = VM_METRICS[k % VM_METRICS.len()];
                let part = format!("{}", k / VM_METRICS.len());
                let v = self.value(i, counter, motion, busy);
                buf.push(name, "vm", &[("domain_uuid", &uuid), ("part", &part)], v);
                i += 1;
            }
        }
    }
}

/// A simulated node streaming to one aggregator.
pub struct SimNode {
    pub shape: NodeShape,
    pub link: Arc<Link>,
    pub registry: Arc<Mutex<Registry>>,
    buf: SeriesBuf,
    seq: u64,
}

impl SimNode {
    /// Node `index` with about `series` series, streaming to `grpc` (`host:port`) with the
    /// certificate `<certs>/<name>.pem` (see [`crate::Cluster::node_cert`]) and the stream's
    /// `compression` (an agent's default is none).
    pub fn start(
        rt: &tokio::runtime::Runtime,
        index: usize,
        (series, values, compression): (usize, Values, Compression),
        grpc: &str,
        certs: &std::path::Path,
        rack: &str,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        let shape = NodeShape::with_values(index, series, values);
        let link = Link::new(grpc.to_owned(), 256 << 20);
        let registry = Arc::new(Mutex::new(Registry::default()));
        let params = StreamParams {
            tls: TlsFiles {
                ca: certs.join("ca.pem"),
                cert: certs.join(format!("{}.pem", shape.name)),
                key: certs.join(format!("{}-key.pem", shape.name)),
            },
            server_name: Some("localhost".to_owned()),
            hello: Hello {
                agent_version: "fleet-sim".into(),
                boot_id: format!("boot-{}", shape.name),
                labels: vec![Label {
                    name: "rack".into(),
                    value: rack.into(),
                }],
                claimed_node: shape.name.clone(),
                started_ms: 1,
                ..Default::default()
            },
            registry: registry.clone(),
            connect_timeout: Duration::from_secs(10),
            max_backoff: Duration::from_secs(2),
            compression,
            ack_timeout: stream::ACK_TIMEOUT,
        };
        rt.spawn(stream::run(link.clone(), params, stop));
        Self {
            shape,
            link,
            registry,
            buf: SeriesBuf::default(),
            seq: 0,
        }
    }

    /// Collects the next batch at `timestamp_ms` and queues it; returns its samples.
    pub fn push(&mut self, timestamp_ms: i64) -> usize {
        self.shape.collect(&mut self.buf);
        self.seq += 1;
        let mut samples = self
            .registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .assign(&self.buf, self.seq);
        let n = samples.len();
        let mut b = Batch {
            seq: self.seq,
            timestamp_ms,
            ..Default::default()
        };
        hvscope_proto::pack_samples(&mut b, &mut samples);
        self.link.push(SpooledBatch::new(b));
        n
    }

    /// Batches queued and not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.link.spool().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_has_the_asked_size_and_churns_vms() {
        let mut n = NodeShape::new(3, 2000);
        assert_eq!(n.series(), 200 + 30 * 60);
        let mut buf = SeriesBuf::default();
        let mut reg = Registry::default();
        let mut ids = std::collections::BTreeSet::new();
        for seq in 1..=CHURN_EVERY + 1 {
            n.collect(&mut buf);
            for (id, _) in reg.assign(&buf, seq) {
                ids.insert(id);
            }
        }
        assert_eq!(
            ids.len(),
            n.series() + VM_SERIES,
            "one VM replaced: its 60 series are new"
        );
    }

    /// XOR bytes per sample of one node's series over `steps` collections (the head's codec).
    fn xor_bytes_per_sample(values: Values, steps: u64) -> f64 {
        let mut n = NodeShape::with_values(5, 2000, values);
        let mut buf = SeriesBuf::default();
        let mut series: std::collections::HashMap<String, hvscope_aggregator::tsdb::MemSeries> =
            Default::default();
        let mut samples = 0usize;
        for step in 0..steps {
            n.collect(&mut buf);
            for s in &buf.samples {
                let key = format!("{:?}", s.labels);
                let m = series.entry(key).or_insert_with(|| {
                    hvscope_aggregator::tsdb::MemSeries::new(
                        hvscope_aggregator::labels::Labels::from_pairs(&[("__name__", "x")]),
                    )
                });
                m.append(step as i64 * 10_000, s.value, None);
                samples += 1;
            }
        }
        let bytes: usize = series.values().map(|m| m.chunk_bytes()).sum();
        bytes as f64 / samples as f64
    }

    #[test]
    fn agent_like_values_compress_as_agent_data_does_and_noisy_ones_do_not() {
        let agent = xor_bytes_per_sample(Values::Agent, 240);
        let noisy = xor_bytes_per_sample(Values::Noisy, 240);
        // A real agent's series (mostly flat) take 0.6 B/sample; busy VMs' nanosecond
        // counters take 5-7: the agent-like mix lies between, the noisy one at the top.
        assert!(
            (0.8..4.0).contains(&agent),
            "agent-like: {agent:.2} B/sample"
        );
        assert!(noisy > 4.5, "noisy: {noisy:.2} B/sample");
        eprintln!("XOR bytes per sample: agent-like {agent:.2}, noisy {noisy:.2}");
    }

    #[test]
    fn agent_like_counters_never_go_down_within_a_vm() {
        let mut n = NodeShape::new(1, 800);
        let mut buf = SeriesBuf::default();
        let mut last: std::collections::HashMap<String, f64> = Default::default();
        for _ in 0..(CHURN_EVERY - 1) {
            n.collect(&mut buf);
            for s in &buf.samples {
                if s.labels.name().ends_with("_total") {
                    let key = format!("{:?}", s.labels);
                    if let Some(&prev) = last.get(&key) {
                        assert!(s.value >= prev, "{key}: {prev} -> {}", s.value);
                    }
                    last.insert(key, s.value);
                }
            }
        }
    }
}
