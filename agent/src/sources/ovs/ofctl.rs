//! Runs `ovs-ofctl dump-flows` with a deadline and streams its stdout into the flow parser.
//! A watchdog thread owns the child: past the deadline it kills it (the pipe then ends), so a
//! hung `ovs-ofctl` or `ovs-vswitchd` costs at most the timeout.

use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hvscope_parse::ovs::flow::Flow;
use hvscope_parse::ovs::stream::{FlowStream, StreamError, StreamStats};

/// How `ovs-ofctl` is run.
#[derive(Debug, Clone)]
pub struct Ofctl {
    pub path: PathBuf,
    /// `-O` value (`OpenFlow10,OpenFlow13`); `None` for the tool's default.
    pub protocols: Option<String>,
    pub timeout: Duration,
}

/// The flows of a bridge could not be dumped.
#[derive(Debug, thiserror::Error)]
pub enum OfctlError {
    #[error("{path}: {source}")]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("ovs-ofctl dump-flows {target}: no complete answer within {ms} ms (killed)")]
    Timeout { target: String, ms: u64 },
    #[error("ovs-ofctl dump-flows {target}: {status}: {stderr}")]
    Failed {
        target: String,
        status: ExitStatus,
        stderr: String,
    },
    #[error("ovs-ofctl dump-flows {target}: {source}")]
    Read {
        target: String,
        #[source]
        source: StreamError,
    },
}

struct Outcome {
    status: Option<ExitStatus>,
    timed_out: bool,
    stderr: String,
}

impl Ofctl {
    /// Dumps the flows of `target` (a bridge name or `unix:…/BRIDGE.mgmt`), calling `visit`
    /// with each flow or bad line as it arrives. Flows seen before a failure were visited;
    /// the caller discards them on `Err`.
    pub fn dump_flows(
        &self,
        target: &str,
        visit: &mut dyn FnMut(Result<Flow<'_>, StreamError>),
    ) -> Result<StreamStats, OfctlError> {
        let mut cmd = Command::new(&self.path);
        let secs = self.timeout.as_secs().max(1);
        cmd.arg(format!("--timeout={secs}"));
        if let Some(p) = &self.protocols {
            cmd.arg("-O").arg(p);
        }
        cmd.arg("dump-flows").arg(target);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| OfctlError::Spawn {
            path: self.path.clone(),
            source,
        })?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let done = Arc::new(AtomicBool::new(false));
        let deadline = Instant::now() + self.timeout;
        let watchdog = {
            let done = done.clone();
            std::thread::spawn(move || {
                let mut timed_out = false;
                let status = loop {
                    match child.try_wait() {
                        Ok(Some(s)) => break Some(s),
                        Ok(None) if Instant::now() >= deadline => {
                            timed_out = true;
                            let _ = child.kill();
                            break child.wait().ok();
                        }
                        Ok(None) => {
                            let step = if done.load(Ordering::Relaxed) { 1 } else { 10 };
                            std::thread::sleep(Duration::from_millis(step));
                        }
                        Err(_) => break None,
                    }
                };
                let mut err = String::new();
                if let Some(e) = stderr {
                    let _ = e.take(4096).read_to_string(&mut err);
                }
                Outcome {
                    status,
                    timed_out,
                    stderr: err,
                }
            })
        };
        let mut read_error = None;
        let mut stats = StreamStats::default();
        if let Some(out) = stdout {
            let mut flows = FlowStream::new(BufReader::with_capacity(64 << 10, out));
            while let Some(r) = flows.next_flow() {
                match r {
                    Err(e) if !e.is_line_error() => read_error = Some(e),
                    r => visit(r),
                }
            }
            stats = flows.stats();
        }
        done.store(true, Ordering::Relaxed);
        let outcome = watchdog.join().unwrap_or(Outcome {
            status: None,
            timed_out: false,
            stderr: "watchdog thread panicked".into(),
        });
        let target = target.to_owned();
        if outcome.timed_out {
            return Err(OfctlError::Timeout {
                target,
                ms: self.timeout.as_millis() as u64,
            });
        }
        if let Some(source) = read_error {
            return Err(OfctlError::Read { target, source });
        }
        match outcome.status {
            Some(s) if s.success() => Ok(stats),
            Some(status) => Err(OfctlError::Failed {
                target,
                status,
                stderr: outcome
                    .stderr
                    .trim()
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned(),
            }),
            None => Err(OfctlError::Timeout {
                target,
                ms: self.timeout.as_millis() as u64,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in `ovs-ofctl` (a shell script) printing `body` then running `tail`.
    fn fake(tag: &str, body: &str) -> (PathBuf, PathBuf) {
        let d = std::env::temp_dir().join(format!("hvscope-ofctl-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("ovs-ofctl");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        (d, p)
    }

    fn run(path: PathBuf, ms: u64) -> (Result<StreamStats, OfctlError>, Vec<u64>, usize) {
        let o = Ofctl {
            path,
            protocols: Some("OpenFlow13".into()),
            timeout: Duration::from_millis(ms),
        };
        let (mut cookies, mut bad) = (vec![], 0);
        let r = o.dump_flows("br-int", &mut |f| match f {
            Ok(f) => cookies.push(f.cookie),
            Err(_) => bad += 1,
        });
        (r, cookies, bad)
    }

    #[test]
    fn streams_flows_and_reports_failures() {
        let (d, p) = fake(
            "ok",
            "[ \"$1\" = --timeout=1 ] && [ \"$3\" = OpenFlow13 ] && [ \"$5\" = br-int ] || exit 9\n\
             printf 'OFPST_FLOW reply (OF1.3) (xid=0x2):\\n cookie=0x5, table=0, priority=1 actions=drop\\nbad\\n'",
        );
        let (r, cookies, bad) = run(p, 900);
        assert_eq!(r.unwrap().headers, 1);
        assert_eq!((cookies, bad), (vec![5], 1));
        let (_, p) = fake(
            "fail",
            "echo 'ovs-ofctl: br-int is not a bridge or a socket' >&2; exit 1",
        );
        let e = run(p, 900).0.unwrap_err();
        assert!(e.to_string().contains("not a bridge"), "{e}");
        let e = run(d.join("missing"), 900).0.unwrap_err();
        assert!(matches!(e, OfctlError::Spawn { .. }), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_hung_ofctl_is_killed_at_the_deadline() {
        let (d, p) = fake("hang", "echo ' cookie=0x1, actions=drop'; exec sleep 30");
        let t = Instant::now();
        let (r, cookies, _) = run(p, 300);
        assert!(
            matches!(r, Err(OfctlError::Timeout { ms: 300, .. })),
            "{r:?}"
        );
        assert_eq!(cookies, vec![1]);
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
