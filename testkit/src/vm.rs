//! A real VictoriaMetrics (Debian's `victoria-metrics`, single-node) started by hand for the
//! tests, with a temp data dir and a free port. It takes Prometheus remote-write at
//! `/api/v1/write` and answers PromQL (MetricsQL) at `/api/v1/query` and raw samples at
//! `/api/v1/export`. Without the binary, tests skip loudly; under CI (`CI=true`) they fail.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::{Proc, TempDir, free_port, http_get, in_ci, wait_for};

/// A running VictoriaMetrics.
pub struct VictoriaMetrics {
    pub addr: SocketAddr,
    pub proc: Proc,
    pub dir: TempDir,
}

fn vm_bin() -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| PathBuf::from(d).join("victoria-metrics"))
        .find(|p| p.is_file())
}

impl VictoriaMetrics {
    /// Starts it with `flags` added (e.g. `-dedup.minScrapeInterval=1ms`); queries see fresh
    /// samples at once (`-search.latencyOffset=0s`). `None` (after a loud message) when it
    /// cannot run outside CI; panics in CI.
    pub fn start(tag: &str, flags: &[&str]) -> Option<Self> {
        let Some(bin) = vm_bin() else {
            let msg = "victoria-metrics is not installed (tests/run installs Debian's `victoria-metrics`)";
            assert!(!in_ci(), "{msg}");
            eprintln!("SKIPPED: {msg}");
            return None;
        };
        let dir = TempDir::new(tag);
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let mut args = vec![
            format!("-storageDataPath={}", dir.join("data").display()),
            format!("-httpListenAddr={addr}"),
            "-retentionPeriod=100y".to_owned(),
            "-search.latencyOffset=0s".to_owned(),
            "-search.disableCache".to_owned(),
        ];
        args.extend(flags.iter().map(|f| (*f).to_owned()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let proc = Proc::spawn(&bin, &argv, &[], dir.join("victoria-metrics.log"));
        let v = Self { addr, proc, dir };
        let ready = wait_for(Duration::from_secs(15), || {
            http_get(addr, "/health").ok().filter(|r| r.0 == 200)
        });
        if ready.is_none() {
            let msg = format!("victoria-metrics did not become ready: {}", v.proc.log());
            assert!(!in_ci(), "{msg}");
            eprintln!("SKIPPED: {msg}");
            return None;
        }
        Some(v)
    }

    /// Makes what was ingested searchable now.
    pub fn flush(&self) {
        let _ = http_get(self.addr, "/internal/force_flush");
    }
}
