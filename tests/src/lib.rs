//! Support for the end-to-end tests in `tests/tests/` that needs hvscope's own crates: a test
//! PKI with an aggregator ([`Cluster`]), synthetic series fed through the agent's transport or
//! to Prometheus ([`feed`]), and remote-read requests and answers ([`remote_read`]). Everything
//! else (binaries, temp dirs, processes, HTTP, libvirtd/OVS/Prometheus) is in `hvscope-testkit`.
//! Tests run the real binaries: `tests/run` builds them first (`cargo build --workspace --bins`).
#![forbid(unsafe_code)]

pub mod feed;
pub mod fleet;
pub mod remote_read;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hvscope_testkit::{
    Proc, TempDir, bin, free_port, get_json, http_get, path_str, run_ok, wait_for,
};

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

    /// Starts (or restarts) the aggregator and waits until its HTTP port answers.
    pub fn start_aggregator(&mut self) {
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
        wait_for(Duration::from_secs(10), || {
            http_get(http, "/-/healthy").ok()
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
