//! Pure parser of libvirt's live status file (`run/libvirt/qemu/<name>.xml`): a `<domstatus
//! state pid>` wrapper with `<vcpus><vcpu id pid/>` around the live `<domain>`. A plain
//! `<domain>` (no wrapper) is accepted too. Elements are matched by local name, so nova's
//! metadata namespaces 1.0 and 1.1 both work. DTDs are refused (no entity expansion) and the
//! node count is bounded: a hostile file costs bounded time and memory.

use std::collections::BTreeMap;

use crate::cpuset::CpuSet;
use roxmltree::{Document, Node, ParsingOptions};

use super::model::{CpuTune, Disk, DiskSource, Domain, Nic, NovaFlavor, NovaInstance, NumaTune};

/// Most XML nodes accepted in one status file (libvirt's are ~2,000 with `<qemuCaps>`).
pub const MAX_NODES: u32 = 200_000;

/// Nova's metadata namespace prefix (versions 1.0 and 1.1 follow it).
const NOVA_NS: &str = "http://openstack.org/xmlns/libvirt/nova/";

/// The status file is not a usable domain description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("not well-formed xml: {0}")]
    Syntax(String),
    #[error("root element is <{0}>, want <domstatus> or <domain>")]
    UnexpectedRoot(String),
    #[error("no <domain> element")]
    NoDomain,
    #[error("<{element}> is missing {what}")]
    Missing {
        element: &'static str,
        what: &'static str,
    },
    #[error("<{element}> has a bad {attribute} {value:?}")]
    BadValue {
        element: &'static str,
        attribute: &'static str,
        value: String,
    },
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn children<'a, 'i: 'a>(n: Node<'a, 'i>, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    n.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

