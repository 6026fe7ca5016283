//! `hvscope-agent`: command-line entry point.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use hvscope_agent::checks::{self, Finding};
use hvscope_agent::config::Config;
use hvscope_agent::io::HostRoot;
use hvscope_agent::run::Agent;
use hvscope_agent::series::{SeriesBuf, text};
use hvscope_agent::snapshot::Snapshot;
use hvscope_common::config::ConfigError;

/// mimalloc, not the C library's allocator: the shipped agent is a static musl binary, and
/// musl's allocator (mallocng) returns freed memory to the kernel eagerly, so a collection's
/// buffers are unmapped and faulted in again every interval (`tests/benches/outside.rs`
/// measures the daemon with each). The same allocator in the glibc build keeps the two alike.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        /// At boot the provisioning system may still be placing the configuration: wait up to
        /// this many seconds for the file to exist and name an aggregator (file or kernel
        /// command line) before giving up. 0: fail at once.
        #[arg(long, default_value_t = 0)]
        wait_for_config_secs: u64,
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

/// The configuration file plus the kernel command line, validated.
fn load_config(path: &std::path::Path) -> Result<Config, ConfigError> {
    let mut config = Config::load(path)?;
    let root = HostRoot::new(&config.host_root);
    if let Ok(cmdline) = root.read_string("proc/cmdline") {
        config.merge_cmdline(&cmdline);
    }
    config.validate()?;
    Ok(config)
}

/// Loads the configuration, waiting (bounded, logged once a minute) while the file is missing
/// or names no aggregator: what a node looks like before provisioning has finished.
fn load_config_waiting(path: &std::path::Path, wait: Duration) -> Result<Config, ConfigError> {
    let deadline = std::time::Instant::now() + wait;
    let mut last_log: Option<std::time::Instant> = None;
    loop {
        match load_config(path) {
            Ok(c) => return Ok(c),
            Err(e) if ConfigError::may_appear_later(&e) && std::time::Instant::now() < deadline => {
                if last_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                    tracing::warn!(error = %e, wait_secs = wait.as_secs(), "waiting for configuration");
                    last_log = Some(std::time::Instant::now());
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => return Err(e),
        }
    }
}

fn run(config_path: PathBuf, wait_for_config_secs: u64) -> anyhow::Result<()> {
    let config = load_config_waiting(&config_path, Duration::from_secs(wait_for_config_secs))?;
    raise_open_file_limit();
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
        // A task, not the root future: a task woken on the runtime's own thread (by the timers,
        // the sockets) is queued there, while a wake of the root future goes through the
        // driver's eventfd, one write and one extra epoll return per wakeup.
        // A panic in it ends the process as before (systemd restarts the agent).
        if let Err(e) = tokio::spawn(agent.run(rx)).await
            && e.is_panic()
        {
            std::panic::resume_unwind(e.into_panic());
        }
    });
    Ok(())
}

/// Raises the soft open-file limit to the hard one (the agent uses no `select()`): the iSCSI
/// source keeps up to half the soft limit of sysfs attribute files open for `pread`, and
/// systemd's default soft limit of 1024 would leave a large node reading most of them by path.
fn raise_open_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(error) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!(%error, soft, hard, "could not raise the open-file limit");
            }
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "could not read the open-file limit"),
    }
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
    config.host.validate().map_err(anyhow::Error::msg)?;
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
            checks::series(&findings, &mut buf);
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
        Cmd::Run {
            config,
            wait_for_config_secs,
        } => run(config, wait_for_config_secs),
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
