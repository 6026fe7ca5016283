//! A fleet of simulated compute nodes for load tests: each node streams agent-shaped batches
//! through the agent's own transport (its spool, registry, gzip, mTLS gRPC stream and acks;
//! one client certificate per node), so the aggregator sees exactly what real agents send.
//!
//! A node's series follow the agent's shape (see `tests/golden/*.prom`): about 200 host series
//! (CPU, memory, disks, NICs, PSI; counters and gauges), and per VM about 60 (vCPU times,
//! schedstat waits, memory, disks, NICs, the four SLI counters, an `_info` series). Counters
//! grow by noisy steps, gauges walk; every [`CHURN_EVERY`] steps one VM of the node is
//! replaced by a new one (its series end, new ones are defined), as VMs come and go.

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

/// Metric names of a VM's series (60 in all with their label variants).
const VM_METRICS: [(&str, bool); 12] = [
    ("hvscope_vm_cpu_seconds_total", true),
    ("hvscope_vm_vcpu_seconds_total", true),
    ("hvscope_vm_vcpu_wait_seconds_total", true),
    ("hvscope_vm_observed_seconds_total", true),
    ("hvscope_vm_cpu_starved_seconds_total", true),
    ("hvscope_vm_memory_stalled_seconds_total", true),
    ("hvscope_vm_disk_delayed_seconds_total", true),
    ("hvscope_vm_network_receive_bytes_total", true),
    ("hvscope_vm_network_transmit_bytes_total", true),
    ("hvscope_disk_read_bytes_total", true),
    ("hvscope_vm_rss_bytes", false),
    ("hvscope_vm_memory_bytes", false),
];
const HOST_METRICS: [(&str, bool); 10] = [
    ("hvscope_host_logical_cpu_seconds_total", true),
    ("hvscope_host_disk_read_bytes_total", true),
    ("hvscope_host_disk_written_bytes_total", true),
    ("hvscope_net_receive_bytes_total", true),
    ("hvscope_net_transmit_bytes_total", true),
    ("hvscope_host_pressure_stalled_seconds_total", true),
    ("hvscope_host_context_switches_total", true),
    ("hvscope_host_memory_available_bytes", false),
    ("hvscope_host_load1", false),
    ("hvscope_host_numa_memory_free_bytes", false),
];

/// The series of one simulated node, advanced one collection at a time.
pub struct NodeShape {
    pub name: String,
    rng: Rng,
    vms: Vec<u64>,
    next_vm: u64,
    /// Current value of each series, in push order (host, then VMs).
    values: Vec<f64>,
    step: u64,
}

impl NodeShape {
    /// Node `index` with about `series` series.
    pub fn new(index: usize, series: usize) -> Self {
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
        }
    }

    /// Series per collection.
    pub fn series(&self) -> usize {
        HOST_SERIES + self.vms.len() * VM_SERIES
    }

    fn value(&mut self, i: usize, counter: bool) -> f64 {
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
                for v in &mut self.values[from..from + VM_SERIES] {
                    *v = 0.0;
                }
            }
        }
        let mut i = 0;
        for k in 0..HOST_SERIES {
            let (name, counter) = HOST_METRICS[k % HOST_METRICS.len()];
            let dev = format!("{}", k / HOST_METRICS.len());
            let v = self.value(i, counter);
            buf.push(name, "host", &[("device", &dev)], v);
            i += 1;
        }
        for slot in 0..self.vms.len() {
            let vm = self.vms[slot];
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
                let (name, counter) = VM_METRICS[k % VM_METRICS.len()];
                let part = format!("{}", k / VM_METRICS.len());
                let v = self.value(i, counter);
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
    /// certificate `<certs>/<name>.pem` (see [`crate::Cluster::node_cert`]).
    pub fn start(
        rt: &tokio::runtime::Runtime,
        index: usize,
        series: usize,
        grpc: &str,
        certs: &std::path::Path,
        rack: &str,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        let shape = NodeShape::new(index, series);
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
            compression: Compression::Gzip,
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
}
