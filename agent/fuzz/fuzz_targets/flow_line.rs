//! Fuzzes the dump-flows path: the stream over raw bytes (UTF-8 or not, long lines), each flow
//! line's parse, its port and MAC references, and the dirty-flow audit of it.
#![no_main]

use std::collections::HashSet;

use hvscope_agent::sources::ovs::audit::Auditor;
use hvscope_agent::sources::ovs::rules::Rules;
use hvscope_agent::sources::ovs::actions::{exact_macs, in_port, output_ports};
use hvscope_agent::sources::ovs::config::OvsConfig;
use hvscope_agent::sources::ovs::flow::{Line, parse_line};
use hvscope_agent::sources::ovs::ovsdb::{BridgeRow, Interface};
use hvscope_agent::sources::ovs::stream::FlowStream;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for line in text.lines() {
            if let Ok(Line::Flow(f)) = parse_line(line) {
                let _ = in_port(&f);
                output_ports(f.actions, &mut |p| {
                    let _ = p.to_string();
                });
                exact_macs(&f, &mut |_, _| {});
            }
        }
    }
    let bridge = BridgeRow {
        name: "br-int".into(),
        datapath_type: "netdev".into(),
        interfaces: vec![Interface {
            name: "tap1".into(),
            ofport: Some(7),
            ..Interface::default()
        }],
    };
    let macs: HashSet<String> = ["fa:16:3e:00:00:01".to_owned()].into();
    let cfg = OvsConfig {
        owned_cookies: vec!["0x1".into()],
        max_findings_per_check: 3,
        ..OvsConfig::default()
    };
    let rules = Rules::default();
    let auditor = Auditor::new(&bridge, &macs, &cfg, &rules);
    let mut audit = auditor.start();
    let mut s = FlowStream::with_max_line(data, 256);
    while let Some(f) = s.next_flow() {
        if let Ok(f) = f {
            auditor.observe(&mut audit, &f);
        }
    }
    assert!(audit.missing_port.examples.len() <= 3);
});
