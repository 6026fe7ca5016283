//! `hvscope-aggregator`: command-line entry point.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use hvscope_aggregator::config::Config;

#[derive(Parser)]
#[command(
    name = "hvscope-aggregator",
    version,
    about = "hvscope central aggregator"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve gRPC ingest and the HTTP API.
    Serve {
        #[arg(long, default_value = "/etc/hvscope/aggregator.toml")]
        config: PathBuf,
    },
    /// Development certificates (production uses the operator's PKI).
    Certs {
        #[command(subcommand)]
        cmd: CertsCmd,
    },
}

#[derive(Subcommand)]
enum CertsCmd {
    /// Make a CA and a server certificate for localhost/127.0.0.1/::1.
    Init {
        #[arg(long)]
        out: PathBuf,
        /// Further DNS names or IP addresses for the server certificate.
        #[arg(long = "san")]
        sans: Vec<String>,
    },
    /// Re-issue the server certificate from an existing CA (renewal).
    Server {
        #[arg(long)]
        ca_dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long = "san")]
        sans: Vec<String>,
        #[arg(long, default_value_t = 825)]
        days: i64,
    },
    /// Make a node's client certificate (its name is the DNS SAN and CN).
    Node {
        #[arg(long)]
        ca_dir: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 30)]
        days: i64,
    },
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
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

fn serve(config: PathBuf) -> anyhow::Result<()> {
    let config = Config::load(&config)?;
    runtime()?.block_on(async move {
        let running = hvscope_aggregator::start(config, shutdown_on_signal()).await?;
        // systemd (Type=notify): ready once both ports listen; the watchdog is fed by the
        // runtime, so a wedged runtime gets the service restarted.
        let notifier = hvscope_common::notify::Notifier::from_env();
        notifier.ready("serving");
        if let Some(w) = notifier.watchdog() {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval((w / 3).max(Duration::from_millis(100)));
                loop {
                    tick.tick().await;
                    notifier.alive();
                }
            });
        }
        running.wait().await;
        Ok(())
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging("info");
    let result = match cli.cmd {
        Cmd::Serve { config } => serve(config),
        Cmd::Certs {
            cmd: CertsCmd::Init { out, sans },
        } => hvscope_aggregator::certs::init(&out, &sans).map_err(Into::into),
        Cmd::Certs {
            cmd:
                CertsCmd::Server {
                    ca_dir,
                    out,
                    sans,
                    days,
                },
        } => hvscope_aggregator::certs::server(&ca_dir, &out, &sans, days).map_err(Into::into),
        Cmd::Certs {
            cmd:
                CertsCmd::Node {
                    ca_dir,
                    name,
                    out,
                    days,
                },
        } => hvscope_aggregator::certs::node(&ca_dir, &name, &out, days).map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hvscope-aggregator: {e:#}");
            ExitCode::FAILURE
        }
    }
}
