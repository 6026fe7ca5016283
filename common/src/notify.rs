//! systemd's notification protocol (`sd_notify(3)`), without libsystemd: `READY=1` once the
//! service is up (the agent collecting, the aggregator serving), `WATCHDOG=1` from the loop that
//! must not get stuck (so a stuck loop gets the service restarted), `STATUS=` lines for
//! `systemctl status`. Without `NOTIFY_SOCKET` every call is a no-op, so the same binary runs
//! under systemd, a busybox init, or a shell.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// A connection to the service manager's notification socket, if there is one.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
}

/// Parses `WATCHDOG_USEC` (and `WATCHDOG_PID`, which must name this process when set).
pub fn watchdog_interval(usec: Option<&str>, pid: Option<&str>, my_pid: u32) -> Option<Duration> {
    if let Some(p) = pid
        && p.trim().parse::<u32>().ok() != Some(my_pid)
    {
        return None;
    }
    let us: u64 = usec?.trim().parse().ok()?;
    (us > 0).then(|| Duration::from_micros(us))
}

impl Notifier {
    /// From `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` of the environment.
    pub fn from_env() -> Self {
        let socket = std::env::var("NOTIFY_SOCKET").ok();
        let watchdog = watchdog_interval(
            std::env::var("WATCHDOG_USEC").ok().as_deref(),
            std::env::var("WATCHDOG_PID").ok().as_deref(),
            std::process::id(),
        );
        Self::new(socket.as_deref(), watchdog)
    }

    /// To the socket at `path` (`@name` for an abstract socket); `None`: a no-op notifier.
    pub fn new(path: Option<&str>, watchdog: Option<Duration>) -> Self {
        let target = path.and_then(|p| {
            let addr = match p.strip_prefix('@') {
                Some(name) => SocketAddr::from_abstract_name(name.as_bytes()).ok()?,
                None => SocketAddr::from_pathname(p).ok()?,
            };
            Some((UnixDatagram::unbound().ok()?, addr))
        });
        Self { target, watchdog }
    }

    /// How often systemd expects `WATCHDOG=1`, when it does.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Sends one notification; failures are ignored (the manager may be gone at shutdown).
    pub fn send(&self, msg: &str) {
        if let Some((sock, addr)) = &self.target {
            let _ = sock.send_to_addr(msg.as_bytes(), addr);
        }
    }

    /// The service is up.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    /// The collection loop is alive.
    pub fn alive(&self) {
        if self.watchdog.is_some() {
            self.send("WATCHDOG=1");
        }
    }

    /// The service is stopping.
    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_env_is_parsed() {
        assert_eq!(
            watchdog_interval(Some("30000000"), None, 7),
            Some(Duration::from_secs(30))
        );
        assert_eq!(watchdog_interval(Some("30000000"), Some("8"), 7), None);
        assert_eq!(
            watchdog_interval(Some("1000"), Some("7"), 7),
            Some(Duration::from_millis(1))
        );
        assert_eq!(watchdog_interval(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval(Some("x"), None, 7), None);
        assert_eq!(watchdog_interval(None, None, 7), None);
    }

    #[test]
    fn messages_reach_the_socket() {
        let dir = std::env::temp_dir().join(format!("hvscope-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::new(path.to_str(), Some(Duration::from_secs(1)));
        n.ready("collecting");
        n.alive();
        let mut buf = [0u8; 256];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=collecting");
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
        Notifier::new(None, None).ready("nothing happens");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
