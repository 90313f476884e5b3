//! The DNS parts of `serve`: the authoritative server on `--dns-listen`, fed by the publication.

use super::dns_settings::DnsSettings;
use anyhow::Context;
use model::Publication;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Binds `--dns-listen` (UDP and TCP on each address) and serves the publication there until
/// `shutdown`. `None` when the server is off. A port that cannot be bound stops the start.
pub async fn start_server(
    settings: &DnsSettings,
    mut publication: watch::Receiver<Arc<Publication>>,
    shutdown: CancellationToken,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    if settings.listen.is_empty() {
        return Ok(None);
    }
    let (mut udp, mut tcp) = (Vec::new(), Vec::new());
    for addr in &settings.listen {
        let (socket, listener) = ::dns::bind_pair(*addr)
            .await
            .with_context(|| format!("cannot listen for DNS on {addr} (UDP and TCP)"))?;
        let bound = socket.local_addr()?;
        tracing::info!(%bound, "DNS listening");
        println!("Spectra DNS listening on {bound}");
        udp.push(socket);
        tcp.push(listener);
    }
    let published = Arc::new(dns::Published::new(settings.zone.clone()));
    published.update(&publication.borrow_and_update());
    let feed = published.clone();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                changed = publication.changed() => if changed.is_err() { return },
            }
            feed.update(&publication.borrow_and_update());
        }
    });
    Ok(Some(tokio::spawn(async move {
        if let Err(error) = dns::serve(udp, tcp, published, shutdown.cancelled_owned()).await {
            tracing::error!(%error, "the DNS server stopped");
        }
    })))
}

/// Starts the RFC 2136 updater of `--dns-update`, signing with `--dns-update-key`; ownership is
/// kept in DATA_DIR/dns-update-owned.json. `None` when updates are off.
pub fn start_updater(
    settings: &DnsSettings,
    data_dir: &std::path::Path,
    publication: watch::Receiver<Arc<Publication>>,
    state: watch::Sender<model::DnsUpdateState>,
    shutdown: CancellationToken,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    let Some((server, key_file)) = &settings.update else {
        return Ok(None);
    };
    let key = match key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --dns-update-key {}", path.display()))?;
            let key = dns::update::key::parse(&text)
                .map_err(|e| anyhow::anyhow!("--dns-update-key {}: {e}", path.display()))?;
            Some(key)
        }
        None => {
            tracing::warn!(%server, "DNS updates are sent unsigned (no --dns-update-key)");
            None
        }
    };
    let target = dns::update::Target {
        server: *server,
        key,
        owned_file: data_dir.join("dns-update-owned.json"),
    };
    tracing::info!(%server, key = ?target.key, "DNS updates on");
    state.send_replace(model::DnsUpdateState {
        server: Some(*server),
        error: None,
    });
    Ok(Some(tokio::spawn(dns::update::run(
        target,
        publication,
        state,
        shutdown.cancelled_owned(),
    ))))
}
