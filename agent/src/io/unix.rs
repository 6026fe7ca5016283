//! A daemon's unix socket: connecting without ever blocking on it, writing under a deadline.

use std::io::{ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Instant;

use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, connect, socket};

/// Connects to the stream socket at `path`. A blocking `connect(2)` on a unix socket waits while
/// the listener's queue is full, which it is once a frozen daemon (SIGSTOP, a hung main loop)
/// has stopped accepting for a while; this one is made non-blocking, so it then fails at once
/// with `WouldBlock` ("Resource temporarily unavailable") instead of holding the collection.
/// The stream is returned in blocking mode, for reads and writes under socket timeouts.
pub fn connect_unix(path: &Path) -> std::io::Result<UnixStream> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &UnixAddr::new(path)?)?;
    let stream = UnixStream::from(fd);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// Writes all of `b` before `deadline` (`TimedOut` once it passed).
pub fn send_before(conn: &mut UnixStream, b: &[u8], deadline: Instant) -> std::io::Result<()> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(ErrorKind::TimedOut.into());
    }
    conn.set_write_timeout(Some(left))?;
    conn.write_all(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixListener;

    #[test]
    fn connects_and_a_full_queue_fails_at_once() {
        let d = std::env::temp_dir().join(format!("hvscope-unix-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let sock = d.join("s.sock");
        let l = UnixListener::bind(&sock).unwrap();
        let mut c = connect_unix(&sock).unwrap();
        let (mut a, _) = l.accept().unwrap();
        c.write_all(b"hi").unwrap();
        let mut buf = [0u8; 2];
        a.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi");
        // Never accepted: the queue fills (its length is the listen backlog, 128 in std, capped
        // by net.core.somaxconn), then connecting fails at once instead of blocking.
        let t = std::time::Instant::now();
        let mut held = Vec::new();
        let err = loop {
            match connect_unix(&sock) {
                Ok(s) => held.push(s),
                Err(e) => break e,
            }
            assert!(held.len() < 100_000, "the queue never filled");
        };
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock, "{err}");
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        assert!(connect_unix(&d.join("nope")).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
