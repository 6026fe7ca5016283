//! The client against a stand-in switch on a unix socket that replays the real capture
//! (`agent/tests/fixtures/ovs/openflow13_flow-stats_br-int.bin`): negotiation, an echo request
//! in the middle of the dump, replies split across reads; a switch that accepts and never
//! answers (deadline), one that hangs up mid-dump, and one that refuses the version.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::*;

const CAP13: &[u8] =
    include_bytes!("../../../../tests/fixtures/ovs/openflow13_flow-stats_br-int.bin");

pub(crate) struct Sock(pub PathBuf);

impl Drop for Sock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// How the stand-in switch behaves after the hello.
#[derive(Clone, Copy)]
pub(crate) enum Switch {
    /// Echo request first, then the capture in 1000-byte writes.
    Replay,
    /// Says hello, then nothing.
    Silent,
    /// Sends half of the capture (one reply message), then closes.
    HangUp,
    /// Allows only OpenFlow 1.5.
    Only15,
}

/// Serves one connection at `path` in a thread, as `how`.
pub(crate) fn switch(path: PathBuf, how: Switch) -> Sock {
    let _ = std::fs::remove_file(&path);
    let l = UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        let Ok((mut c, _)) = l.accept() else { return };
        let bitmap: u32 = if matches!(how, Switch::Only15) {
            1 << 6
        } else {
            0x7e
        };
        let mut hello = vec![6, 0, 0, 16, 0, 0, 0, 1, 0, 1, 0, 8];
        hello.extend_from_slice(&bitmap.to_be_bytes());
        let _ = c.write_all(&hello);
        let mut buf = [0u8; 256];
        // our hello (16 bytes) and flow-stats request (56)
        let mut got = 0;
        while got < 16 + 56 {
            match c.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
            if matches!(how, Switch::Only15) {
                break;
            }
        }
        match how {
            Switch::Silent => std::thread::sleep(Duration::from_secs(5)),
            Switch::Only15 => {
                let _ = c.write_all(&[6, 1, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0]); // HELLO_FAILED
            }
            Switch::HangUp => {
                let _ = c.write_all(&CAP13[..CAP13.len() / 2]);
            }
            Switch::Replay => {
                let _ = c.write_all(&[4, 2, 0, 8, 0, 0, 0, 77]);
                for chunk in CAP13.chunks(1000) {
                    let _ = c.write_all(chunk);
                }
                // the echo reply arrives among whatever else we read
                let mut got = vec![];
                c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                assert!(
                    got.windows(8).any(|w| w == [4, 3, 0, 8, 0, 0, 0, 77]),
                    "{got:?}"
                );
            }
        }
    });
    Sock(path)
}

pub(crate) fn tmp(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("hvscope-of-{tag}-{}.mgmt", std::process::id()))
}

fn client(ms: u64) -> OpenFlow {
    OpenFlow {
        timeout: Duration::from_millis(ms),
        ..OpenFlow::default()
    }
}

#[test]
fn dumps_the_capture_answering_echo() {
    let s = switch(tmp("replay"), Switch::Replay);
    let mut cookies = vec![];
    let st = client(2000)
        .dump_flows(&s.0, &mut |f| cookies.push(f.unwrap().cookie))
        .unwrap();
    assert_eq!((st.version, st.flows, st.echoes, st.unknown), (4, 37, 1, 0));
    assert_eq!(cookies.len(), 37);
    assert_eq!(
        cookies.iter().filter(|&&c| c == 0x5b21e0c4a9d3f176).count(),
        2
    );
}

#[test]
fn silent_closed_refusing_and_absent_switches() {
    let s = switch(tmp("silent"), Switch::Silent);
    let t = Instant::now();
    let e = client(300).dump_flows(&s.0, &mut |_| {}).unwrap_err();
    assert!(matches!(e, OpenFlowError::Timeout { ms: 300, .. }), "{e}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());

    let s = switch(tmp("hangup"), Switch::HangUp);
    // (the capture is one reply message, so half of it holds no whole flow)
    let e = client(2000).dump_flows(&s.0, &mut |_| {}).unwrap_err();
    assert!(matches!(e, OpenFlowError::Closed { .. }), "{e}");

    let s = switch(tmp("only15"), Switch::Only15);
    let e = client(2000).dump_flows(&s.0, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("no common OpenFlow version"), "{e}");

    let e = client(2000)
        .dump_flows(&tmp("absent"), &mut |_| {})
        .unwrap_err();
    assert!(matches!(e, OpenFlowError::Connect { .. }), "{e}");
}
