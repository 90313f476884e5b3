//! The `spectra` binary: the command line, and wiring the store, API and data plane together.

mod admin;
mod analytics_cmd;
mod app_cmd;
mod cache;
mod dns_cmd;
mod fallback;
mod follow;
mod heartbeat;
mod publisher;
mod serve;
mod stores;
mod tls_files;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "spectra",
    version,
    about = "A self-hosted L4 edge proxy with Cloudflare Spectrum's API"
)]
struct Cli {
    /// On an error, print its whole chain and where it happened (a backtrace when
    /// RUST_BACKTRACE=1) instead of one line.
    #[arg(long, global = true)]
    debug: bool,
    #[command(subcommand)]
    command: Command,
}

/// Where the store lives; shared by every command that opens it.
#[derive(clap::Args, Clone)]
struct DataDir {
    /// Directory of the embedded store [default: ./spectra-data].
    #[arg(long, global = true, env = "SPECTRA_DATA_DIR", hide_env_values = true)]
    data_dir: Option<PathBuf>,
    /// A fleet's store, `postgres://USER:PASSWORD@HOST:PORT/DB` [default: SQLite in --data-dir].
    #[arg(long, global = true, env = "SPECTRA_STORE", hide_env_values = true)]
    store: Option<String>,
}

impl DataDir {
    fn path(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(serve::DEFAULT_DATA_DIR))
    }

    /// The store these flags name.
    fn open(&self) -> anyhow::Result<Box<dyn store::Store>> {
        stores::open(self.store.as_deref(), &self.path())
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the API (and the edge) until SIGTERM or Ctrl-C.
    Serve(Box<serve::ServeArgs>),
    /// Manage zones.
    #[command(subcommand)]
    Zone(admin::ZoneCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(admin::TokenCommand),
    /// Manage users (global API keys).
    #[command(subcommand)]
    User(admin::UserCommand),
    /// The nodes that share this store.
    #[command(subcommand)]
    Node(admin::NodeCommand),
    /// Manage Spectrum apps over the API (a Spectra node, or Cloudflare).
    #[command(subcommand)]
    App(Box<app_cmd::AppCommand>),
    /// List the protocols a zone's apps may name.
    Protocols(app_cmd::Connection),
    /// Each app's traffic over a past period: connections, bytes each way, durations.
    Analytics(Box<analytics_cmd::AnalyticsArgs>),
    /// What DNS publishes for a zone's apps (over the API).
    #[command(subcommand)]
    Dns(dns_cmd::DnsCommand),
    /// Move a store: copy one into another.
    #[command(subcommand)]
    Store(stores::StoreCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let debug = cli.debug;
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Zone(cmd) => admin::zone(cmd),
        Command::Token(cmd) => admin::token(cmd),
        Command::User(cmd) => admin::user(cmd),
        Command::Node(cmd) => admin::node(cmd),
        Command::App(cmd) => app_cmd::run(*cmd),
        Command::Protocols(connection) => app_cmd::protocols(connection),
        Command::Store(cmd) => stores::run(cmd),
        Command::Dns(cmd) => dns_cmd::run(cmd),
        Command::Analytics(args) => analytics_cmd::run(*args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            if debug {
                eprintln!("error: {error:?}");
            } else {
                // One line, the causes joined: no backtrace, whatever RUST_BACKTRACE says.
                eprintln!("error: {error:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every flag and positional argument of every command says what it is.
    #[test]
    fn every_argument_has_help_text() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "spectra", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }
}
