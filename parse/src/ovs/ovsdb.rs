//! OVSDB JSON-RPC (RFC 7047), pure half: the `transact` request a one-shot collection sends and
//! the `monitor` request the daemon keeps (a framer cuts the byte stream into JSON messages),
//! and the decoding of either into bridges with their interfaces (joined Bridge.ports →
//! Port.interfaces → Interface) through a [`Replica`] of the rows.

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

/// The tables the agent reads with their columns, in the order of [`request`]'s selects (each
/// also selects `_uuid`; a monitor keys its rows by it instead).
pub(crate) const TABLES: [(&str, &[&str]); 4] = [
    ("Open_vSwitch", &["ovs_version"]),
    ("Bridge", &["name", "ports", "datapath_type"]),
    ("Port", &["name", "interfaces"]),
    (
        "Interface",
        &[
            "name",
            "type",
            "ofport",
            "link_state",
            "admin_state",
            "mac_in_use",
            "statistics",
            "external_ids",
        ],
    ),
];

/// The `transact` request: one select per table the agent needs.
pub fn request(id: u64) -> Value {
    let mut params = vec![json!("Open_vSwitch")];
    params.extend(TABLES.iter().map(|(table, cols)| {
        let cols: Vec<&str> = std::iter::once("_uuid")
            .chain(cols.iter().copied())
            .collect();
        json!({"op": "select", "table": table, "where": [], "columns": cols})
    }));
    json!({"method": "transact", "id": id, "params": params})
}

/// The `monitor` request (RFC 7047 §4.1.5) for the columns [`request`] selects: the reply
/// carries every row, and `update` notifications then carry each change (the whole new row,
/// monitor version 1) as it is committed. [`monitor_reply`] decodes the reply, and
/// [`Replica::apply`] each update's table updates.
pub fn monitor_request(id: u64) -> Value {
    let tables: serde_json::Map<String, Value> = TABLES
        .iter()
        .map(|(table, cols)| ((*table).to_owned(), json!({ "columns": cols })))
        .collect();
    json!({"method": "monitor", "id": id, "params": ["Open_vSwitch", null, tables]})
}

/// The rows of a reply to [`monitor_request`].
pub fn monitor_reply(reply: &Value) -> Result<Replica, OvsdbError> {
    rpc_ok(reply)?;
    let mut db = Replica::default();
    db.apply(&reply["result"])?;
    Ok(db)
}

/// A JSON-RPC reply's `error`, if it carries one.
pub fn rpc_ok(reply: &Value) -> Result<(), OvsdbError> {
    match reply.get("error").filter(|e| !e.is_null()) {
        Some(e) => Err(OvsdbError::Rpc(short(e))),
        None => Ok(()),
    }
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

/// A bridge and its interfaces (shared: a collection that keeps an unchanged topology hands
/// them on without copying a row).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BridgeRow {
    pub name: String,
    pub datapath_type: String,
    pub interfaces: std::sync::Arc<[Interface]>,
}

/// What OVSDB says about this switch.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Topology {
    pub ovs_version: Option<String>,
    pub bridges: Vec<BridgeRow>,
}

/// Decodes the reply to [`request`].
pub fn decode_reply(reply: &Value) -> Result<Topology, OvsdbError> {
    rpc_ok(reply)?;
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
    let mut db = Replica::default();
    for (i, (table, _)) in TABLES.iter().enumerate() {
        for (n, r) in rows(i)?.iter().enumerate() {
            // The Open_vSwitch row is selected without its uuid: keyed by its place.
            match r.get("_uuid").and_then(uuid) {
                Some(id) => db.put(table, id, Some(r))?,
                None => db.put(table, &format!("#{n}"), Some(r))?,
            }
        }
    }
    Ok(db.topology())
}

/// Most rows a [`Replica`] holds (all tables together): far above any switch's, it bounds what
/// a broken or hostile server can make the agent keep.
pub const MAX_ROWS: usize = 1 << 18;

