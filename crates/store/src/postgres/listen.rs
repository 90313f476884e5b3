//! Following the other nodes' writes: one connection per node LISTENs on the channel every
//! write NOTIFYs at commit, and wakes the node's follower. Reconnects with backoff; a wake-up
//! after each (re)connection covers what was missed while away.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The channel writes notify on.
pub const CHANNEL: &str = "spectra_changes";

const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Listens until the runtime that runs it stops.
pub async fn listen(config: Config, tls: MakeRustlsConnect, wake: Arc<Notify>) {
    let mut retry = RETRY_MIN;
    loop {
        match config.connect(tls.clone()).await {
            Ok((client, mut connection)) => {
                let (tx, done) = tokio::sync::oneshot::channel::<()>();
                let notified = wake.clone();
                // The connection's messages: notifications wake the follower.
                let driver = tokio::spawn(async move {
                    while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
                        match message {
                            Ok(AsyncMessage::Notification(_)) => notified.notify_one(),
                            Ok(_) => {}
                            Err(error) => {
                                tracing::warn!(%error, "store change feed connection failed");
                                break;
                            }
                        }
                    }
                    let _ = tx.send(());
                });
                match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    Ok(()) => {
                        retry = RETRY_MIN;
                        tracing::debug!("listening for store changes");
                        wake.notify_one();
                        let _ = done.await;
                    }
                    Err(error) => tracing::warn!(%error, "cannot listen for store changes"),
                }
                driver.abort();
            }
            Err(error) => {
                tracing::warn!(%error, retry_ms = retry.as_millis() as u64, "cannot reach the store for its change feed; retrying");
            }
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(RETRY_MAX);
    }
}
