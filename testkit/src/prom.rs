//! A real Prometheus (Debian's `prometheus` 2.42 on PATH) started by hand for the tests, with a
//! temp dir and a free port, plus a small binary HTTP/1.1 POST client. Without the binary, tests
//! skip loudly; under CI (`CI=true`) they fail.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use crate::{Proc, TempDir, free_port, get_json, http_get, in_ci, wait_for};

/// A running Prometheus.
pub struct Prometheus {
    pub addr: SocketAddr,
    pub proc: Proc,
    pub dir: TempDir,
    bin: PathBuf,
    args: Vec<String>,
}

fn prometheus_bin() -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| PathBuf::from(d).join("prometheus"))
        .find(|p| p.is_file())
}

impl Prometheus {
    /// Starts Prometheus with `config` (YAML; `{self}` in it is replaced by its own address).
    /// `None` (after a loud message) when it cannot run outside CI; panics in CI.
    pub fn start(tag: &str, config: &str) -> Option<Self> {
        Self::start_with_flags(tag, config, &[])
    }

    /// [`Prometheus::start`] with extra command-line flags (`--web.enable-remote-write-receiver`).
    pub fn start_with_flags(tag: &str, config: &str, flags: &[&str]) -> Option<Self> {
        let Some(bin) = prometheus_bin() else {
            let msg = "prometheus is not installed (tests/run installs Debian's `prometheus`)";
            assert!(!in_ci(), "{msg}");
            eprintln!("SKIPPED: {msg}");
            return None;
        };
        let dir = TempDir::new(tag);
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let yml = dir.join("prometheus.yml");
        std::fs::write(&yml, config.replace("{self}", &addr.to_string())).expect("write yml");
        let data = dir.join("data");
        let mut args = vec![
            format!("--config.file={}", yml.display()),
            format!("--storage.tsdb.path={}", data.display()),
            format!("--web.listen-address={addr}"),
        ];
        args.extend(flags.iter().map(|f| (*f).to_owned()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let proc = Proc::spawn(&bin, &argv, &[], dir.join("prometheus.log"));
        let p = Self {
            addr,
            proc,
            dir,
            bin,
            args,
        };
        if !p.ready() {
            let msg = format!("prometheus did not become ready: {}", p.proc.log());
            assert!(!in_ci(), "{msg}");
            eprintln!("SKIPPED: {msg}");
            return None;
        }
        Some(p)
    }

    fn ready(&self) -> bool {
        let addr = self.addr;
        wait_for(Duration::from_secs(15), || {
            http_get(addr, "/-/ready").ok().filter(|r| r.0 == 200)
        })
        .is_some()
    }

    /// Kills it (SIGKILL; its data directory stays).
    pub fn stop(&mut self) {
        self.proc.kill();
    }

    /// Starts it again on the same port and data (after [`Prometheus::stop`]); panics when it
    /// does not become ready.
    pub fn restart(&mut self) {
        self.proc.kill();
        let argv: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let n = std::fs::read_dir(&self.dir.0)
            .map(|d| d.count())
            .unwrap_or(0);
        self.proc = Proc::spawn(
            &self.bin,
            &argv,
            &[],
            self.dir.join(&format!("prometheus-{n}.log")),
        );
        assert!(
            self.ready(),
            "prometheus did not come back: {}",
            self.proc.log()
        );
    }

    /// `GET /api/v1/<path>` as JSON; panics with the body on an error status.
    pub fn api(&self, path: &str) -> serde_json::Value {
        let v = get_json(self.addr, &format!("/api/v1/{path}"))
            .unwrap_or_else(|e| panic!("prometheus /api/v1/{path}: {e}\n{}", self.proc.log()));
        assert_eq!(v["status"], "success", "{v}");
        v["data"].clone()
    }
}

/// Percent-encodes a query parameter.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An HTTP answer: status, lower-cased headers, body.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `POST path` with `body` and extra header lines; reads the whole answer (chunked or not).
pub fn http_post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpReply, String> {
    http_request(addr, "POST", path, headers, body)
}

/// `method path` with `body` and extra header lines; reads the whole answer.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpReply, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    // The server may answer (413) before reading everything: a failed write is not fatal.
    let _ = s.write_all(body);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no header end in {} bytes", buf.len()))?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let raw = &buf[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked { dechunk(raw)? } else { raw.to_vec() };
    Ok(HttpReply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut s: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = s
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunk size line")?;
        let size = std::str::from_utf8(&s[..eol]).map_err(|e| e.to_string())?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| e.to_string())?;
        s = &s[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if s.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&s[..size]);
        s = &s[size + 2..];
    }
}
