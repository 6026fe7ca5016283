//! Fuzzes the dump-flows path: the stream over raw bytes (UTF-8 or not, long lines), each flow
//! line's parse, and its port and MAC references. Never panic; the stream counts every byte.
#![no_main]

use hvscope_parse::ovs::actions::{exact_macs, in_port, output_ports};
use hvscope_parse::ovs::flow::{Flow, Line, parse_line};
use hvscope_parse::ovs::stream::FlowStream;
use libfuzzer_sys::fuzz_target;

fn refs(f: &Flow<'_>) {
    let _ = in_port(f);
    output_ports(f.actions, &mut |p| {
        let _ = p.to_string();
    });
    exact_macs(f, &mut |_, _| {});
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for line in text.lines() {
            if let Ok(Line::Flow(f)) = parse_line(line) {
                refs(&f);
            }
        }
    }
    let mut s = FlowStream::with_max_line(data, 256);
    while let Some(f) = s.next_flow() {
        if let Ok(f) = f {
            refs(&f);
        }
    }
    assert_eq!(s.stats().bytes, data.len() as u64);
});
