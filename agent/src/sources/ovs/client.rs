//! The OVSDB client: `transact` requests over the unix socket, on one connection kept between
//! collections ([`OvsdbClient`]), each bounded by one deadline covering (re)connect, write and
//! read. Blocking `std` I/O with socket timeouts, like the OpenFlow client: no thread, no
//! runtime and no connection set up per collection (ovsdb-server makes a session per
//! connection). A kept connection that fails (ovsdb-server restarted, or closed it while idle)
//! is replaced once within the same deadline; any other failure drops it, so a late reply to a
//! timed-out request is never read as the answer to the next one.

use std::io::{ErrorKind, Read};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use hvscope_parse::ovs::framer::Framer;
use hvscope_parse::ovs::ovsdb::{MAX_MESSAGE_BYTES, OvsdbError};

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
}

#[derive(Debug)]
struct Conn {
    path: PathBuf,
    stream: UnixStream,
    framer: Framer,
    chunk: Vec<u8>,
}

impl OvsdbClient {
    /// Connections made so far (one per server restart or failure in steady state).
    pub fn connects(&self) -> u64 {
        self.connects
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
        let kept = self.conn.take().filter(|c| c.path == sock);
        let was_kept = kept.is_some();
        let mut r = self.exchange(kept, sock, &request, deadline, timeout);
        if was_kept && r.as_ref().is_err_and(stale) {
            r = self.exchange(None, sock, &request, deadline, timeout);
        }
        // Kept only after a whole exchange: a failed one may leave a late reply behind.
        r.map(|(reply, conn)| {
            self.conn = Some(conn);
            reply
        })
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
                if msg.get("method").and_then(Value::as_str) == Some("echo") {
                    let reply =
                        json!({"id": msg.get("id"), "result": msg.get("params"), "error": null});
                    let bytes = serde_json::to_vec(&reply).unwrap_or_default();
                    send_before(&mut c.stream, &bytes, deadline).map_err(fail)?;
                } else if msg.get("id") == Some(&want) {
                    return Ok((msg, c));
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
}
