//! The OVSDB client: one `transact` over the unix socket (`tokio::net::UnixStream`), bounded by
//! one deadline covering connect, write and read. It runs on a private current-thread runtime
//! in a scoped thread, so it can be called from synchronous code and from inside the agent's
//! own runtime alike, and a hung ovsdb-server costs at most the timeout.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use hvscope_parse::ovs::framer::Framer;
use hvscope_parse::ovs::ovsdb::{MAX_MESSAGE_BYTES, OvsdbError};

/// Sends `request` (which must carry `"id": id`) to the OVSDB server at `sock` and returns the
/// reply with the same id. Echo requests from the server are answered on the way.
pub fn transact(sock: &Path, request: &Value, timeout: Duration) -> Result<Value, OvsdbError> {
    let io = |source| OvsdbError::Io {
        path: sock.to_path_buf(),
        source,
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(io)?;
            rt.block_on(async {
                match tokio::time::timeout(timeout, exchange(sock, request)).await {
                    Ok(r) => r,
                    Err(_) => Err(OvsdbError::Timeout {
                        path: sock.to_path_buf(),
                        ms: timeout.as_millis() as u64,
                    }),
                }
            })
        })
        .join()
        .unwrap_or(Err(OvsdbError::Shape("ovsdb client thread panicked")))
    })
}

async fn exchange(sock: &Path, request: &Value) -> Result<Value, OvsdbError> {
    let io = |source| OvsdbError::Io {
        path: sock.to_path_buf(),
        source,
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let mut stream = UnixStream::connect(sock).await.map_err(io)?;
    let bytes = serde_json::to_vec(request).map_err(|e| OvsdbError::Framing(e.to_string()))?;
    stream.write_all(&bytes).await.map_err(io)?;
    let mut framer = Framer::new(MAX_MESSAGE_BYTES);
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = stream.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return Err(OvsdbError::Closed {
                path: sock.to_path_buf(),
            });
        }
        for msg in framer.feed(&chunk[..n])? {
            if msg.get("method").and_then(Value::as_str) == Some("echo") {
                let reply =
                    json!({"id": msg.get("id"), "result": msg.get("params"), "error": null});
                let bytes = serde_json::to_vec(&reply).unwrap_or_default();
                stream.write_all(&bytes).await.map_err(io)?;
            } else if msg.get("id") == Some(&id) {
                return Ok(msg);
            }
        }
    }
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
