//! The OVSDB client: requests over the unix socket, on one connection kept between collections
//! ([`OvsdbClient`]), each bounded by one deadline covering (re)connect, write and read.
//! Blocking `std` I/O with socket timeouts, like the OpenFlow client: no thread, no runtime and
//! no connection set up per collection (ovsdb-server makes a session per connection). A kept
//! connection that fails (ovsdb-server restarted, or closed it while idle) is replaced once
//! within the same deadline; any other failure drops it, so a late reply to a timed-out request
//! is never read as the answer to the next one.
//!
//! The daemon's client ([`OvsdbClient::monitoring`]) keeps an OVSDB `monitor` on its
//! connection: the rows come once, then only the changes, as the server commits them, and each
//! collection costs one `echo` round trip (which also tells a frozen server from a quiet one)
//! plus the decoding of what changed. A one-shot collection sends one `transact`.

use std::io::{ErrorKind, Read};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use hvscope_parse::ovs::framer::Framer;
use hvscope_parse::ovs::ovsdb::{self, MAX_MESSAGE_BYTES, OvsdbError, Replica, Topology};

use crate::io::send_before;

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 64 << 10;

/// A connection to one ovsdb-server, kept between requests.
#[derive(Debug, Default)]
pub struct OvsdbClient {
    conn: Option<Conn>,
    /// The next request id (ids only grow on a connection).
    next_id: u64,
    /// Connections made so far.
    connects: u64,
    /// [`topology`](Self::topology) follows a monitor instead of sending a `transact`.
    monitor: bool,
}

#[derive(Debug)]
struct Conn {
    path: PathBuf,
    stream: UnixStream,
    framer: Framer,
    chunk: Vec<u8>,
    /// The rows of the monitor set up on this connection, kept current by the server's
    /// `update` notifications (read along with every reply).
    replica: Option<Replica>,
    /// The topology of `replica` as last built, until an update arrives: a quiet server's
    /// collection costs the `echo` alone.
    topology: Option<Arc<Topology>>,
}

impl OvsdbClient {
    /// A client whose [`topology`](Self::topology) keeps a monitor on its connection (the
    /// daemon's; [`OvsdbClient::default`] sends a `transact` each time).
    pub fn monitoring() -> Self {
        Self {
            monitor: true,
            ..Self::default()
        }
    }

    /// Connections made so far (one per server restart or failure in steady state).
    pub fn connects(&self) -> u64 {
        self.connects
    }

    /// The bridges and interfaces of the OVSDB server at `sock`, within `timeout`. A monitoring
    /// client sets up its monitor on the first call (and on a new connection); later calls send
    /// an `echo` and return the rows as the updates that arrived before its reply left them.
    pub fn topology(
        &mut self,
        sock: &Path,
        timeout: Duration,
    ) -> Result<Arc<Topology>, OvsdbError> {
        if !self.monitor {
            return self
                .transact(sock, ovsdb::request, timeout)
                .and_then(|r| ovsdb::decode_reply(&r))
                .map(Arc::new);
        }
        let deadline = Instant::now() + timeout;
        self.on_conn(
            sock,
            |c| c.replica.is_some(),
            |client, conn| client.follow(conn, sock, deadline, timeout),
        )
    }

    /// Runs `step` on the kept connection (when it is to `sock` and `keep` accepts it) or on a
    /// new one, once more on a new one when the kept one turns out gone ([`stale`]), and keeps
    /// the connection only after a whole step: a failed one may leave a late reply behind.
    fn on_conn<T>(
        &mut self,
        sock: &Path,
        keep: impl Fn(&Conn) -> bool,
        mut step: impl FnMut(&mut Self, Option<Conn>) -> Result<(T, Conn), OvsdbError>,
    ) -> Result<T, OvsdbError> {
        let kept = self.conn.take().filter(|c| c.path == sock && keep(c));
        let was_kept = kept.is_some();
        let mut r = step(self, kept);
        if was_kept && r.as_ref().is_err_and(stale) {
            r = step(self, None);
        }
        r.map(|(value, conn)| {
            self.conn = Some(conn);
            value
        })
    }