fn text(n: Option<Node<'_, '_>>) -> Option<String> {
    n.and_then(|n| n.text())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

fn num<T: std::str::FromStr>(
    v: &str,
    element: &'static str,
    attribute: &'static str,
) -> Result<T, XmlError> {
    v.trim().parse().map_err(|_| XmlError::BadValue {
        element,
        attribute,
        value: v.chars().take(40).collect(),
    })
}

fn cpuset(v: &str, element: &'static str) -> Result<CpuSet, XmlError> {
    CpuSet::parse(v).map_err(|_| XmlError::BadValue {
        element,
        attribute: "cpuset",
        value: v.chars().take(40).collect(),
    })
}

/// Bytes of a `<memory unit=…>` value (libvirt's default unit is KiB).
fn memory_bytes(n: Node<'_, '_>) -> Result<u64, XmlError> {
    let v: u64 = num(n.text().unwrap_or("").trim(), "memory", "value")?;
    let mult: u64 = match n.attribute("unit").unwrap_or("KiB") {
        "b" | "bytes" => 1,
        "KB" => 1000,
        "k" | "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "M" | "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "G" | "GiB" => 1 << 30,
        "TB" => 1_000_000_000_000,
        "T" | "TiB" => 1 << 40,
        u => {
            return Err(XmlError::BadValue {
                element: "memory",
                attribute: "unit",
                value: u.to_owned(),
            });
        }
    };
    v.checked_mul(mult).ok_or(XmlError::BadValue {
        element: "memory",
        attribute: "value",
        value: "overflow".into(),
    })
}

/// Parses the text of a status file (or a plain domain XML).
pub fn parse_status(xml: &str) -> Result<Domain, XmlError> {
    let opts = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc =
        Document::parse_with_options(xml, opts).map_err(|e| XmlError::Syntax(e.to_string()))?;
    let root = doc.root_element();
    let mut d = Domain::default();
    let dom = match root.tag_name().name() {
        "domstatus" => {
            d.state = root.attribute("state").unwrap_or("").to_owned();
            if let Some(pid) = root.attribute("pid") {
                d.pid = Some(num(pid, "domstatus", "pid")?);
            }
            if let Some(vcpus) = child(root, "vcpus") {
                for v in children(vcpus, "vcpu") {
                    let id = v.attribute("id").ok_or(XmlError::Missing {
                        element: "vcpu",
                        what: "id",
                    })?;
                    let pid = v.attribute("pid").ok_or(XmlError::Missing {
                        element: "vcpu",
                        what: "pid",
                    })?;
                    d.vcpu_threads
                        .insert(num(id, "vcpu", "id")?, num(pid, "vcpu", "pid")?);
                }
            }
            child(root, "domain").ok_or(XmlError::NoDomain)?
        }
        "domain" => root,
        other => return Err(XmlError::UnexpectedRoot(other.chars().take(40).collect())),
    };
    parse_domain(dom, &mut d)?;
    Ok(d)
}

fn parse_domain(dom: Node<'_, '_>, d: &mut Domain) -> Result<(), XmlError> {
    d.name = text(child(dom, "name")).ok_or(XmlError::Missing {
        element: "domain",
        what: "<name>",
    })?;
    d.uuid = text(child(dom, "uuid")).ok_or(XmlError::Missing {
        element: "domain",
        what: "<uuid>",
    })?;
    if let Some(id) = dom.attribute("id") {
        d.id = Some(num(id, "domain", "id")?);
    }
    if let Some(m) = child(dom, "memory") {
        d.memory_bytes = memory_bytes(m)?;
    }
    if let Some(v) = child(dom, "vcpu") {
        d.vcpus = num(v.text().unwrap_or("").trim(), "vcpu", "count")?;
        if let Some(cs) = v.attribute("cpuset") {
            d.vcpu_cpuset = Some(cpuset(cs, "vcpu")?);
        }
    }
    if let Some(ct) = child(dom, "cputune") {
        d.cputune = parse_cputune(ct)?;
    }
    if let Some(nt) = child(dom, "numatune").and_then(|n| child(n, "memory")) {
        d.numatune = Some(NumaTune {
            mode: nt.attribute("mode").unwrap_or("strict").to_owned(),
            nodeset: cpuset(nt.attribute("nodeset").unwrap_or(""), "numatune")?,
        });
    }
    d.hugepages = child(dom, "memoryBacking")
        .and_then(|m| child(m, "hugepages"))
        .is_some();
    if let Some(devices) = child(dom, "devices") {
        for disk in children(devices, "disk") {
            d.disks.push(parse_disk(disk)?);
        }
        for nic in children(devices, "interface") {
            d.nics.push(parse_nic(nic));
        }
    }
    d.nova = child(dom, "metadata")
        .and_then(|m| {
            m.children().find(|c| {
                c.is_element()
                    && c.tag_name().name() == "instance"
                    && c.tag_name()
                        .namespace()
                        .is_some_and(|ns| ns.starts_with(NOVA_NS))
            })
        })
        .map(parse_nova);
    Ok(())
}

fn pins(
    ct: Node<'_, '_>,
    name: &'static str,
    id_attr: &'static str,
) -> Result<BTreeMap<u32, CpuSet>, XmlError> {
    let mut out = BTreeMap::new();
    for p in children(ct, name) {
        let id = p.attribute(id_attr).ok_or(XmlError::Missing {
            element: name,
            what: id_attr,
        })?;
        let cs = p.attribute("cpuset").ok_or(XmlError::Missing {
            element: name,
            what: "cpuset",
        })?;
        out.insert(num(id, name, id_attr)?, cpuset(cs, name)?);
    }
    Ok(out)
}

fn parse_cputune(ct: Node<'_, '_>) -> Result<CpuTune, XmlError> {
    Ok(CpuTune {
        vcpupin: pins(ct, "vcpupin", "vcpu")?,
        iothreadpin: pins(ct, "iothreadpin", "iothread")?,
        emulatorpin: match child(ct, "emulatorpin").and_then(|e| e.attribute("cpuset")) {
            Some(cs) => Some(cpuset(cs, "emulatorpin")?),
            None => None,
        },
        shares: match text(child(ct, "shares")) {
            Some(s) => Some(num(&s, "shares", "value")?),
            None => None,
        },
    })
}

fn parse_disk(disk: Node<'_, '_>) -> Result<Disk, XmlError> {
    let target = child(disk, "target");
    let src = child(disk, "source");
    let source = match (disk.attribute("type").unwrap_or(""), src) {
        (_, None) => DiskSource::None,
        ("block", Some(s)) => {
            s.attribute("dev")
                .map_or(DiskSource::None, |dev| DiskSource::Block {
                    dev: dev.to_owned(),
                })
        }
        ("file", Some(s)) => s
            .attribute("file")
            .map_or(DiskSource::None, |p| DiskSource::File {
                path: p.to_owned(),
            }),
        ("network", Some(s)) => {
            let mut hosts = Vec::new();
            for h in children(s, "host") {
                let port = match h.attribute("port") {
                    Some(p) => num(p, "host", "port")?,
                    None => 0,
                };
                hosts.push((h.attribute("name").unwrap_or("").to_owned(), port));
            }
            DiskSource::Network {
                protocol: s.attribute("protocol").unwrap_or("").to_owned(),
                name: s.attribute("name").unwrap_or("").to_owned(),
                hosts,
            }
        }
        _ => DiskSource::None,
    };
    Ok(Disk {
        target: target
            .and_then(|t| t.attribute("dev"))
            .unwrap_or("")
            .to_owned(),
        bus: target
            .and_then(|t| t.attribute("bus"))
            .unwrap_or("")
            .to_owned(),
        device: disk.attribute("device").unwrap_or("disk").to_owned(),
        source,
        serial: text(child(disk, "serial")),
    })
}

fn parse_nic(nic: Node<'_, '_>) -> Nic {
    let attr = |el: &str, a: &str| {
        child(nic, el)
            .and_then(|n| n.attribute(a))
            .map(str::to_owned)
    };
    Nic {
        mac: attr("mac", "address")
            .unwrap_or_default()
            .to_ascii_lowercase(),
        bridge: attr("source", "bridge"),
        target_dev: attr("target", "dev"),
        interface_id: child(nic, "virtualport")
            .and_then(|v| child(v, "parameters"))
            .and_then(|p| p.attribute("interfaceid"))
            .map(str::to_owned),
        model: attr("model", "type"),
    }
}

fn parse_nova(inst: Node<'_, '_>) -> NovaInstance {
    let mut n = NovaInstance {
        name: text(child(inst, "name")).unwrap_or_default(),
        package_version: child(inst, "package")
            .and_then(|p| p.attribute("version"))
            .map(str::to_owned),
        creation_time: text(child(inst, "creationTime")),
        ..Default::default()
    };
    if let Some(f) = child(inst, "flavor") {
        let get = |name: &str| text(child(f, name)).and_then(|v| v.parse().ok());
        n.flavor = NovaFlavor {
            name: f.attribute("name").unwrap_or("").to_owned(),
            vcpus: get("vcpus").and_then(|v: u64| u32::try_from(v).ok()),
            memory_mib: get("memory"),
            disk_gb: get("disk"),
            extra_specs: child(f, "extraSpecs")
                .map(|es| {
                    children(es, "extraSpec")
                        .filter_map(|s| {
                            Some((
                                s.attribute("name")?.to_owned(),
                                s.text().unwrap_or("").trim().to_owned(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
    }
    if let Some(o) = child(inst, "owner") {
        let u = child(o, "user");
        let p = child(o, "project");
        n.user_id = u.and_then(|u| u.attribute("uuid")).map(str::to_owned);
        n.user_name = text(u);
        n.project_id = p.and_then(|p| p.attribute("uuid")).map(str::to_owned);
        n.project_name = text(p);
    }
    if let Some(r) = child(inst, "root") {
        n.root_type = r.attribute("type").map(str::to_owned);
        n.root_id = r.attribute("uuid").map(str::to_owned);
    }
    n
}

#[cfg(test)]
mod tests;
