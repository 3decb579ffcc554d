//! `safeport-node`: the node daemon's command line.
//!
//! Parses arguments, loads the configuration, sets up logging and runs the node (or, with
//! `demo`, a local demo federation) until SIGINT or SIGTERM. Every failure ends the process
//! with a non-zero status and one `error:` line on stderr.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use safeport_node::ErrorChain;
use safeport_node::config::{LogFormat, LogSection, NodeConfig};

/// Many small, short-lived allocations per synced record: mimalloc serves them faster than
/// glibc (measured in the sync benchmark, BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Safeport node: stores, shares and serves records of a federation of hotlines and police.
#[derive(Debug, Parser)]
#[command(name = "safeport-node", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the node until it receives SIGINT (Ctrl-C) or SIGTERM.
    Run {
        /// Configuration file (TOML). Unknown keys are an error. Without this option the node
        /// runs with built-in defaults: data in ./safeport-data and a local development
        /// federation, which is unsuitable for real data. See deploy/node.example.toml for every option.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Run a complete demo federation on loopback (INTERPOL, the NL and DE hotlines, the NL
    /// police, test websites, seeded casework; synthetic data only) until SIGINT or SIGTERM.
    /// Prints each node's portal address with demo logins.
    Demo {
        /// Directory for the demo's data; reused on the next start.
        #[arg(long, value_name = "DIR", default_value = "safeport-demo")]
        dir: PathBuf,
        /// Start over: delete the demo data in DIR first.
        #[arg(long)]
        fresh: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line, whole cause chain, no backtrace.
            eprintln!("safeport-node: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<()> {
    let config = match cli.command {
        Command::Run { config } => config,
        Command::Demo { dir, fresh } => return demo(dir, fresh),
    };
    let (config, from_file) = match config {
        Some(path) => (NodeConfig::load(&path).map_err(chain)?, true),
        None => (NodeConfig::embedded_default(), false),
    };
    init_logging(&config.log)?;
    if !from_file {
        tracing::warn!(
            data_dir = %config.node.data_dir.display(),
            "no --config given: using built-in defaults and the development federation"
        );
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        // Handlers are installed before startup so a signal during startup is not lost.
        let shutdown = shutdown_signal().context("cannot install signal handlers")?;
        safeport_node::run(config, shutdown).await.map_err(chain)
    })
}

/// `safeport-node demo`: starts the demo federation, prints where everything is, and runs
/// until SIGINT or SIGTERM (also during setup, which then stops at once; the next start
/// begins again because seeding did not finish).
fn demo(dir: PathBuf, fresh: bool) -> anyhow::Result<()> {
    // Four nodes log into one terminal: warnings and the demo's own progress by default.
    let filter =
        std::env::var("RUST_LOG").unwrap_or_else(|_| "warn,safeport_node::demo=info".to_owned());
    init_logging(&LogSection {
        format: LogFormat::Text,
        filter,
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let shutdown = shutdown_signal().context("cannot install signal handlers")?;
        tokio::pin!(shutdown);
        let options = safeport_node::demo::DemoOptions { dir, fresh };
        let demo = tokio::select! {
            demo = safeport_node::demo::start(options) => demo.map_err(chain)?,
            () = &mut shutdown => return Ok(()),
        };
        println!("{}", demo.summary());
        shutdown.await;
        demo.shutdown().await.map_err(chain)
    })
}

/// Converts a library error into an anyhow error that prints its whole chain.
fn chain<E: std::error::Error + 'static>(err: E) -> anyhow::Error {
    anyhow::anyhow!("{}", ErrorChain(&err))
}

fn init_logging(log: &LogSection) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&log.filter)
        .with_context(|| format!("invalid log filter {:?}", log.filter))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match log.format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|err| anyhow::anyhow!("cannot initialise logging: {err}"))
}

/// Completes on the first SIGINT or SIGTERM.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("received SIGINT"),
            _ = terminate.recv() => tracing::info!("received SIGTERM"),
        }
    })
}

/// Completes on Ctrl-C (platforms without Unix signals).
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
        }
    })
}
