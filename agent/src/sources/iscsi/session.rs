//! The complete read of one session: its class attributes, the host's address, its connections,
//! targets and LUNs. A session read again (its periodic re-read, or after one of its states
//! changed) hands in what the source kept of it: the kept state files are read again with `pread`
//! instead of being closed and opened anew, and the SCSI peripheral `type` of a LUN whose kept
//! `state` file still reads is taken over (a kept sysfs file fails with ENODEV once its device is
//! removed, and the kernel sets `type` once, when it scans the device: a readable kept file is
//! the same device, of the same type).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::dir::{self, RelDir};
use super::read::{self, ATTR_BYTES, Attr, Volatile};
use super::sysfs::{self, ConnState, SessionState};
use super::{Connection, IscsiError, Session};
use crate::io::{FdBudget, HeldFile, Holder, HostRoot};

/// What the source kept of a session read before.
pub(super) struct Kept {
    pub session: Arc<Session>,
    pub handles: Volatile,
}

/// The kept handles of a session by what they read, to be taken over by a complete read.
struct Reuse<'a> {
    state: Option<Attr>,
    /// Connection name → its `state`.
    conns: Vec<(&'a str, Attr)>,
    /// LUN `H:C:T:L` → its `state`, and its `type` as read before.
    luns: Vec<(&'a str, Attr, Option<u32>)>,
}

impl<'a> Reuse<'a> {
    fn new(session: &'a Session, handles: Volatile) -> Self {
        Self {
            state: Some(handles.state),
            conns: session
                .connections
                .iter()
                .map(|c| c.name.as_str())
                .zip(handles.conns)
                .collect(),
            luns: handles
                .luns
                .into_iter()
                .filter_map(|(i, a)| {
                    let l = session.luns.get(i)?;
                    Some((l.hctl.as_str(), a, l.scsi_type))
                })
                .collect(),
        }
    }

    fn none() -> Self {
        Self {
            state: None,
            conns: Vec::new(),
            luns: Vec::new(),
        }
    }

    fn conn(&mut self, name: &str) -> Option<Attr> {
        let i = self.conns.iter().position(|(n, _)| *n == name)?;
        Some(self.conns.swap_remove(i).1)
    }

    fn lun(&mut self, hctl: &str) -> Option<(Attr, Option<u32>)> {
        let i = self.luns.iter().position(|(n, _, _)| *n == hctl)?;
        let (_, a, t) = self.luns.swap_remove(i);
        Some((a, t))
    }
}

/// Reading one or more sessions completely in one cycle: the root, the fd budget and a buffer.
pub(super) struct Reader<'r> {
    pub root: &'r HostRoot,
    pub fds: &'r FdBudget,
    buf: [u8; ATTR_BYTES],
}

impl<'r> Reader<'r> {
    pub fn new(root: &'r HostRoot, fds: &'r FdBudget) -> Self {
        Self {
            root,
            fds,
            buf: [0; ATTR_BYTES],
        }
    }

    /// Reads session `name` completely. The block devices of its LUNs come from `blocks` (LUN
    /// directory → device name, from the `sys/block` links); `kept` is what the source kept of
    /// it (its open files that are not kept again are closed, their slots given back). A session
    /// that cannot be read is returned with its `error` and no handles.
    pub fn session(
        &mut self,
        name: &str,
        blocks: &HashMap<PathBuf, String>,
        kept: Option<Kept>,
    ) -> (Session, Option<Volatile>) {
        let mut s = Session {
            name: name.to_owned(),
            ..Default::default()
        };
        let res = match kept {
            Some(k) => {
                let reuse = Reuse::new(&k.session, k.handles);
                self.fill(name, blocks, reuse, &mut s)
            }
            None => self.fill(name, blocks, Reuse::none(), &mut s),
        };
        match res {
            Ok(v) => (s, Some(v)),
            Err(e) => {
                s.error = Some(e.to_string());
                (s, None)
            }
        }
    }

