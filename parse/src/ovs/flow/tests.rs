//! Tests of the dump-flows line parser: the real captures in `tests/fixtures/ovs/` and
//! hand-made edge cases.

use super::*;

const OF10: &str =
    include_str!("../../../../agent/tests/fixtures/ovs/ovs-ofctl_dump-flows_br-int.txt");
const OF13: &str = include_str!(
    "../../../../agent/tests/fixtures/ovs/ovs-ofctl_-O_OpenFlow13_dump-flows_br-int.txt"
);

fn flows(text: &str) -> Vec<Flow<'_>> {
    text.lines()
        .filter_map(|l| match parse_line(l).unwrap() {
            Line::Flow(f) => Some(f),
            _ => None,
        })
        .collect()
}

#[test]
fn real_openflow10_dump() {
    let f = flows(OF10);
    assert_eq!(f.len(), 37);
    assert_eq!(f[0].cookie, 0x9f3c6a1d2e4b7c85);
    assert_eq!(f[0].duration_secs, Some(28.627));
    assert_eq!(f[0].table, Table::Id(0));
    assert_eq!(f[0].priority, 65535);
    assert_eq!(f[0].matches, "priority=65535,dl_vlan=4095");
    assert_eq!(f[0].actions, "drop");
    assert_eq!(f[0].idle_age, Some(28));
    assert_eq!(f[1].n_packets, Some(30));
    assert_eq!(f[1].n_bytes, Some(2468));
    let stale: Vec<_> = f
        .iter()
        .filter(|f| f.cookie == 0x5b21e0c4a9d3f176)
        .collect();
    assert_eq!(stale.len(), 2);
    assert_eq!(stale[1].table, Table::Id(71));
    assert_eq!(stale[1].priority, 95);
    assert!(f.iter().any(|f| f.actions.contains("strip_vlan")));
    let tables: std::collections::BTreeSet<_> = f.iter().map(|f| f.table).collect();
    assert_eq!(tables.len(), 11); // 0 60 71 72 73 81 82 91 92 93 94
}

#[test]
fn real_openflow13_dump() {
    let f = flows(OF13);
    assert_eq!(f.len(), 37);
    assert!(f.iter().all(|f| f.idle_age.is_none()));
    assert!(f.iter().any(|f| f.actions.contains("pop_vlan")));
    let last = f.last().unwrap();
    assert_eq!(
        (last.table, last.priority, last.actions),
        (Table::Id(94), 1, "NORMAL")
    );
    assert_eq!(
        parse_line(OF13.lines().next().unwrap()),
        Ok(Line::Header { more: false })
    );
}

#[test]
fn headers_flags_and_defaults() {
    assert_eq!(
        parse_line("NXST_FLOW reply (xid=0x4): flags=[more]"),
        Ok(Line::Header { more: true })
    );
    assert_eq!(parse_line("   \n"), Ok(Line::Blank));
    let Line::Flow(f) = parse_line(
        " cookie=0x0, duration=1.5s, table=3, n_packets=1, n_bytes=2, idle_timeout=10, hard_timeout=30, send_flow_rem reset_counts idle_age=1, hard_age=2, actions=NORMAL",
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(f.priority, DEFAULT_PRIORITY);
    assert_eq!(
        (f.idle_timeout, f.hard_timeout, f.hard_age),
        (Some(10), Some(30), Some(2))
    );
    assert_eq!(f.matches, "");
    assert_eq!(f.actions, "NORMAL");
    // flags directly before the match (OpenFlow 1.3: no ages)
    let Line::Flow(f) =
        parse_line("cookie=0x2, table=0, reset_counts priority=10,in_port=1 actions=drop").unwrap()
    else {
        panic!()
    };
    assert_eq!((f.priority, f.matches), (10, "priority=10,in_port=1"));
    // --no-stats style and table names
    let Line::Flow(f) =
        parse_line("table=egress, priority=5,in_port=\"a b, c\" actions=output:\"x y\"").unwrap()
    else {
        panic!()
    };
    assert_eq!(f.table, Table::Name("egress"));
    assert_eq!(f.matches, "priority=5,in_port=\"a b, c\"");
    assert_eq!(f.actions, "output:\"x y\"");
    assert_eq!(unquote("\"a\\\"b\""), "a\"b");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for line in [
        "cookie=0xZZ, table=0, actions=drop",
        "cookie=0x1, table=300, actions=drop",
        "cookie=0x1, n_packets=-1, actions=drop",
        "priority=abc actions=drop",
        "hello world",
        "in_port=\"unterminated actions=drop",
        "priority=1,reg0=0x1) actions=drop",
        "\u{feff}cookie=0x1 actions=\u{1f600}",
        "\"",
        "\\",
        ")(",
    ] {
        let _ = parse_line(line);
    }
    assert_eq!(parse_line("hello world"), Err(FlowParseError::NoActions));
    assert!(matches!(
        parse_line("cookie=0xZZ, table=0, actions=drop"),
        Err(FlowParseError::BadValue {
            field: "cookie",
            ..
        })
    ));
}

#[test]
fn split_respects_quotes_and_nesting() {
    let v: Vec<_> = Split::new("a,b(c,d),\"e,f\",g[1,2],", |b| b == b',')
        .map(|(_, s)| s)
        .collect();
    assert_eq!(v, vec!["a", "b(c,d)", "\"e,f\"", "g[1,2]", ""]);
    let v: Vec<_> = Split::new("", |b| b == b',').collect();
    assert_eq!(v, vec![(0, "")]);
}
