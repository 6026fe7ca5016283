//! One flow-stats entry decoded and rendered as `ovs-ofctl dump-flows` prints its match and
//! actions, into a reused buffer, as the [`Flow`] the dump-flows parser would have produced
//! from the tool's line, so the audit and the operator rules see the same text either way.

use super::actions::{Rendered, format_program};
use super::matching::Match;
use super::wire::RawFlow;
use super::{OFP10, OfError};
use crate::ovs::flow::{Flow, Table};

/// A reusable rendering buffer: one per dump, so 100,000 flows cost no allocation each.
#[derive(Debug, Default)]
pub struct FlowText {
    buf: String,
    /// Unknown fields, actions and instructions in the last flow rendered.
    pub unknown: u32,
}

impl FlowText {
    pub fn new() -> Self {
        Self {
            buf: String::with_capacity(1024),
            unknown: 0,
        }
    }

    /// Renders `raw`; the flow borrows this buffer until the next call.
    pub fn render(&mut self, raw: &RawFlow<'_>) -> Result<Flow<'_>, OfError> {
        self.buf.clear();
        let m = Match::decode(raw.fields)?;
        m.format(raw.priority, &mut self.buf);
        let split = self.buf.len();
        let Rendered { unknown } = format_program(raw.version, raw.program, &mut self.buf)?;
        self.unknown = unknown + m.unknown;
        let (matches, actions) = self.buf.split_at(split);
        let opt = |v: u16| (v != 0).then_some(v as u32);
        let age = |v: u16| (raw.version == OFP10 && v != 0).then(|| v as u32 - 1);
        Ok(Flow {
            cookie: raw.cookie,
            duration_secs: Some(raw.duration_sec as f64 + raw.duration_nsec as f64 / 1e9),
            table: Table::Id(raw.table),
            n_packets: Some(raw.packets),
            n_bytes: Some(raw.bytes),
            idle_timeout: opt(raw.idle_timeout),
            hard_timeout: opt(raw.hard_timeout),
            idle_age: age(raw.idle_age),
            hard_age: age(raw.hard_age),
            priority: raw.priority as u32,
            matches,
            actions,
        })
    }

    /// The whole line as `ovs-ofctl dump-flows` prints it, less the counters and durations:
    /// `cookie=0x…, table=N, <match> actions=<actions>` (for logs and the tests).
    pub fn line(f: &Flow<'_>) -> String {
        let table = match f.table {
            Table::Id(n) => n.to_string(),
            Table::Name(n) => n.to_owned(),
        };
        let sep = if f.matches.is_empty() { "" } else { " " };
        format!(
            "cookie={:#x}, table={table}, {}{sep}actions={}",
            f.cookie, f.matches, f.actions
        )
    }
}
