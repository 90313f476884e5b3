//! The reactor of plain TCP apps (`traffic_type: direct` without `tls`): on each edge thread,
//! one epoll set (mio, edge-triggered) holds the sockets of every such connection, and one task
//! of the thread's runtime turns it, instead of a task, two registrations with tokio's reactor
//! and two timers per connection. Connections reach it from the accept loop, already admitted;
//! TLS, HTTP and UDP apps stay on tokio.
//!
//! Written on mio rather than as a tokio task per connection because the runtime probes
//! (`bench/runtime-probe`, docs/performance.md) measured tokio's per-connection machinery at
//! about 6 µs of a short connection's ~47: a task, its waker, a registration per socket and its
//! `EPOLL_CTL_DEL` before close. Here closing a socket is what takes it out of epoll, timers are
//! one sweep per thread every `SWEEP`, and bytes go through the thread's scratch buffer.

mod conn;
mod pump;

use crate::runtime::context::Settings;
pub(crate) use conn::Admitted;
use conn::{Conn, Next};
use mio::{Events, Poll, Registry};
use model::TrafficType;
use slab::Slab;
use std::cell::RefCell;
use std::io::ErrorKind;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// How often the timers are checked: connect attempts, idle timeouts, progress reports and the
/// drain timeout of removed apps take effect within this.
const SWEEP: Duration = Duration::from_millis(100);
/// Events taken from epoll per turn.
const EVENTS: usize = 1024;

/// Whether a connection with these settings runs on the reactor.
pub(crate) fn fits(settings: &Settings) -> bool {
    settings.app.config.traffic_type == TrafficType::Direct
        && settings.tls.is_none()
        // An `origin_dns` app's first resolution still on its way: the tokio path waits for it.
        && settings.resolved.as_ref().is_none_or(|done| *done.borrow())
}

struct Reactor {
    /// Registers sockets in the epoll set (whose `Poll` the driving task owns).
    registry: Registry,
    conns: Slab<Conn>,
    ready: Events,
    /// Connections that stopped at a read limit, to run again next turn.
    again: Vec<usize>,
}

/// A thread's reactor and the task that turns it.
type Running = (Arc<Mutex<Reactor>>, JoinHandle<()>);

thread_local! {
    /// This thread's reactor (a new one when the runtime of the last one is gone).
    static REACTOR: RefCell<Option<Running>> = const { RefCell::new(None) };
}

fn lock(reactor: &Mutex<Reactor>) -> MutexGuard<'_, Reactor> {
    // A panic in a turn leaves the connections as they were: go on with them.
    reactor.lock().unwrap_or_else(|e| e.into_inner())
}

/// Hands an admitted connection to this thread's reactor, started on first use. Gives it back
/// when the reactor cannot start (no descriptor left for its epoll set).
pub(crate) fn start(admitted: Admitted) -> Result<(), Box<Admitted>> {
    REACTOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let running = slot
            .as_ref()
            .is_some_and(|(_, driver)| !driver.is_finished());
        if !running {
            match Reactor::new() {
                Ok((reactor, epoll)) => {
                    let reactor = Arc::new(Mutex::new(reactor));
                    let driver = tokio::spawn(drive(reactor.clone(), epoll));
                    *slot = Some((reactor, driver));
                }
                Err(error) => {
                    tracing::error!(%error, "cannot start the TCP reactor");
                    return Err(Box::new(admitted));
                }
            }
        }
        if let Some((reactor, _)) = slot.as_ref() {
            lock(reactor).add(admitted);
        }
        Ok(())
    })
}

/// Turns the reactor whenever its epoll set has events, and sweeps its timers while it has
/// connections.
async fn drive(reactor: Arc<Mutex<Reactor>>, mut epoll: AsyncFd<Poll>) {
    let mut sweep = tokio::time::interval(SWEEP);
    sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let busy = !lock(&reactor).conns.is_empty();
        tokio::select! {
            ready = epoll.readable_mut() => {
                let Ok(mut guard) = ready else {
                    return;
                };
                if lock(&reactor).turn(guard.get_inner_mut()) {
                    guard.clear_ready();
                } else {
                    // More to do: let the thread's other tasks run first.
                    tokio::task::yield_now().await;
                }
            }
            _ = sweep.tick(), if busy => lock(&reactor).sweep(),
        }
    }
}

impl Reactor {
    /// The reactor, and its epoll set watched by tokio (an epoll set can be polled like a
    /// socket) for the task that drives it.
    fn new() -> std::io::Result<(Reactor, AsyncFd<Poll>)> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        // SAFETY: the `Poll` owns its descriptor, and `AsyncFd` owns the `Poll`: it stays open
        // for as long as it is registered.
        let epoll = unsafe { AsyncFd::register_with_interest(poll, Interest::READABLE) }
            .map_err(std::io::Error::from)?;
        let reactor = Reactor {
            registry,
            conns: Slab::new(),
            ready: Events::with_capacity(EVENTS),
            again: Vec::new(),
        };
        Ok((reactor, epoll))
    }

    fn add(&mut self, admitted: Admitted) {
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        match Conn::start(admitted, &self.registry, key, Instant::now()) {
            (conn, None) => drop(entry.insert(conn)),
            (conn, Some(outcome)) => conn.finish(outcome),
        }
    }

    /// Handles what epoll has now; `true` when nothing is left (the epoll set is drained and
    /// no connection waits to run again).
    fn turn(&mut self, poll: &mut Poll) -> bool {
        let Reactor {
            registry,
            conns,
            ready,
            again,
        } = self;
        if let Err(error) = poll.poll(ready, Some(Duration::ZERO)) {
            if error.kind() != ErrorKind::Interrupted {
                tracing::error!(%error, "epoll_wait failed");
            }
            return false;
        }
        let now = Instant::now();
        // (key, origin side, readable, hup)
        let mut step = |event: (usize, bool, bool, bool), again: &mut Vec<usize>| {
            let (key, origin_side, readable, hup) = event;
            // Gone already, or the key was reused within this turn (one spurious pump).
            let Some(conn) = conns.get_mut(key) else {
                return;
            };
            match conn.on_event(registry, key, origin_side, readable, hup, now) {
                Next::Open => {}
                Next::Again => again.push(key),
                Next::Done(outcome) => conns.remove(key).finish(outcome),
            }
        };
        for key in std::mem::take(again) {
            step((key, false, false, false), again);
        }
        for event in ready.iter() {
            let token = event.token().0;
            let hup = event.is_read_closed() || event.is_error();
            step(
                (token >> 1, token & 1 == 1, event.is_readable(), hup),
                again,
            );
        }
        ready.iter().count() < EVENTS && again.is_empty()
    }

    /// Checks every connection's timers and whether its app's drain ran out.
    fn sweep(&mut self) {
        let now = Instant::now();
        let registry = &self.registry;
        let mut ended = Vec::new();
        for (key, conn) in self.conns.iter_mut() {
            match conn.sweep(registry, key, now) {
                // Cut: dropped without an outcome, its analytics record the cut.
                None => ended.push((key, None)),
                Some(Next::Done(outcome)) => ended.push((key, Some(outcome))),
                Some(_) => {}
            }
        }
        for (key, outcome) in ended {
            let conn = self.conns.remove(key);
            if let Some(outcome) = outcome {
                conn.finish(outcome);
            }
        }
    }
}
