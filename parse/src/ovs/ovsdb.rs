//! OVSDB JSON-RPC (RFC 7047), pure half: the `transact` request the agent sends, a framer that
//! cuts the byte stream into JSON messages, and the decoding of the reply into bridges with
//! their interfaces (joined Bridge.ports → Port.interfaces → Interface).

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

/// Largest single JSON-RPC message accepted from ovsdb-server.
pub const MAX_MESSAGE_BYTES: usize = 32 << 20;

/// OVSDB could not be read or its reply not understood.
#[derive(Debug, thiserror::Error)]
pub enum OvsdbError {
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no reply within {ms} ms")]
    Timeout { path: std::path::PathBuf, ms: u64 },
    #[error("{path}: connection closed before the reply")]
    Closed { path: std::path::PathBuf },
    #[error("message larger than {0} bytes")]
    TooLarge(usize),
    #[error("not a JSON-RPC message: {0}")]
    Framing(String),
    #[error("ovsdb error: {0}")]
    Rpc(String),
    #[error("unexpected reply shape: {0}")]
    Shape(&'static str),
}

const INTERFACE_COLUMNS: [&str; 9] = [
    "_uuid",
    "name",
    "type",
    "ofport",
    "link_state",
    "admin_state",
    "mac_in_use",
    "statistics",
    "external_ids",
];

/// The `transact` request: one select per table the agent needs.
pub fn request(id: u64) -> Value {
    let sel = |table: &str, cols: &[&str]| json!({"op": "select", "table": table, "where": [], "columns": cols});
    json!({"method": "transact", "id": id, "params": [
        "Open_vSwitch",
        sel("Open_vSwitch", &["ovs_version"]),
        sel("Bridge", &["_uuid", "name", "ports", "datapath_type"]),
        sel("Port", &["_uuid", "name", "interfaces"]),
        sel("Interface", &INTERFACE_COLUMNS),
    ]})
}

/// Neutron's and libvirt's keys in `Interface.external_ids`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Neutron {
    pub iface_id: Option<String>,
    pub attached_mac: Option<String>,
    /// `vm-uuid` (nova) or `vm-id` (libvirt): the domain uuid.
    pub vm_uuid: Option<String>,
    pub iface_status: Option<String>,
}

/// One row of the Interface table.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Interface {
    pub name: String,
    /// Name of the Port row holding this interface (empty when decoded alone).
    pub port: String,
    /// `type` column: "" (system), internal, patch, vxlan, …
    pub kind: String,
    /// OpenFlow port number; `None` while unassigned, -1 when OVS failed to add it.
    pub ofport: Option<i64>,
    pub link_state: Option<String>,
    pub admin_state: Option<String>,
    pub mac_in_use: Option<String>,
    pub neutron: Neutron,
    pub statistics: BTreeMap<String, i64>,
}

/// A bridge and its interfaces.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BridgeRow {
    pub name: String,
    pub datapath_type: String,
    pub interfaces: Vec<Interface>,
}

/// What OVSDB says about this switch.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Topology {
    pub ovs_version: Option<String>,
    pub bridges: Vec<BridgeRow>,
}

