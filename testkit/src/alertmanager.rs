//! A real Alertmanager (Debian's `prometheus-alertmanager` 0.25, binary
//! `/usr/bin/prometheus-alertmanager`) started by hand with a config, and a webhook receiver
//! that records every notification it is sent. Without the binary, tests skip loudly; under CI
//! (`CI=true`) they fail.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::prom::http_post;
use crate::{Proc, TempDir, free_port, get_json, http_get, in_ci, wait_for};

/// A running Alertmanager.
pub struct Alertmanager {
    pub addr: SocketAddr,
    pub proc: Proc,
    pub dir: TempDir,
}

/// The binary: Debian names it `prometheus-alertmanager`, upstream `alertmanager`.
pub fn alertmanager_bin() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    ["prometheus-alertmanager", "alertmanager"]
        .iter()
        .flat_map(|n| dirs.iter().map(move |d| d.join(n)))
        .find(|p| p.is_file())
}

impl Alertmanager {
    /// Starts Alertmanager with `config` (YAML), clustering off. `None` (after a loud message)
    /// when it cannot run outside CI; panics in CI.
    pub fn start(tag: &str, config: &str) -> Option<Self> {
        let Some(bin) = alertmanager_bin() else {
            let msg = "alertmanager is not installed (tests/run installs Debian's \
                       `prometheus-alertmanager`)";
            assert!(!in_ci(), "{msg}");
            eprintln!("SKIPPED: {msg}");
            return None;
        };
        let dir = TempDir::new(tag);
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let yml = dir.join("alertmanager.yml");
        std::fs::write(&yml, config).expect("write alertmanager.yml");
        let args = [
            format!("--config.file={}", yml.display()),
            format!("--storage.path={}", dir.join("data").display()),
            format!("--web.listen-address={addr}"),
            "--cluster.listen-address=".to_owned(),
            "--log.level=debug".to_owned(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let proc = Proc::spawn(&bin, &args, &[], dir.join("alertmanager.log"));
        let am = Self { addr, proc, dir };
        let ready = wait_for(Duration::from_secs(15), || {
            http_get(addr, "/-/ready").ok().filter(|r| r.0 == 200)
        });
        if ready.is_none() {
            let msg = format!("alertmanager did not become ready: {}", am.proc.log());
            assert!(!in_ci(), "{msg}");
            eprintln!("SKIPPED: {msg}");
            return None;
        }
        Some(am)
    }

    /// `POST /api/v2/alerts` with a JSON array of alerts; panics on an error status.
    pub fn post_alerts(&self, alerts: &serde_json::Value) {
        let body = alerts.to_string();
        let r = http_post(
            self.addr,
            "/api/v2/alerts",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .unwrap_or_else(|e| panic!("post alerts: {e}"));
        assert_eq!(
            r.status,
            200,
            "post alerts: {}",
            String::from_utf8_lossy(&r.body)
        );
    }

    /// `GET /api/v2/alerts`: every active alert it holds, each with `status.inhibitedBy`.
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        let v = get_json(self.addr, "/api/v2/alerts")
            .unwrap_or_else(|e| panic!("alertmanager /api/v2/alerts: {e}\n{}", self.proc.log()));
        v.as_array().cloned().unwrap_or_default()
    }
}

/// One notification as the webhook received it.
#[derive(Debug, Clone)]
pub struct Notification {
    pub at: Instant,
    pub body: serde_json::Value,
}

impl Notification {
    /// The alerts of the notification with `status` (`firing`/`resolved`).
    pub fn alerts(&self, status: &str) -> Vec<&serde_json::Value> {
        self.body["alerts"]
            .as_array()
            .map(|a| a.iter().filter(|x| x["status"] == status).collect())
            .unwrap_or_default()
    }
}

/// An HTTP endpoint that answers 200 to every POST and keeps its JSON body.
pub struct Webhook {
    pub addr: SocketAddr,
    got: Arc<Mutex<Vec<Notification>>>,
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Vec<u8>> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut r = BufReader::new(stream);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; len.min(16 << 20)];
    r.read_exact(&mut body).ok()?;
    Some(body)
}

impl Webhook {
    /// Listens on a free loopback port.
    pub fn start() -> Self {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind webhook");
        let addr = l.local_addr().expect("webhook addr");
        let got: Arc<Mutex<Vec<Notification>>> = Arc::default();
        let sink = got.clone();
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                let Some(body) = read_request(&mut s) else {
                    continue;
                };
                let at = Instant::now();
                let body = serde_json::from_slice(&body)
                    .unwrap_or_else(|_| serde_json::Value::String(format!("{body:?}")));
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Notification { at, body });
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        Self { addr, got }
    }

    /// The URL to put in a `webhook_configs` entry.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Every notification so far.
    pub fn all(&self) -> Vec<Notification> {
        self.got.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
