//! The dirty-flow audit over an arbitrary dump: every flow the stream yields is judged against a
//! bridge with one port and one VM MAC, owned cookies and a rule that matches everything. Never
//! panics, and keeps at most `max_findings_per_check` examples per check.
#![no_main]

use std::collections::HashSet;

use hvscope_agent::sources::ovs::audit::Auditor;
use hvscope_agent::sources::ovs::config::OvsConfig;
use hvscope_agent::sources::ovs::rules::Rules;
use hvscope_parse::ovs::ovsdb::{BridgeRow, Interface};
use hvscope_parse::ovs::stream::FlowStream;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
