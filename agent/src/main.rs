//! `hvscope-agent`: command-line entry point.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use hvscope_agent::checks::{self, Finding};
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

#[derive(Clone, Copy, ValueEnum)]
enum CheckFormat {
    Text,
    Json,
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
        /// Configuration (thresholds, rules); its host_root is overridden by --host-root.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Collect once and print the findings; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    Check {
        #[arg(long, default_value = "/")]
        host_root: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: CheckFormat,
        #[arg(long)]
        config: Option<PathBuf>,
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

/// The configuration for one-shot commands: the file if given, else defaults.
fn oneshot_config(path: Option<PathBuf>) -> anyhow::Result<Config> {
    Ok(match path {
        Some(p) => Config::load(&p)?,
        None => Config::default(),
    })
}

fn collect_and_check(
    root: PathBuf,
    config: Option<PathBuf>,
) -> anyhow::Result<(Snapshot, Vec<Finding>)> {
    let config = oneshot_config(config)?;
    let snap = Snapshot::collect_with(&HostRoot::new(root), &config);
    let findings = checks::run_all(&checks::configured(&config), &snap);
    Ok((snap, findings))
}

fn snapshot(root: PathBuf, format: SnapshotFormat, config: Option<PathBuf>) -> anyhow::Result<()> {
    let (snap, findings) = collect_and_check(root, config)?;
    match format {
        SnapshotFormat::Json => {
            let mut v = serde_json::to_value(&snap)?;
            v["findings"] = serde_json::to_value(&findings)?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        SnapshotFormat::Prometheus => {
            let mut buf = SeriesBuf::default();
            snap.series(&mut buf);
            print!("{}", text::render(&buf));
        }
    }
    Ok(())
}

fn check(root: PathBuf, format: CheckFormat, config: Option<PathBuf>) -> anyhow::Result<u8> {
    let (_, findings) = collect_and_check(root, config)?;
    match format {
        CheckFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "findings": findings }))?
        ),
        CheckFormat::Text => {
            if findings.is_empty() {
                println!("OK       no findings");
            }
            for f in &findings {
                println!("{}", f.text_line());
            }
        }
    }
    Ok(checks::exit_code(&findings))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.cmd {
        Cmd::Run { config } => run(config),
        Cmd::Snapshot {
            host_root,
            format,
            config,
        } => snapshot(host_root, format, config),
        Cmd::Check {
            host_root,
            format,
            config,
        } => match check(host_root, format, config) {
            Ok(code) => return ExitCode::from(code),
            Err(e) => {
                eprintln!("hvscope-agent: {e:#}");
                return ExitCode::from(3);
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hvscope-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}