    /// An `echo` on the monitoring connection `conn`, or a new connection with a new monitor.
    fn follow(
        &mut self,
        conn: Option<Conn>,
        sock: &Path,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(Arc<Topology>, Conn), OvsdbError> {
        let echo = |id| json!({"method": "echo", "id": id, "params": []});
        let (reply, mut c) = match conn {
            Some(c) => self.exchange(Some(c), sock, &echo, deadline, timeout)?,
            None => self.exchange(None, sock, &ovsdb::monitor_request, deadline, timeout)?,
        };
        match c.replica {
            None => {
                c.replica = Some(ovsdb::monitor_reply(&reply)?);
                c.topology = None;
            }
            Some(_) => ovsdb::rpc_ok(&reply)?,
        }
        let replica = &c.replica;
        let topology = c
            .topology
            .get_or_insert_with(|| {
                Arc::new(replica.as_ref().map(Replica::topology).unwrap_or_default())
            })
            .clone();
        Ok((topology, c))
    }

    /// Sends the request `request(id)` makes (with `"id": id`: a fresh id per request) to the
    /// OVSDB server at `sock` and returns the reply with the same id, answering the server's
    /// echo requests on the way, within `timeout`.
    pub fn transact(
        &mut self,
        sock: &Path,
        request: impl Fn(u64) -> Value,
        timeout: Duration,
    ) -> Result<Value, OvsdbError> {
        let deadline = Instant::now() + timeout;
        self.on_conn(
            sock,
            |_| true,
            |client, conn| client.exchange(conn, sock, &request, deadline, timeout),
        )
    }

    /// One request on `conn`, or on a new connection; the connection is handed back with the
    /// reply.
    fn exchange(
        &mut self,
        conn: Option<Conn>,
        sock: &Path,
        request: &impl Fn(u64) -> Value,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(Value, Conn), OvsdbError> {
        let io = |source| OvsdbError::Io {
            path: sock.to_path_buf(),
            source,
        };
        let timed_out = || OvsdbError::Timeout {
            path: sock.to_path_buf(),
            ms: timeout.as_millis() as u64,
        };
        let fail = |e: std::io::Error| match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => timed_out(),
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset => OvsdbError::Closed {
                path: sock.to_path_buf(),
            },
            _ => io(e),
        };
        let mut c = match conn {
            Some(c) => c,
            None => {
                let stream = crate::io::connect_unix(sock).map_err(io)?;
                self.connects += 1;
                Conn {
                    path: sock.to_path_buf(),
                    stream,
                    framer: Framer::new(MAX_MESSAGE_BYTES),
                    chunk: vec![0; READ_CHUNK],
                    replica: None,
                    topology: None,
                }
            }
        };
        self.next_id += 1;
        let request = request(self.next_id);
        let want = request.get("id").cloned().unwrap_or(Value::Null);
        let bytes = serde_json::to_vec(&request).map_err(|e| OvsdbError::Framing(e.to_string()))?;
        send_before(&mut c.stream, &bytes, deadline).map_err(fail)?;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out());
            }
            c.stream.set_read_timeout(Some(left)).map_err(io)?;
            let n = c.stream.read(&mut c.chunk).map_err(fail)?;
            if n == 0 {
                return Err(OvsdbError::Closed {
                    path: sock.to_path_buf(),
                });
            }
            for msg in c.framer.feed(&c.chunk[..n])? {
                match msg.get("method").and_then(Value::as_str) {
                    Some("echo") => {
                        let reply = json!({"id": msg.get("id"), "result": msg.get("params"), "error": null});
                        let bytes = serde_json::to_vec(&reply).unwrap_or_default();
                        send_before(&mut c.stream, &bytes, deadline).map_err(fail)?;
                    }
                    Some("update") => {
                        if let Some(db) = &mut c.replica {
                            c.topology = None;
                            db.apply(&msg["params"][1])?;
                        }
                    }
                    // The server dropped the monitor (its database went away): start over.
                    Some("monitor_canceled") if c.replica.is_some() => {
                        return Err(OvsdbError::Closed {
                            path: sock.to_path_buf(),
                        });
                    }
                    _ if msg.get("id") == Some(&want) => return Ok((msg, c)),
                    _ => {}
                }
            }
        }
    }
}

