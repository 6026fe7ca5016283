//! Tests of the OVSDB reply decoding on the real captures in `tests/fixtures/ovs/`.

use super::*;

use crate::ovs::testdata::{full_reply, json_fixture as fixture};

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
