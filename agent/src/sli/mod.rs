//! Per-VM service level indicators: counters that grow by the seconds in which a VM was
//! degraded, sampled more finely than the collection interval (DESIGN.md §3, "Per-VM SLIs").

pub mod disk_delay;
