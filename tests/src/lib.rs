//! Support for the end-to-end tests in `tests/tests/` that needs hvscope's own crates: a test
//! PKI with an aggregator ([`Cluster`]), synthetic series fed through the agent's transport or
//! to Prometheus ([`feed`]), and remote-read requests and answers ([`remote_read`]). Everything
//! else (binaries, temp dirs, processes, HTTP, libvirtd/OVS/Prometheus) is in `hvscope-testkit`.
//! Tests run the real binaries: `tests/run` builds them first (`cargo build --workspace --bins`).
#![forbid(unsafe_code)]

pub mod feed;
pub mod fleet;
pub mod https;
pub mod receivers;
pub mod remote_read;
pub mod store_fleet;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hvscope_testkit::{
    Proc, TempDir, bin, free_port, get_json, http_get, path_str, run_ok, wait_for,
};

/// Name of the client certificate the tests' HTTPS client presents.
pub const TEST_CLIENT: &str = "test-client";

/// A test PKI and an aggregator with its config, as the binaries make and run them.
pub struct Cluster {
    pub dir: TempDir,
    pub grpc_port: u16,
    pub http: SocketAddr,
    pub aggregator: Option<Proc>,
}

impl Cluster {
    /// Makes a CA, a server certificate and the aggregator's config (not started).
    pub fn new(tag: &str) -> Self {
        Self::with_sans(tag, &[])
    }

    /// Like [`Cluster::new`], the server certificate also naming `sans`.
    pub fn with_sans(tag: &str, sans: &[&str]) -> Self {
        let dir = TempDir::new(tag);
        let certs = dir.join("certs");
        let mut args = vec!["certs", "init", "--out", path_str(&certs)];
        for s in sans {
            args.extend(["--san", s]);
        }
        run_ok(&bin("hvscope-aggregator"), &args);
        let grpc_port = free_port();
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let cfg = format!(
            "[grpc]\nlisten = \"127.0.0.1:{grpc_port}\"\n[http]\nlisten = \"{http}\"\n\
             [tls]\nca = \"{c}/ca.pem\"\ncert = \"{c}/aggregator.pem\"\nkey = \"{c}/aggregator-key.pem\"\n",
            c = certs.display()
        );
        std::fs::write(dir.join("aggregator.toml"), cfg).expect("write config");
        Self {
            dir,
            grpc_port,
            http,
            aggregator: None,
        }
    }

    /// The certificate directory.
    pub fn certs(&self) -> PathBuf {
        self.dir.join("certs")
    }

    /// Adds `keys` (TOML lines) to the `[http]` section of the aggregator's config.
    pub fn http_keys(&self, keys: &str) {
        let path = self.dir.join("aggregator.toml");
        let text = std::fs::read_to_string(&path).expect("read config");
        let listen = format!("[http]\nlisten = \"{}\"\n", self.http);
        assert!(text.contains(&listen), "{text}");
        let text = text.replacen(&listen, &format!("{listen}{keys}\n"), 1);
        std::fs::write(&path, text).expect("write config");
    }

    /// Appends `text` (whole sections) to the aggregator's config.
    pub fn config_sections(&self, text: &str) {
        let path = self.dir.join("aggregator.toml");
        let mut old = std::fs::read_to_string(&path).expect("read config");
        old.push_str(text);
        std::fs::write(&path, old).expect("write config");
    }

    /// Serves the HTTP port over TLS with the aggregator's own certificate (it names
    /// `localhost` and `127.0.0.1`); with `client_ca`, client certificates from this CA are
    /// required.
    pub fn enable_https(&self, client_ca: bool) {
        let c = self.certs();
        let mut keys = format!(
            "[http.tls]\ncert = \"{c}/aggregator.pem\"\nkey = \"{c}/aggregator-key.pem\"\n",
            c = c.display()
        );
        if client_ca {
            keys.push_str(&format!("client_ca = \"{}/ca.pem\"\n", c.display()));
            // The certificate the tests' own HTTPS client presents.
            self.node_cert(TEST_CLIENT, 30);
        }
        // [http.tls] is a table: it must close the [http] keys, so it goes right before [tls].
        let path = self.dir.join("aggregator.toml");
        let text = std::fs::read_to_string(&path).expect("read config");
        let text = text.replacen("[tls]\n", &format!("{keys}[tls]\n"), 1);
        std::fs::write(&path, text).expect("write config");
    }

