//! The idle timeout of a relay: it ends when no byte has moved either way for that long.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{ready, Poll};
use std::time::Duration;
use tokio::time::Instant;

/// Runs `work` until it completes (`Some`) or `last_active(&work)` is `idle` in the past
/// (`None`). One timer, moved forward only when it fires: activity costs no timer update.
pub(crate) async fn timeout<F: Future + Unpin>(
    mut work: F,
    last_active: impl Fn(&F) -> Instant,
    idle: Duration,
) -> Option<F::Output> {
    let sleep = tokio::time::sleep(idle);
    tokio::pin!(sleep);
    poll_fn(|cx| {
        if let Poll::Ready(out) = Pin::new(&mut work).poll(cx) {
            return Poll::Ready(Some(out));
        }
        loop {
            ready!(sleep.as_mut().poll(cx));
            let deadline = last_active(&work) + idle;
            if deadline <= Instant::now() {
                return Poll::Ready(None);
            }
            sleep.as_mut().reset(deadline);
        }
    })
    .await
}