    fn fill(
        &mut self,
        name: &str,
        blocks: &HashMap<PathBuf, String>,
        mut reuse: Reuse<'_>,
        s: &mut Session,
    ) -> Result<Volatile, IscsiError> {
        let link = PathBuf::from("sys/class/iscsi_session").join(name);
        let class_dir = read::resolve(self.root, &link)?;
        let (dev_dir, host) =
            sysfs::session_device_dir(&class_dir).ok_or_else(|| IscsiError::NotSessionDir {
                path: self.root.path(&class_dir),
            })?;
        s.host = host;
        // The session's directory, opened once: its class attributes, connections, targets and
        // LUNs are read relative to it. Failing to open it fails as reading the first of them by
        // its path would.
        let mut dev = dir::open_listed(self.root, &dev_dir)
            .map_err(|e| dir::as_read_of(e, self.root.path(&class_dir).join("targetname")))?;
        // `dev_dir` is `class_dir` less its last two components.
        let class = class_dir.strip_prefix(&dev_dir).unwrap_or(&class_dir);
        s.target = dir::read_rel(&dev, &class.join("targetname"), false, &mut self.buf)?.0;
        let state_rel = class.join("state");
        let (state, state_h, _) = self.kept(&dev, &state_rel, reuse.state.take())?;
        s.state = Some(known(
            &dev,
            &state_rel,
            "session state",
            state,
            SessionState::parse,
        )?);
        let mut opt = |attr: &str| dir::opt_rel(&dev, &class.join(attr), &mut self.buf);
        s.target_state = opt("target_state");
        s.recovery_tmo_secs = opt("recovery_tmo").and_then(|v| v.parse().ok());
        s.tpgt = opt("tpgt").and_then(|v| v.parse().ok());
        s.initiator = opt("initiatorname");
        s.iface = opt("ifacename");
        let address = PathBuf::from("sys/class/iscsi_host")
            .join(&s.host)
            .join("ipaddress");
        s.local_address = read::opt_path(self.root, &address, &mut self.buf);

        let mut v = Volatile {
            state: state_h,
            conns: Vec::new(),
            luns: Vec::new(),
        };
        let mut entries = dev.names()?;
        entries.sort();
        let mut rel = Rel::default();
        for e in &entries {
            if e.starts_with("connection") {
                let (c, h) = self.connection(&dev, e, reuse.conn(e), &mut rel)?;
                s.connections.push(c);
                v.conns.push(h);
            } else if let Some(t) = e.strip_prefix("target") {
                if sysfs::parse_hctl(rel.of(&[t, ":0"], "")).is_none() {
                    continue;
                }
                let names = dir::open_listed_at(&dev, e)?.into_names()?;
                let target_dir = dev_dir.join(e);
                let lun = Lun {
                    dev: &dev,
                    target: e,
                    target_dir: &target_dir,
                    blocks,
                };
                self.luns(&lun, names, &mut reuse, s, &mut v, &mut rel)?;
            }
        }
        Ok(v)
    }

    /// A state attribute read again every cycle: its text, its handle (the open file while the
    /// budget allows) and whether it was read through the kept open file `old` (then it is the
    /// same device's file as before).
    fn kept<R: AsRef<Path> + nix::NixPath + ?Sized>(
        &mut self,
        dir: &impl RelDir,
        rel: &R,
        old: Option<Attr>,
    ) -> Result<(String, Attr, bool), IscsiError> {
        if let Some(old @ Attr::Open(_)) = old
            && let Some(text) = old.read(&mut self.buf)
        {
            let text = text.to_owned();
            return Ok((text, old, true));
        }
        let lease = self.fds.grant(Holder::Iscsi);
        let (text, f) = dir::read_rel(dir, rel, lease.is_some(), &mut self.buf)?;
        let h = match f.zip(lease) {
            Some((f, lease)) => Attr::Open(HeldFile::new(f, lease)),
            None => Attr::Path(dir.path().join(rel)),
        };
        Ok((text, h, false))
    }