/// What OVSDB holds of the agent's tables, decoded row by row: built from a `select` reply
/// ([`decode_reply`]) or kept current by a monitor ([`monitor_request`], [`Replica::apply`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replica {
    /// `Open_vSwitch.ovs_version` by row (the table has one row).
    versions: HashMap<String, Option<String>>,
    bridges: HashMap<String, BridgeData>,
    ports: HashMap<String, PortData>,
    interfaces: HashMap<String, Interface>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct BridgeData {
    name: String,
    datapath_type: String,
    ports: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct PortData {
    name: String,
    interfaces: Vec<String>,
}

impl Replica {
    /// Rows held, all tables together.
    pub fn rows(&self) -> usize {
        self.versions.len() + self.bridges.len() + self.ports.len() + self.interfaces.len()
    }

    /// Applies a `<table-updates>` object: the `result` of the `monitor` reply, or the second
    /// parameter of an `update` notification. A row update with `new` replaces the row (an
    /// initial, inserted or modified row: version 1 sends all monitored columns), one without
    /// deletes it; tables the agent does not read are ignored. A malformed update is an error
    /// and leaves the rows applied before it: the caller starts over with a new monitor.
    pub fn apply(&mut self, updates: &Value) -> Result<(), OvsdbError> {
        let tables = updates
            .as_object()
            .ok_or(OvsdbError::Shape("table updates not an object"))?;
        for (table, rows) in tables {
            let rows = rows
                .as_object()
                .ok_or(OvsdbError::Shape("table update not an object"))?;
            for (id, update) in rows {
                let update = update
                    .as_object()
                    .ok_or(OvsdbError::Shape("row update not an object"))?;
                self.put(table, id, update.get("new").filter(|n| n.is_object()))?;
            }
        }
        Ok(())
    }

    /// Replaces (`Some`) or deletes (`None`) row `id` of `table`.
    fn put(&mut self, table: &str, id: &str, row: Option<&Value>) -> Result<(), OvsdbError> {
        let Some(r) = row else {
            match table {
                "Open_vSwitch" => self.versions.remove(id).map(drop),
                "Bridge" => self.bridges.remove(id).map(drop),
                "Port" => self.ports.remove(id).map(drop),
                "Interface" => self.interfaces.remove(id).map(drop),
                _ => None,
            };
            return Ok(());
        };
        if self.rows() >= MAX_ROWS {
            return Err(OvsdbError::Shape("more rows than the agent keeps"));
        }
        let id = id.to_owned();
        let uuids = |k: &str| -> Vec<String> {
            r.get(k)
                .map(set)
                .into_iter()
                .flatten()
                .filter_map(uuid)
                .map(str::to_owned)
                .collect()
        };
        let text = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_owned);
        match table {
            "Open_vSwitch" => {
                self.versions
                    .insert(id, r.get("ovs_version").and_then(string));
            }
            "Bridge" => {
                // A row without a name is not a bridge the agent can address.
                let Some(name) = text("name") else {
                    self.bridges.remove(&id);
                    return Ok(());
                };
                let data = BridgeData {
                    name,
                    datapath_type: r.get("datapath_type").and_then(string).unwrap_or_default(),
                    ports: uuids("ports"),
                };
                self.bridges.insert(id, data);
            }
            "Port" => {
                let Some(name) = text("name") else {
                    self.ports.remove(&id);
                    return Ok(());
                };
                let data = PortData {
                    name,
                    interfaces: uuids("interfaces"),
                };
                self.ports.insert(id, data);
            }
            "Interface" => {
                self.interfaces.insert(id, decode_interface(r));
            }
            _ => {}
        }
        Ok(())
    }

    /// The bridges with their interfaces (Bridge.ports → Port.interfaces → Interface), sorted
    /// by name, each bridge's interfaces by OpenFlow port and name.
    pub fn topology(&self) -> Topology {
        let mut bridges: Vec<BridgeRow> = self
            .bridges
            .values()
            .map(|b| {
                let mut ifaces: Vec<Interface> = b
                    .ports
                    .iter()
                    .filter_map(|p| self.ports.get(p))
                    .flat_map(|p| {
                        p.interfaces.iter().filter_map(|i| {
                            let mut iface = self.interfaces.get(i)?.clone();
                            iface.port.clone_from(&p.name);
                            Some(iface)
                        })
                    })
                    .collect();
                ifaces.sort_by(|a, b| (a.ofport, &a.name).cmp(&(b.ofport, &b.name)));
                BridgeRow {
                    name: b.name.clone(),
                    datapath_type: b.datapath_type.clone(),
                    interfaces: ifaces.into(),
                }
            })
            .collect();
        bridges.sort_by(|a, b| a.name.cmp(&b.name));
        Topology {
            ovs_version: self.versions.values().flatten().min().cloned(),
            bridges,
        }
    }
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
