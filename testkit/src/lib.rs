//! hvscope-testkit: helpers for hvscope's tests and benchmarks that depend on none of hvscope's
//! crates, so every crate may dev-depend on it: locating the workspace's binaries (relative to
//! the running test executable, `target/<profile>/deps/…`), temporary directories and fixture
//! trees ([`TestTree`]), child processes with captured logs, a tiny HTTP client, waiting, ELF
//! facts, and the real peers the end-to-end tests start by hand: a headless Chromium
//! ([`browser`]), libvirtd ([`libvirt`]), Open vSwitch ([`ovs`]), Prometheus ([`prom`]) and
//! Alertmanager with a webhook receiver ([`alertmanager`]); the shipped monitoring as tests use
//! it: rules with every `for:` shortened ([`rules`]) and dashboard queries with their variables
//! substituted ([`grafana`]).
//!
//! **Fails** by panicking with the reason (a test helper): a missing binary names the build
//! command; a peer that cannot start here returns `None`/`Err` with a loud message outside CI
//! and panics under CI (`CI=true`, see [`in_ci`]).
#![forbid(unsafe_code)]

pub mod alertmanager;
pub mod browser;
pub mod grafana;
pub mod libvirt;
pub mod ovs;
pub mod prom;
pub mod rules;
mod tree;
pub mod vm;

pub use tree::{TestTree, copy_dir};

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace's `target/<profile>` directory (the test binary lives in its `deps/`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("test executable is in target/<profile>/deps")
        .to_path_buf()
}

/// Path of a workspace binary, built beforehand.
pub fn bin(name: &str) -> PathBuf {
    let p = target_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (tests/run does)",
        p.display()
    );
    p
}

/// True when running under CI (`CI=true`): a test whose real component cannot start fails
/// instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The first of `names` found as an executable file in a `PATH` directory.
pub fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    names
        .iter()
        .find_map(|n| dirs.iter().map(|d| d.join(n)).find(|p| p.is_file()))
}

/// A real tool the tests need (the first of `names` on `PATH`; `package` is the Debian package
/// `tests/run` installs it from). `None` after a loud message when it is missing outside CI;
/// panics under CI.
pub fn tool(names: &[&str], package: &str) -> Option<PathBuf> {
    let found = which(names);
    if found.is_none() {
        let msg = format!(
            "{} is not installed (tests/run installs Debian's `{package}`)",
            names[0]
        );
        assert!(!in_ci(), "{msg}");
        eprintln!("SKIPPED: {msg}");
    }
    found
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory named after `tag`.
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("hvscope-e2e-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        Self(p)
    }

    /// A path inside.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process whose stderr and stdout go to a log file; killed (SIGKILL) on drop.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `bin` with `args`, extra `env`, logging to `log`.
    pub fn spawn(bin: &Path, args: &[&str], env: &[(&str, &str)], log: PathBuf) -> Self {
        let f = std::fs::File::create(&log).expect("create log");
        let f2 = f.try_clone().expect("clone log fd");
        let mut cmd = Command::new(bin);
        cmd.args(args).stdin(Stdio::null()).stdout(f).stderr(f2);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        Self { child, log }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `kB` field of `/proc/<pid>/status` (`pid` a number or `"self"`; `key` with its colon, e.g.
/// `"VmRSS:"`) in KiB, 0 when unreadable.
pub fn status_kib(pid: &str, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| {
            l.strip_prefix(key)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// A currently free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// `GET path` on `addr` with HTTP/1.1; returns (status, body). Errors are `Err(String)`.
pub fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no header end")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(len.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// `GET path` as JSON.
pub fn get_json(addr: SocketAddr, path: &str) -> Result<serde_json::Value, String> {
    let (status, body) = http_get(addr, path)?;
    if status != 200 {
        return Err(format!("status {status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))
}

/// Polls `f` every 100 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of a sample line `name{labels} value` (or `name value`) in a text exposition.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// A path as `&str` (test paths are UTF-8).
pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs a command to completion and asserts success.
pub fn run_ok(bin: &Path, args: &[&str]) -> String {
    let out = Command::new(bin).args(args).output().expect("run command");
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The static musl release build of the agent (built by `tests/run`).
pub fn musl_agent() -> PathBuf {
    target_dir()
        .parent()
        .expect("target dir")
        .join("x86_64-unknown-linux-musl/release/hvscope-agent")
}

fn u16le(b: &[u8], o: usize) -> u64 {
    u16::from_le_bytes([b[o], b[o + 1]]) as u64
}
fn u32le(b: &[u8], o: usize) -> u64 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as u64
}
fn u64le(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

/// (has PT_INTERP, number of DT_NEEDED entries) of a 64-bit little-endian ELF file.
pub fn elf_dynamic_facts(b: &[u8]) -> (bool, usize) {
    assert_eq!(&b[..4], b"\x7fELF", "not ELF");
    assert_eq!(b[4], 2, "not 64-bit");
    let phoff = u64le(b, 0x20) as usize;
    let phentsize = u16le(b, 0x36) as usize;
    let phnum = u16le(b, 0x38) as usize;
    let mut interp = false;
    let mut needed = 0;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let p_type = u32le(b, ph);
        if p_type == 3 {
            interp = true;
        }
        if p_type == 2 {
            let off = u64le(b, ph + 8) as usize;
            let size = u64le(b, ph + 32) as usize;
            for e in (off..off + size).step_by(16) {
                match u64le(b, e) {
                    0 => break,
                    1 => needed += 1,
                    _ => {}
                }
            }
        }
    }
    (interp, needed)
}

/// The repository's top directory.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit/ is inside the repository")
        .to_path_buf()
}

/// Debian's cloud kernel (`/boot/vmlinuz-*cloud-amd64`, newest), if installed: the guest kernel
/// of the QEMU boot tests.
pub fn cloud_kernel() -> Option<PathBuf> {
    let mut k: Vec<PathBuf> = std::fs::read_dir("/boot")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.to_str()
                .is_some_and(|s| s.contains("vmlinuz-") && s.ends_with("cloud-amd64"))
        })
        .collect();
    k.sort();
    k.pop()
}
