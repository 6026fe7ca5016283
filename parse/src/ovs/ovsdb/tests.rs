//! Tests of the OVSDB reply decoding on the real captures in `tests/fixtures/ovs/`.

use super::*;

use crate::ovs::testdata::{full_reply, initial_updates, json_fixture as fixture};

#[test]
fn real_interface_select_reply() {
    let reply = fixture("ovsdb-jsonrpc_transact_select_Interface.reply.json");
    let rows = reply["result"][0]["rows"].as_array().unwrap();
    let ifaces: Vec<Interface> = rows.iter().map(decode_interface).collect();
    assert_eq!(ifaces.len(), 12);
    let a = ifaces.iter().find(|i| i.name == "tap4f2b8c1e-6d").unwrap();
    assert_eq!(a.ofport, Some(7));
    assert_eq!(a.link_state.as_deref(), Some("up"));
    assert_eq!(a.mac_in_use.as_deref(), Some("fe:16:3e:4a:1b:01"));
    assert_eq!(a.neutron.attached_mac.as_deref(), Some("fa:16:3e:4a:1b:01"));
    assert_eq!(
        a.neutron.vm_uuid.as_deref(),
        Some("3b9f6d2e-8c41-4a7f-9e15-2d6c0a4b7f11")
    );
    assert_eq!(a.neutron.iface_status.as_deref(), Some("active"));
    assert_eq!(a.statistics["tx_packets"], 1);
    let patch = ifaces.iter().find(|i| i.name == "patch-tun").unwrap();
    assert_eq!(patch.neutron, Neutron::default());
    assert_eq!(patch.statistics.len(), 4);
}

#[test]
fn joins_bridges_ports_interfaces() {
    let t = decode_reply(&full_reply()).unwrap();
    assert_eq!(
        t.ovs_version, None,
        "the capture's ovs_version is an empty set"
    );
    let names: Vec<_> = t.bridges.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["br-int", "br-tun"]);
    let int = &t.bridges[0];
    assert_eq!(int.datapath_type, "netdev");
    let ofports: Vec<_> = int.interfaces.iter().map(|i| i.ofport.unwrap()).collect();
    assert_eq!(ofports, [1, 2, 3, 4, 5, 6, 7, 8, 9, 65534]);
    let b = int.interfaces.iter().find(|i| i.ofport == Some(8)).unwrap();
    assert_eq!(
        (b.name.as_str(), b.port.as_str()),
        ("tap8a7d3e2f-1c", "tap8a7d3e2f-1c")
    );
    assert_eq!(b.kind, "");
    let local = int.interfaces.last().unwrap();
    assert_eq!(
        (local.name.as_str(), local.kind.as_str()),
        ("br-int", "internal")
    );
    // br-tun's patch-int is ofport 1 there, not on br-int
    let tun = &t.bridges[1];
    assert_eq!(tun.interfaces.len(), 2);
    assert!(
        tun.interfaces
            .iter()
            .any(|i| i.name == "patch-int" && i.ofport == Some(1))
    );
}

#[test]
fn errors_and_odd_shapes() {
    let e = decode_reply(&json!({"id":1,"result":null,"error":"not allowed"})).unwrap_err();
    assert!(e.to_string().contains("not allowed"), "{e}");
    let e = decode_reply(&json!({"id":1,"result":[{"error":"syntax error","details":"x"}]}))
        .unwrap_err();
    assert!(e.to_string().contains("syntax error"), "{e}");
    assert!(decode_reply(&json!({"id":1,"result":[{"rows":[]}]})).is_err());
    assert!(decode_reply(&json!([1, 2])).is_err());
    // rows with wrong types are skipped or left empty, never a panic
    let odd = json!({"id":1,"result":[{"rows":[{"ovs_version":7}]},
        {"rows":[{"name":"b","ports":["set",[["uuid",5],"x"]]},{"name":3}]},
        {"rows":[{"_uuid":["uuid","p"],"name":"p","interfaces":["uuid","i"]}]},
        {"rows":[{"_uuid":["uuid","i"],"ofport":["set",[]],"statistics":["map",[["a"],["b","c"]]],
                  "external_ids":["map",[["vm-id","u"],["attached-mac","FA:16:3E:00:00:01"]]]}]}]});
    let t = decode_reply(&odd).unwrap();
    assert_eq!(t.bridges.len(), 1);
    assert!(t.bridges[0].interfaces.is_empty());
    let i = decode_interface(&odd["result"][3]["rows"][0]);
    assert_eq!(i.ofport, None);
    assert!(i.statistics.is_empty());
    assert_eq!(i.neutron.vm_uuid.as_deref(), Some("u"));
    assert_eq!(i.neutron.attached_mac.as_deref(), Some("fa:16:3e:00:00:01"));
    let req = request(7);
    assert_eq!(req["params"][4]["table"], "Interface");
    assert_eq!(req["id"], 7);
}

