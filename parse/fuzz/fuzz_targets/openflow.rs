//! Fuzzes the OpenFlow path the agent runs on what ovs-vswitchd sends: the framer over the raw
//! bytes (in reads of a size taken from the input), each message classified for OpenFlow 1.3
//! and 1.0, every flow-stats entry decoded and rendered as `ovs-ofctl` text, and hello
//! negotiation. The bytes are also decoded directly as a flow-stats body. Never panic.
#![no_main]

use hvscope_parse::ovs::actions::{exact_macs, in_port, output_ports};
use hvscope_parse::ovs::openflow::flow::FlowText;
use hvscope_parse::ovs::openflow::wire::{self, Entries, Framer, Message};
use hvscope_parse::ovs::openflow::{OFP10, OFP13};
use libfuzzer_sys::fuzz_target;

fn entries(version: u8, body: &[u8], text: &mut FlowText) {
    for raw in Entries::new(version, body).flatten() {
        if let Ok(f) = text.render(&raw) {
            // what the audit does with the rendered text
            let _ = in_port(&f);
            output_ports(f.actions, &mut |p| {
                let _ = p.to_string();
            });
            exact_macs(&f, &mut |_, _| {});
            let _ = FlowText::line(&f);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut text = FlowText::new();
    let step = 1 + data.first().copied().unwrap_or(0) as usize * 64;
    for version in [OFP13, OFP10] {
        let _ = wire::negotiate(&[OFP10, OFP13], data);
        let mut f = Framer::new();
        for chunk in data.chunks(step) {
            let b = f.spare(step);
            b[..chunk.len()].copy_from_slice(chunk);
            f.filled(step, chunk.len());
            while let Ok(Some(m)) = f.next_message() {
                if let Ok(Message::FlowStats { entries: e, .. }) = wire::classify(version, m) {
                    entries(version, e, &mut text);
                }
            }
            if f.next_message().is_err() {
                break;
            }
        }
        assert!(f.capacity() <= 4 * wire::MAX_MSG + step);
        entries(version, data, &mut text);
    }
});
