//! The idle timeout of a relay: it ends when no byte has moved either way for that long; and,
//! on the same timer, the relay's progress reported each minute while it stays open (only when
//! something records it: otherwise an idle connection's timer fires at its idle timeout alone).

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{ready, Poll};
use std::time::Duration;
use tokio::time::Instant;

/// Runs `work` until it completes (`Some`) or `last_active(&work)` is `idle` in the past
/// (`None`), calling `progress(&work)` every `progress_every` meanwhile (never without it). One
/// timer, moved forward only when it fires: activity costs no timer update.
pub(crate) async fn timeout<F: Future + Unpin>(
    mut work: F,
    last_active: impl Fn(&F) -> Instant,
    idle: Duration,
    progress_every: Option<Duration>,
    mut progress: impl FnMut(&F),
) -> Option<F::Output> {
    let mut next_progress = progress_every.map(|every| Instant::now() + every);
    let sleep = tokio::time::sleep(progress_every.map_or(idle, |every| idle.min(every)));
    tokio::pin!(sleep);
    poll_fn(|cx| {
        if let Poll::Ready(out) = Pin::new(&mut work).poll(cx) {
            return Poll::Ready(Some(out));
        }
        loop {
            ready!(sleep.as_mut().poll(cx));
            let now = Instant::now();
            if let (Some(at), Some(every)) = (next_progress, progress_every) {
                if at <= now {
                    progress(&work);
                    next_progress = Some(at + every);
                }
            }
            let deadline = last_active(&work) + idle;
            if deadline <= now {
                return Poll::Ready(None);
            }
            sleep
                .as_mut()
                .reset(next_progress.map_or(deadline, |at| deadline.min(at)));
        }
    })
    .await
}