/// Whether a failure on a kept connection means the connection is gone (the server restarted or
/// closed it while it was idle), so that a fresh one may succeed.
fn stale(e: &OvsdbError) -> bool {
    match e {
        OvsdbError::Closed { .. } => true,
        OvsdbError::Io { source, .. } => matches!(
            source.kind(),
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::NotConnected
        ),
        _ => false,
    }
}

/// One request on a connection of its own (a one-shot collection): see
/// [`OvsdbClient::transact`], with `request` sent as it is.
pub fn transact(sock: &Path, request: &Value, timeout: Duration) -> Result<Value, OvsdbError> {
    OvsdbClient::default().transact(sock, |_| request.clone(), timeout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;

    fn dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("hvscope-ovsdb-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn answers_echo_then_returns_the_reply_in_pieces() {
        let d = dir("ok");
        let sock = d.join("db.sock");
        let l = UnixListener::bind(&sock).unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut buf = [0u8; 4096];
            let n = c.read(&mut buf).unwrap();
            let req: Value = serde_json::from_slice(&buf[..n]).unwrap();
            assert_eq!(req["method"], "transact");
            c.write_all(br#"{"method":"echo","id":"echo","params":[]}"#)
                .unwrap();
            let n = c.read(&mut buf).unwrap();
            let echo: Value = serde_json::from_slice(&buf[..n]).unwrap();
            assert_eq!(echo["id"], "echo");
            for part in [
                &br#"{"id":5,"result":[{"ro"#[..],
                br#"ws":[]}],"error":null}"#,
            ] {
                c.write_all(part).unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let reply = transact(
            &sock,
            &json!({"method":"transact","id":5,"params":[]}),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(reply["result"][0]["rows"], json!([]));
        server.join().unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// Reads one request from `c` and answers it with its id.
    fn answer(c: &mut std::os::unix::net::UnixStream, tag: &str) -> bool {
        let mut buf = [0u8; 4096];
        let n = c.read(&mut buf).unwrap_or(0);
        if n == 0 {
            return false;
        }
        let req: Value = serde_json::from_slice(&buf[..n]).unwrap();
        let reply = json!({"id": req["id"], "result": [tag], "error": null});
        c.write_all(&serde_json::to_vec(&reply).unwrap()).unwrap();
        true
    }

    #[test]
    fn keeps_its_connection_and_replaces_one_the_server_closed() {
        let d = dir("kept");
        let sock = d.join("db.sock");
        let l = UnixListener::bind(&sock).unwrap();
        let server = std::thread::spawn(move || {
            // First connection: two requests, then the server closes it (a restart).
            let (mut c, _) = l.accept().unwrap();
            assert!(answer(&mut c, "one"));
            assert!(answer(&mut c, "two"));
            drop(c);
            // The client's next request finds it closed and connects again.
            let (mut c, _) = l.accept().unwrap();
            assert!(answer(&mut c, "three"));
            assert!(!answer(&mut c, "eof"), "no fourth request");
        });
        let mut client = OvsdbClient::default();
        let req = |id| json!({"method": "transact", "id": id, "params": []});
        let t = Duration::from_secs(5);
        for want in ["one", "two", "three"] {
            let reply = client.transact(&sock, req, t).unwrap();
            assert_eq!(reply["result"][0], want);
        }
        assert_eq!(client.connects(), 2);
        drop(client);
        server.join().unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn silent_server_times_out_and_missing_socket_fails() {
        let d = dir("hang");
        let sock = d.join("db.sock");
        let _l = UnixListener::bind(&sock).unwrap(); // never accepts, never answers
        let t = std::time::Instant::now();
        let e = transact(&sock, &json!({"id":1}), Duration::from_millis(300)).unwrap_err();
        assert!(matches!(e, OvsdbError::Timeout { ms: 300, .. }), "{e}");
        assert!(t.elapsed() < Duration::from_secs(2));
        let e = transact(&d.join("nope"), &json!({"id":1}), Duration::from_secs(1)).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// Reads one JSON-RPC message from `c` (the client sends each in one write).
    fn request(c: &mut std::os::unix::net::UnixStream) -> Option<Value> {
        let mut buf = [0u8; 8192];
        let n = c.read(&mut buf).unwrap_or(0);
        (n > 0).then(|| serde_json::from_slice(&buf[..n]).unwrap())
    }

    #[test]
    fn a_monitor_gives_the_rows_once_then_each_change_before_the_echo_reply() {
        use hvscope_parse::ovs::testdata::{initial_updates, topology};
        let d = dir("monitor");
        let sock = d.join("db.sock");
        let l = UnixListener::bind(&sock).unwrap();
        let initial = initial_updates();
        let (tap, row) = initial["Interface"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(_, r)| r["new"]["name"] == "tap4f2b8c1e-6d")
            .map(|(k, r)| (k.clone(), r["new"].clone()))
            .unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let req = request(&mut c).unwrap();
            assert_eq!(req["method"], "monitor");
            assert_eq!(req["params"][0], "Open_vSwitch");
            let reply = json!({"id": req["id"], "result": initial, "error": null});
            c.write_all(reply.to_string().as_bytes()).unwrap();
            // A quiet collection: the echo alone.
            let req = request(&mut c).unwrap();
            assert_eq!(req["method"], "echo");
            let reply = json!({"id": req["id"], "result": [], "error": null});
            c.write_all(reply.to_string().as_bytes()).unwrap();
            // Next collection: the server's own echo, then a change committed meanwhile,
            // then the reply to the client's echo.
            let req = request(&mut c).unwrap();
            assert_eq!(req["method"], "echo");
            c.write_all(br#"{"method":"echo","id":"e1","params":[]}"#)
                .unwrap();
            assert_eq!(
                request(&mut c).unwrap()["id"],
                "e1",
                "the client answers echoes"
            );
            let mut new = row.clone();
            new["statistics"] = json!(["map", [["rx_packets", 99]]]);
            let update = json!({"method": "update", "id": null,
                "params": [null, {"Interface": {&tap: {"old": {}, "new": new}}}]});
            c.write_all(update.to_string().as_bytes()).unwrap();
            let reply = json!({"id": req["id"], "result": [], "error": null});
            c.write_all(reply.to_string().as_bytes()).unwrap();
            // Third: the server restarts; the client monitors again on a new connection.
            drop(c);
            let (mut c, _) = l.accept().unwrap();
            let req = request(&mut c).unwrap();
            assert_eq!(req["method"], "monitor");
            let reply = json!({"id": req["id"], "result": initial_updates(), "error": null});
            c.write_all(reply.to_string().as_bytes()).unwrap();
            // Fourth: frozen (reads, never answers).
            let _ = request(&mut c);
            std::thread::sleep(Duration::from_millis(800));
        });
        let mut client = OvsdbClient::monitoring();
        let t = Duration::from_secs(5);
        let first = client.topology(&sock, t).unwrap();
        assert_eq!(*first, topology());
        let quiet = client.topology(&sock, t).unwrap();
        assert!(
            Arc::ptr_eq(&first, &quiet),
            "no update: the same topology, not rebuilt"
        );
        let changed = client.topology(&sock, t).unwrap();
        assert!(!Arc::ptr_eq(&first, &changed));
        let stats = |topo: &Topology| {
            topo.bridges[0]
                .interfaces
                .iter()
                .find(|i| i.name == "tap4f2b8c1e-6d")
                .unwrap()
                .statistics
                .clone()
        };
        assert_eq!(stats(&changed).get("rx_packets"), Some(&99));
        assert_eq!(stats(&changed).len(), 1);
        assert_eq!(*client.topology(&sock, t).unwrap(), topology(), "rows anew");
        assert_eq!(client.connects(), 2);
        let e = client
            .topology(&sock, Duration::from_millis(300))
            .unwrap_err();
        assert!(matches!(e, OvsdbError::Timeout { ms: 300, .. }), "{e}");
        server.join().unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }
}