    fn connection(
        &mut self,
        dev: &impl RelDir,
        name: &str,
        old: Option<Attr>,
        rel: &mut Rel,
    ) -> Result<(Connection, Attr), IscsiError> {
        let dir = [name, "/iscsi_connection/", name, "/"];
        let (state, h, _) = self.kept(dev, rel.of(&dir, "state"), old)?;
        let state = known(
            dev,
            rel.of(&dir, "state"),
            "connection state",
            state,
            ConnState::parse,
        )?;
        let portal = self.portal_pair(dev, &dir, "persistent_address", "persistent_port", rel);
        let current = self.portal_pair(dev, &dir, "address", "port", rel);
        Ok((
            Connection {
                name: name.to_owned(),
                state: Some(state),
                portal,
                current,
            },
            h,
        ))
    }

    /// `address:port` from two attributes of `dir` (below `base`), when both are readable.
    fn portal_pair(
        &mut self,
        base: &impl RelDir,
        dir: &[&str],
        a: &str,
        p: &str,
        rel: &mut Rel,
    ) -> Option<String> {
        let address = dir::opt_rel(base, rel.of(dir, a), &mut self.buf)?;
        let port = dir::opt_rel(base, rel.of(dir, p), &mut self.buf)?;
        Some(sysfs::portal(&address, &port))
    }

    /// The LUNs `names` of a target directory.
    fn luns(
        &mut self,
        at: &Lun<'_, impl RelDir>,
        names: Vec<String>,
        reuse: &mut Reuse<'_>,
        s: &mut Session,
        v: &mut Volatile,
        rel: &mut Rel,
    ) -> Result<(), IscsiError> {
        let mut names: Vec<_> = names
            .into_iter()
            .filter_map(|n| Some((sysfs::parse_hctl(&n)?, n)))
            .collect();
        names.sort();
        let mut lun_dir = at.target_dir.to_path_buf();
        for (hctl, name) in names {
            lun_dir.push(&name);
            let block = at.blocks.get(&lun_dir).cloned();
            lun_dir.pop();
            let dir = [at.target, "/", name.as_str(), "/"];
            // Only the LUNs with a block device are paths I/O goes through: their state is read
            // every cycle; a controller LUN's with the rest of the session.
            let (state, scsi_type) = if block.is_some() {
                let (old, old_type) = reuse.lun(&name).unzip();
                let (state, h, same_device) = self.kept(at.dev, rel.of(&dir, "state"), old)?;
                v.luns.push((s.luns.len(), h));
                let scsi_type = match old_type {
                    Some(t) if same_device => t,
                    _ => self.scsi_type(at.dev, rel.of(&dir, "type")),
                };
                (state, scsi_type)
            } else {
                let state = dir::read_rel(at.dev, rel.of(&dir, "state"), false, &mut self.buf)?.0;
                (state, self.scsi_type(at.dev, rel.of(&dir, "type")))
            };
            s.luns.push(super::Lun {
                lun: hctl[3],
                scsi_type,
                state: Some(state),
                block,
                hctl: name,
            });
        }
        Ok(())
    }

    /// The SCSI peripheral type in file `rel` below `dev`.
    fn scsi_type(&mut self, dev: &impl RelDir, rel: &str) -> Option<u32> {
        dir::opt_rel(dev, rel, &mut self.buf).and_then(|v| v.parse().ok())
    }
}

/// Where the LUNs of one target are read: the session's directory `dev`, the target's name in
/// it, the target directory's host-root-relative path, and the LUN directories' block devices.
struct Lun<'a, D> {
    dev: &'a D,
    target: &'a str,
    target_dir: &'a Path,
    blocks: &'a HashMap<PathBuf, String>,
}

/// A relative path built in one buffer reused for every file of a session.
#[derive(Default)]
struct Rel(String);

impl Rel {
    /// `parts` then `last`, concatenated.
    fn of(&mut self, parts: &[&str], last: &str) -> &str {
        self.0.clear();
        for p in parts {
            self.0.push_str(p);
        }
        self.0.push_str(last);
        &self.0
    }
}

/// `value` (read from `rel` below `dir`) parsed by `parse`; an unknown value is an error naming
/// the file.
fn known<T, R: AsRef<Path> + ?Sized>(
    dir: &impl RelDir,
    rel: &R,
    what: &'static str,
    value: String,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, IscsiError> {
    parse(&value).ok_or_else(|| IscsiError::UnknownValue {
        path: dir.path().join(rel),
        what,
        value,
    })
}
