//! `hvscope-demo`: the whole pipeline on one machine with nothing prepared. Makes a throw-away
//! CA and certificates in a temporary directory, starts an aggregator on loopback and two agents
//! (the real agent code, in-process): one reading this machine, one reading a bundled sample
//! hypervisor (real captures with a pinning drift and a failed iSCSI session, [`sample`]). It
//! prints how to look at it (the fleet page, the findings API, Prometheus remote-read and a
//! ready `prometheus.yml`), then every finding as it opens or clears and a status line per node.
//!
//! Its own crate so that the aggregator never depends on the agent: this is the one place that
//! links both. **Fails** (exit status 1, the reason on stderr) when the certificates cannot be
//! written, a loopback port cannot be bound, or the agent's configuration is refused; stops on
//! Ctrl-C or SIGTERM, or after `--duration-secs`.
#![forbid(unsafe_code)]

mod demo;
mod sample;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "hvscope-demo",
    version,
    about = "Run the aggregator and two agents (this machine, a sample hypervisor) with throw-away certificates and show what they find"
)]
struct Cli {
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    duration_secs: Option<u64>,
    /// Serve the HTTP port (page, JSON, remote-read) over TLS with the throw-away certificate.
    #[arg(long)]
    https: bool,
}

/// A watch channel that turns true on SIGTERM or SIGINT.
fn shutdown_on_signal() -> tokio::sync::watch::Receiver<bool> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            let _ = tx.send(true);
        } else {
            std::future::pending::<()>().await;
        }
    });
    rx
}

fn run(duration_secs: Option<u64>, https: bool) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        demo::run(
            duration_secs.map(Duration::from_secs),
            https,
            shutdown_on_signal(),
        )
        .await
        .context("demo")
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints its own summary; keep the log to warnings unless RUST_LOG says.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    match run(cli.duration_secs, cli.https) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hvscope-demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}
