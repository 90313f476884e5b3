//! The idle timeout of a relay: it ends when no byte has moved either way for that long; and,
//! on the same timer, the relay's progress reported once a minute while it stays open.

use crate::telemetry::analytics::PROGRESS_EVERY;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{ready, Poll};
use std::time::Duration;
use tokio::time::Instant;

/// Runs `work` until it completes (`Some`) or `last_active(&work)` is `idle` in the past
/// (`None`), calling `progress(&work)` each minute meanwhile. One timer, moved forward only
/// when it fires: activity costs no timer update.
pub(crate) async fn timeout<F: Future + Unpin>(
    mut work: F,
    last_active: impl Fn(&F) -> Instant,
    idle: Duration,
    mut progress: impl FnMut(&F),
) -> Option<F::Output> {
    let mut next_progress = Instant::now() + PROGRESS_EVERY;
    let sleep = tokio::time::sleep(idle.min(PROGRESS_EVERY));
    tokio::pin!(sleep);
    poll_fn(|cx| {
        if let Poll::Ready(out) = Pin::new(&mut work).poll(cx) {
            return Poll::Ready(Some(out));
        }
        loop {
            ready!(sleep.as_mut().poll(cx));
            let now = Instant::now();
            if next_progress <= now {
                progress(&work);
                next_progress += PROGRESS_EVERY;
            }
            let deadline = last_active(&work) + idle;
            if deadline <= now {
                return Poll::Ready(None);
            }
            sleep.as_mut().reset(deadline.min(next_progress));
        }
    })
    .await
}