/// Decodes the reply to [`request`].
pub fn decode_reply(reply: &Value) -> Result<Topology, OvsdbError> {
    if let Some(e) = reply.get("error").filter(|e| !e.is_null()) {
        return Err(OvsdbError::Rpc(short(e)));
    }
    let results = reply
        .get("result")
        .and_then(Value::as_array)
        .ok_or(OvsdbError::Shape("no result array"))?;
    let rows = |i: usize| -> Result<&Vec<Value>, OvsdbError> {
        let r = results.get(i).ok_or(OvsdbError::Shape("missing result"))?;
        if let Some(e) = r.get("error") {
            return Err(OvsdbError::Rpc(short(e)));
        }
        r.get("rows")
            .and_then(Value::as_array)
            .ok_or(OvsdbError::Shape("result without rows"))
    };
    let ovs_version = rows(0)?
        .first()
        .and_then(|r| r.get("ovs_version"))
        .and_then(string);
    let interfaces: HashMap<&str, Interface> = rows(3)?
        .iter()
        .filter_map(|r| Some((uuid(r.get("_uuid")?)?, decode_interface(r))))
        .collect();
    let ports: HashMap<&str, (&str, Vec<&str>)> = rows(2)?
        .iter()
        .filter_map(|r| {
            let name = r.get("name")?.as_str()?;
            let ifaces = set(r.get("interfaces")?).filter_map(uuid).collect();
            Some((uuid(r.get("_uuid")?)?, (name, ifaces)))
        })
        .collect();
    let mut bridges = Vec::new();
    for r in rows(1)? {
        let Some(name) = r.get("name").and_then(Value::as_str) else {
            continue;
        };
        let mut ifaces = Vec::new();
        for p in r
            .get("ports")
            .map(set)
            .into_iter()
            .flatten()
            .filter_map(uuid)
        {
            let Some((pname, members)) = ports.get(p) else {
                continue;
            };
            for i in members {
                if let Some(iface) = interfaces.get(i) {
                    let mut iface = iface.clone();
                    iface.port = (*pname).to_owned();
                    ifaces.push(iface);
                }
            }
        }
        ifaces.sort_by(|a, b| (a.ofport, &a.name).cmp(&(b.ofport, &b.name)));
        bridges.push(BridgeRow {
            name: name.to_owned(),
            datapath_type: r.get("datapath_type").and_then(string).unwrap_or_default(),
            interfaces: ifaces,
        });
    }
    bridges.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Topology {
        ovs_version,
        bridges,
    })
}

/// Decodes one Interface row (missing columns stay empty).
pub fn decode_interface(r: &Value) -> Interface {
    let col = |k: &str| r.get(k).and_then(string);
    let ext: HashMap<&str, &str> = r
        .get("external_ids")
        .map(map)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str()?, v.as_str()?)))
        .collect();
    let ext_get = |k: &str| ext.get(k).map(|v| (*v).to_owned());
    Interface {
        name: col("name").unwrap_or_default(),
        port: String::new(),
        kind: col("type").unwrap_or_default(),
        ofport: r.get("ofport").and_then(Value::as_i64),
        link_state: col("link_state"),
        admin_state: col("admin_state"),
        mac_in_use: col("mac_in_use"),
        neutron: Neutron {
            iface_id: ext_get("iface-id"),
            attached_mac: ext_get("attached-mac").map(|m| m.to_ascii_lowercase()),
            vm_uuid: ext_get("vm-uuid").or_else(|| ext_get("vm-id")),
            iface_status: ext_get("iface-status"),
        },
        statistics: r
            .get("statistics")
            .map(map)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_i64()?)))
            .collect(),
    }
}

/// A string atom (an empty set, OVSDB's "no value", is `None`).
fn string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// `["uuid", "…"]`.
fn uuid(v: &Value) -> Option<&str> {
    match v.as_array()?.as_slice() {
        [tag, id] if tag == "uuid" => id.as_str(),
        _ => None,
    }
}

/// A set: `["set", [a, b]]`, or a single atom standing for a one-element set.
fn set(v: &Value) -> impl Iterator<Item = &Value> {
    let items: &[Value] = match v.as_array().map(Vec::as_slice) {
        Some([tag, Value::Array(items)]) if tag == "set" => items,
        _ => std::slice::from_ref(v),
    };
    items.iter()
}

/// `["map", [[k, v], …]]`.
fn map(v: &Value) -> impl Iterator<Item = (&Value, &Value)> {
    let pairs: &[Value] = match v.as_array().map(Vec::as_slice) {
        Some([tag, Value::Array(pairs)]) if tag == "map" => pairs,
        _ => &[],
    };
    pairs.iter().filter_map(|p| match p.as_array()?.as_slice() {
        [k, v] => Some((k, v)),
        _ => None,
    })
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    s.chars().take(200).collect()
}

#[cfg(test)]
mod tests;
