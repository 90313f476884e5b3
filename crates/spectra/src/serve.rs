//! `spectra serve`: flags and the optional TOML config file, then the API on its listener.

use crate::DataDir;
use anyhow::Context;
use serde::Deserialize;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;

pub const DEFAULT_DATA_DIR: &str = "./spectra-data";
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:8080";

#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    data_dir: DataDir,
    /// TOML file with the same keys as the flags (`data_dir`, `api_listen`); flags win.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address the API listens on [default: 127.0.0.1:8080]; port 0 picks a free port.
    #[arg(long)]
    api_listen: Option<SocketAddr>,
}

/// The config file: every key optional, unknown keys refused.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    data_dir: Option<PathBuf>,
    api_listen: Option<SocketAddr>,
}

/// The settings `serve` runs with, after flags, file and defaults.
struct Settings {
    data_dir: PathBuf,
    api_listen: SocketAddr,
}

fn settings(args: ServeArgs) -> anyhow::Result<Settings> {
    let file = match &args.config {
        Some(path) => read_config(path)?,
        None => ConfigFile::default(),
    };
    Ok(Settings {
        data_dir: args
            .data_dir
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
        api_listen: args
            .api_listen
            .or(file.api_listen)
            .unwrap_or_else(|| DEFAULT_API_LISTEN.parse().expect("literal address")),
    })
}

fn read_config(path: &Path) -> anyhow::Result<ConfigFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let settings = settings(args)?;
    tokio::runtime::Runtime::new()?.block_on(serve(settings))
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let store = store::SqliteStore::open(&settings.data_dir)
        .with_context(|| format!("cannot open the store in {}", settings.data_dir.display()))?;
    let state = api::ApiState::new(Arc::new(store), model::Policy::default());
    let listener = TcpListener::bind(settings.api_listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.api_listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %settings.data_dir.display(), "API listening");
    println!("Spectra API listening on http://{addr}/client/v4");
    api::serve(listener, state, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
