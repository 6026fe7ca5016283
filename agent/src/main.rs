//! `hvscope-agent`: command-line entry point.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use hvscope_agent::config::Config;
use hvscope_agent::host_root::HostRoot;
use hvscope_agent::run::Agent;
use hvscope_agent::series::{SeriesBuf, text};
use hvscope_agent::snapshot::Snapshot;

#[derive(Parser)]
#[command(name = "hvscope-agent", version, about = "hvscope node agent")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum SnapshotFormat {
    Json,
    Prometheus,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the daemon: collect and stream to the aggregators.
    Run {
        /// TOML configuration file.
        #[arg(long, default_value = "/etc/hvscope/agent.toml")]
        config: PathBuf,
    },
    /// Collect once and print what the agent sees.
    Snapshot {
        /// Directory the host's filesystem is seen under.
        #[arg(long, default_value = "/")]
        host_root: PathBuf,
        #[arg(long, value_enum, default_value = "json")]
        format: SnapshotFormat,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

fn run(config_path: PathBuf) -> anyhow::Result<()> {
    let mut config = Config::load(&config_path)?;
    let root = HostRoot::new(&config.host_root);
    if let Ok(cmdline) = root.read_string("proc/cmdline") {
        config.merge_cmdline(&cmdline);
    }
    let agent = Agent::new(config)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            let _ = tx.send(true);
        });
        agent.run(rx).await;
    });
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

fn snapshot(root: PathBuf, format: SnapshotFormat) -> anyhow::Result<()> {
    let snap = Snapshot::collect(&HostRoot::new(root));
    match format {
        SnapshotFormat::Json => println!("{}", serde_json::to_string_pretty(&snap)?),
        SnapshotFormat::Prometheus => {
            let mut buf = SeriesBuf::default();
            snap.series(&mut buf);
            print!("{}", text::render(&buf));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.cmd {
        Cmd::Run { config } => run(config),
        Cmd::Snapshot { host_root, format } => snapshot(host_root, format),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hvscope-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}
