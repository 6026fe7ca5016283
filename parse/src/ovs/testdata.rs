//! Test data from the real captures in `agent/tests/fixtures/ovs/`: for this crate's tests, and
//! for the agent's (the `testdata` feature, which only the agent's dev-dependency turns on).

use serde_json::{Value, json};

use super::ovsdb::{Topology, decode_reply};

pub const FX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../agent/tests/fixtures/ovs/");

/// `ovs-ofctl dump-flows br-int` (OpenFlow 1.0).
pub const FLOWS_OF10: &str =
    include_str!("../../../agent/tests/fixtures/ovs/ovs-ofctl_dump-flows_br-int.txt");
/// `ovs-ofctl -O OpenFlow13 dump-flows br-int`.
pub const FLOWS_OF13: &str =
    include_str!("../../../agent/tests/fixtures/ovs/ovs-ofctl_-O_OpenFlow13_dump-flows_br-int.txt");

/// A fixture file as JSON.
pub fn json_fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FX}{name}")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `ovs-vsctl --format=json list T` (headings + data) as the rows a `select` returns.
pub fn vsctl_rows(name: &str) -> Value {
    let v = json_fixture(name);
    let heads = v["headings"].as_array().unwrap();
    let rows: Vec<Value> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let obj = heads
                .iter()
                .zip(row.as_array().unwrap())
                .map(|(h, c)| (h.as_str().unwrap().to_owned(), c.clone()))
                .collect::<serde_json::Map<_, _>>();
            Value::Object(obj)
        })
        .collect();
    json!({ "rows": rows })
}

/// The captured tables as the reply to `ovsdb::request` would carry them.
pub fn full_reply() -> Value {
    json!({"id": 1, "error": null, "result": [
        vsctl_rows("ovs-vsctl_format-json_list_Open_vSwitch.json"),
        vsctl_rows("ovs-vsctl_format-json_list_Bridge.json"),
        vsctl_rows("ovs-vsctl_format-json_list_Port.json"),
        vsctl_rows("ovs-vsctl_format-json_list_Interface.json"),
    ]})
}

/// The captured tables as a `monitor` reply's `<table-updates>` (`ovsdb::monitor_request`) would
/// carry them: every row an initial `new`, keyed by its uuid, without the `_uuid` column.
pub fn initial_updates() -> Value {
    let reply = full_reply();
    let mut tables = serde_json::Map::new();
    for (i, (table, _)) in super::ovsdb::TABLES.iter().enumerate() {
        let mut rows = serde_json::Map::new();
        for (n, r) in reply["result"][i]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let mut r = r.clone();
            let id = r
                .as_object_mut()
                .unwrap()
                .remove("_uuid")
                .map_or(format!("ovs-{n}"), |u| u[1].as_str().unwrap().to_owned());
            rows.insert(id, json!({ "new": r }));
        }
        tables.insert((*table).to_owned(), Value::Object(rows));
    }
    Value::Object(tables)
}

/// The captured topology (br-int with ofports 1-9 + LOCAL, br-tun).
pub fn topology() -> Topology {
    decode_reply(&full_reply()).unwrap()
}
