//! `tributary`: one region of a DynamoDB-compatible table service.

mod accounts;
mod api;
mod auth;
mod config;
mod connections;
mod declared_functions;
mod fd_limit;
mod function_cli;
mod replication;
mod server;
mod tls;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tributary_engine::Durability;

use config::{Config, Overrides, ReplicationOverrides, StorageOverrides};

#[derive(Parser)]
#[command(
    name = "tributary",
    version,
    about = "A self-hosted, DynamoDB-compatible table service with a durable change stream"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one region: the DynamoDB API on --listen, data in --data-dir.
    Serve(ServeArgs),
    /// Print the embedded default configuration (config/default.toml).
    DefaultConfig,
    /// Trigger functions: build a component, deploy it to a running server, list, invoke, delete.
    #[command(subcommand)]
    Function(function_cli::FunctionCommand),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Configuration file (TOML), layered over the embedded defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address and port of the HTTP API (default 127.0.0.1:8000).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<std::net::SocketAddr>,
    /// Data directory (default ./data).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// This region's name (default us-east-1).
    #[arg(long, value_name = "NAME")]
    region: Option<String>,
    /// Write durability: fsync (default; group commit) or buffered.
    #[arg(long, value_name = "MODE")]
    durability: Option<Durability>,
    /// NATS server carrying replication to other regions (repeatable, or comma-separated).
    #[arg(long, value_name = "URL", value_delimiter = ',')]
    nats: Vec<String>,
    /// Allow `[auth] mode = "none"` on a non-loopback address: anyone who can reach the port
    /// can then read and change every table and run code.
    #[arg(long)]
    insecure: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::DefaultConfig => {
            print!("{}", config::DEFAULT_TOML);
            ExitCode::SUCCESS
        }
        Command::Function(cmd) => match function_cli::run(cmd) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tributary: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve(args) => {
            let overrides = Overrides {
                region: args.region,
                listen: args.listen,
                data_dir: args.data_dir,
                storage: args.durability.map(|d| StorageOverrides {
                    durability: Some(d),
                }),
                replication: (!args.nats.is_empty()).then(|| ReplicationOverrides {
                    nats: Some(args.nats.clone()),
                }),
            };
            let config = match Config::load(args.config.as_ref(), &overrides) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("tributary: invalid configuration: {e}");
                    return ExitCode::from(2);
                }
            };
            init_tracing(&config.log.filter);
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            if config.worker_threads > 0 {
                builder.worker_threads(config.worker_threads);
            }
            let runtime = match builder.enable_all().build() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("tributary: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(server::serve(config, args.insecure)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_tracing(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(default_filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