/// The uuid of the row of `table` named `name` in the capture.
fn uuid_of(table: usize, name: &str) -> String {
    full_reply()["result"][table]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap()["_uuid"][1]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_monitor_replica_follows_inserts_modifies_and_deletes() {
    let mut db = Replica::default();
    db.apply(&initial_updates()).unwrap();
    assert_eq!(db.topology(), decode_reply(&full_reply()).unwrap());
    let rows = db.rows();

    // Statistics move: a modify carries the whole new row (and the old values of what changed).
    let tap = uuid_of(3, "tap4f2b8c1e-6d");
    let mut new = initial_updates()["Interface"][&tap]["new"].clone();
    new["statistics"] = json!(["map", [["rx_packets", 42], ["tx_packets", 7]]]);
    db.apply(&json!({"Interface": {&tap: {"old": {"statistics": ["map", []]}, "new": new}}}))
        .unwrap();
    let t = db.topology();
    let i = t.bridges[0]
        .interfaces
        .iter()
        .find(|i| i.name == "tap4f2b8c1e-6d")
        .unwrap();
    assert_eq!(i.statistics["rx_packets"], 42);
    assert_eq!(i.port, "tap4f2b8c1e-6d", "joined to its port as before");

    // A port leaves br-int: the Bridge row changes and the Port and Interface rows go.
    let port = uuid_of(2, "tap4f2b8c1e-6d");
    let br = uuid_of(1, "br-int");
    let mut bridge = initial_updates()["Bridge"][&br]["new"].clone();
    let ports: Vec<Value> = bridge["ports"][1]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p[1] != port.as_str())
        .cloned()
        .collect();
    bridge["ports"] = json!(["set", ports]);
    db.apply(&json!({
        "Bridge": {&br: {"old": {}, "new": bridge}},
        "Port": {&port: {"old": {"name": "x"}}},
        "Interface": {&tap: {"old": {"name": "x"}}},
    }))
    .unwrap();
    assert_eq!(db.rows(), rows - 2);
    let t = db.topology();
    assert_eq!(t.bridges[0].interfaces.len(), 9);
    assert!(
        !t.bridges[0]
            .interfaces
            .iter()
            .any(|i| i.name == "tap4f2b8c1e-6d")
    );

    // A new bridge with one port and interface, in one update; unknown tables are ignored.
    db.apply(&json!({
        "Bridge": {"b-1": {"new": {"name": "br-ex", "ports": ["uuid", "p-1"], "datapath_type": ""}}},
        "Port": {"p-1": {"new": {"name": "br-ex", "interfaces": ["uuid", "i-1"]}}},
        "Interface": {"i-1": {"new": {"name": "br-ex", "type": "internal", "ofport": 65534}}},
        "Controller": {"c-1": {"new": {"target": "tcp:1.2.3.4"}}},
    }))
    .unwrap();
    let t = db.topology();
    let names: Vec<_> = t.bridges.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["br-ex", "br-int", "br-tun"]);
    assert_eq!(t.bridges[0].interfaces[0].kind, "internal");
}

#[test]
fn malformed_updates_are_errors_and_rows_are_bounded() {
    let mut db = Replica::default();
    for bad in [
        json!([1]),
        json!({"Bridge": [1]}),
        json!({"Bridge": {"b": 3}}),
    ] {
        assert!(db.apply(&bad).is_err(), "{bad}");
    }
    // odd rows are decoded as far as they go, never a panic
    db.apply(
        &json!({"Bridge": {"b": {"new": {"name": 3}}, "c": {"new": 5}},
        "Port": {"p": {"new": {"name": "p", "interfaces": ["set", [["uuid"], 7]]}}}}),
    )
    .unwrap();
    assert_eq!(db.topology().bridges.len(), 0);
    let mut many = serde_json::Map::new();
    for n in 0..=MAX_ROWS {
        many.insert(format!("i{n}"), json!({"new": {}}));
    }
    let e = db.apply(&json!({ "Interface": many })).unwrap_err();
    assert!(e.to_string().contains("more rows"), "{e}");
    assert_eq!(db.rows(), MAX_ROWS);
    let req = monitor_request(3);
    assert_eq!(req["method"], "monitor");
    assert_eq!(req["id"], 3);
    assert!(
        req["params"][2]["Interface"]["columns"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c != "_uuid"),
        "{req}"
    );
}