    /// The tests' HTTPS client certificate and key (made by `enable_https(true)`).
    pub fn test_client(&self) -> (PathBuf, PathBuf) {
        let c = self.certs();
        (
            c.join(format!("{TEST_CLIENT}.pem")),
            c.join(format!("{TEST_CLIENT}-key.pem")),
        )
    }

    fn https(&self) -> bool {
        std::fs::read_to_string(self.dir.join("aggregator.toml"))
            .is_ok_and(|t| t.contains("[http.tls]"))
    }

    /// Starts (or restarts) the aggregator and waits until its HTTP port answers.
    pub fn start_aggregator(&mut self) {
        self.start_aggregator_within(Duration::from_secs(10));
    }

    /// [`Cluster::start_aggregator`], waiting up to `timeout` (a long WAL replay).
    pub fn start_aggregator_within(&mut self, timeout: Duration) {
        let log = self.dir.join(&format!(
            "aggregator-{}.log",
            std::fs::read_dir(&self.dir.0)
                .map(|d| d.count())
                .unwrap_or(0)
        ));
        let cfg = self.dir.join("aggregator.toml");
        let p = Proc::spawn(
            &bin("hvscope-aggregator"),
            &["serve", "--config", path_str(&cfg)],
            &[("RUST_LOG", "info,hvscope_aggregator=debug")],
            log,
        );
        self.aggregator = Some(p);
        let http = self.http;
        let https = self.https();
        let ca = self.certs().join("ca.pem");
        let (cert, key) = self.test_client();
        let client = cert.exists().then_some((cert.as_path(), key.as_path()));
        wait_for(timeout, || {
            if https {
                https::https_get(http, "/-/healthy", &ca, client, &[]).ok()
            } else {
                http_get(http, "/-/healthy").ok()
            }
        })
        .unwrap_or_else(|| panic!("aggregator did not come up: {}", self.aggregator_log()));
    }

    /// The current aggregator's log.
    pub fn aggregator_log(&self) -> String {
        self.aggregator.as_ref().map(Proc::log).unwrap_or_default()
    }

    /// Makes a client certificate for `name` in the certificate directory, signed by this CA.
    pub fn node_cert(&self, name: &str, days: u32) {
        let certs = self.certs();
        run_ok(
            &bin("hvscope-aggregator"),
            &[
                "certs",
                "node",
                "--ca-dir",
                path_str(&certs),
                "--name",
                name,
                "--out",
                path_str(&certs),
                "--days",
                &days.to_string(),
            ],
        );
    }

    /// Writes an agent config streaming to this aggregator with `name`'s certificate, plus
    /// `extra` TOML lines (top-level keys; sections after).
    pub fn agent_config(
        &self,
        file: &str,
        cert_name: &str,
        extra_top: &str,
        extra_sections: &str,
    ) -> PathBuf {
        let c = self.certs();
        let text = format!(
            "aggregators = [\"127.0.0.1:{}\"]\ninterval_secs = 1\nmax_backoff_secs = 1\n{extra_top}\n\
             [tls]\nca = \"{c}/ca.pem\"\ncert = \"{c}/{cert_name}.pem\"\nkey = \"{c}/{cert_name}-key.pem\"\n\
             server_name = \"localhost\"\n{extra_sections}\n",
            self.grpc_port,
            c = c.display()
        );
        let p = self.dir.join(file);
        std::fs::write(&p, text).expect("write agent config");
        p
    }

    /// Starts an agent with `config`.
    pub fn start_agent(&self, config: &Path, log: &str) -> Proc {
        Proc::spawn(
            &bin("hvscope-agent"),
            &["run", "--config", path_str(config)],
            &[("RUST_LOG", "info,hvscope_agent=debug")],
            self.dir.join(log),
        )
    }

    /// `/api/v1/nodes` entry of `node`, if present.
    pub fn node(&self, node: &str, series: bool) -> Option<serde_json::Value> {
        let path = if series {
            "/api/v1/nodes?series=true"
        } else {
            "/api/v1/nodes"
        };
        let v = get_json(self.http, path).ok()?;
        v["nodes"]
            .as_array()?
            .iter()
            .find(|n| n["node"] == node)
            .cloned()
    }

    /// The aggregator's `/metrics` text.
    pub fn metrics(&self) -> String {
        http_get(self.http, "/metrics")
            .map(|r| r.1)
            .unwrap_or_default()
    }
}
