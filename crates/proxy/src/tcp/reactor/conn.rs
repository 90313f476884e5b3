//! One plain TCP connection on the reactor: its origin reached (failing over within the connect
//! budget), the PROXY header, the relay both ways, its idle timeout and progress reports, and
//! how it ended, reported as on the task-per-connection path.

use super::pump::{Direction, Ends, Turn};
use crate::clients::ClientSlot;
use crate::origin::balancer::Target;
use crate::runtime::context::{AppShared, Settings};
use crate::tcp::connect::{tune, Active};
use crate::tcp::log::{log, Events};
use crate::telemetry::outcome::{connect_status, limit, relay_status, Outcome, Side};
use chrono::{DateTime, Utc};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use socket2::SockRef;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::task::task_tracker::TaskTrackerToken;

/// A connection's token for its client socket; the origin's is the next one.
pub(super) fn tokens(key: usize) -> (Token, Token) {
    (Token(key << 1), Token(key << 1 | 1))
}

/// Where the connection is.
enum Phase {
    /// Trying `plan[next - 1]` until `attempt_ends`; the whole budget ends at `deadline`.
    Connecting {
        plan: Vec<(Target, SocketAddr)>,
        next: usize,
        attempt_ends: Instant,
        deadline: Instant,
        /// The status and origin of the last failure, for when every attempt fails.
        last: (u16, Option<SocketAddr>),
    },
    Relaying {
        addr: SocketAddr,
        _active: Active<Arc<Settings>>,
    },
}

/// What happened to a connection on an event or a sweep.
pub(super) enum Next {
    /// Still open.
    Open,
    /// Open, and a direction stopped at its read limit: run it again next turn.
    Again,
    /// Over: report it and close it.
    Done(Outcome),
}

pub(super) struct Conn {
    app: Arc<AppShared>,
    settings: Arc<Settings>,
    client: TcpStream,
    /// The origin connection, or the attempt under way.
    origin: Option<TcpStream>,
    peer: SocketAddr,
    edge: SocketAddr,
    phase: Phase,
    up: Direction,
    down: Direction,
    /// What epoll said of each socket: may have bytes to read; its FIN (or an error) came.
    client_readable: bool,
    origin_readable: bool,
    client_hup: bool,
    origin_hup: bool,
    /// When a byte last moved either way.
    active: Instant,
    next_progress: Option<Instant>,
    events: Events<Arc<AppShared>>,
    connected_at: Option<DateTime<Utc>>,
    _slots: (OwnedSemaphorePermit, ClientSlot),
    _tracked: TaskTrackerToken,
}

/// An admitted client, as the accept loop hands it over.
pub(crate) struct Admitted {
    pub client: TcpStream,
    pub peer: SocketAddr,
    pub edge: SocketAddr,
    pub settings: Arc<Settings>,
    pub app: Arc<AppShared>,
    pub slots: (OwnedSemaphorePermit, ClientSlot),
}

impl Conn {
    /// Starts the connection: registers the client and tries the first origin. With an outcome
    /// when it is over at once (no origin to try).
    pub fn start(
        admitted: Admitted,
        registry: &Registry,
        key: usize,
        now: Instant,
    ) -> (Conn, Option<Outcome>) {
        let Admitted {
            mut client,
            peer,
            edge,
            settings,
            app,
            slots,
        } = admitted;
        let mut events = Events::new(app.clone(), peer.ip());
        events.connect();
        let budget = app.node.options.connect_timeout;
        let plan = settings.plan(edge.port());
        let mut conn = Conn {
            connected_at: app.node.access_log.as_ref().map(|_| Utc::now()),
            next_progress: None,
            _tracked: app.connections.token(),
            app,
            settings,
            origin: None,
            peer,
            edge,
            phase: Phase::Connecting {
                plan,
                next: 0,
                attempt_ends: now,
                deadline: now + budget,
                last: (531, None),
            },
            up: Direction::default(),
            down: Direction::default(),
            client_readable: false,
            origin_readable: false,
            client_hup: false,
            origin_hup: false,
            active: now,
            events,
            _slots: slots,
            client: {
                let (token, _) = tokens(key);
                let both = Interest::READABLE | Interest::WRITABLE;
                if let Err(e) = registry.register(&mut client, token, both) {
                    tracing::warn!(error = %e, "cannot watch the client socket");
                }
                client
            },
        };
        let outcome = conn.attempt(registry, key, now);
        (conn, outcome)
    }

    /// Tries the next origins of the plan until one is under way; the outcome when none is
    /// left (or the budget is spent).
    fn attempt(&mut self, registry: &Registry, key: usize, now: Instant) -> Option<Outcome> {
        let Phase::Connecting {
            plan,
            next,
            attempt_ends,
            deadline,
            last,
        } = &mut self.phase
        else {
            return None;
        };
        // The last attempt's socket closes, and what epoll said of it goes with it.
        (self.origin, self.origin_readable, self.origin_hup) = (None, false, false);
        while *next < plan.len() {
            let left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                break;
            }
            let (target, addr) = plan[*next];
            let share = left / (plan.len() - *next) as u32;
            *next += 1;
            let started = TcpStream::connect(addr).and_then(|mut origin| {
                tune(SockRef::from(&origin));
                let both = Interest::READABLE | Interest::WRITABLE;
                registry.register(&mut origin, tokens(key).1, both)?;
                Ok(origin)
            });
            match started {
                Ok(origin) => {
                    self.origin = Some(origin);
                    *attempt_ends = now + share;
                    return None;
                }
                Err(error) => {
                    *last = failed(&self.settings, &self.app, target, addr, &error, now);
                }
            }
        }
        let (status, origin) = *last;
        tracing::warn!(parent: &self.app.span, client = %self.peer, status, "no origin reachable; closing the client connection");
        Some(("originError", status, origin, 0, 0))
    }

    /// The attempt on `tried` failed with `error`: on to the next origin of the plan.
    fn retry(
        &mut self,
        registry: &Registry,
        key: usize,
        tried: (Target, SocketAddr),
        error: io::Error,
        now: Instant,
    ) -> Next {
        let failure = failed(&self.settings, &self.app, tried.0, tried.1, &error, now);
        if let Phase::Connecting { last, .. } = &mut self.phase {
            *last = failure;
        }
        match self.attempt(registry, key, now) {
            Some(outcome) => Next::Done(outcome),
            None => Next::Open,
        }
    }

    /// The origin attempt has an answer: connected, failed, or not yet (`None`).
    fn connect_result(&self) -> Option<io::Result<()>> {
        let origin = self.origin.as_ref()?;
        if let Ok(Some(error)) | Err(error) = origin.take_error() {
            return Some(Err(error));
        }
        match origin.peer_addr() {
            Ok(_) => Some(Ok(())),
            Err(e) if e.kind() == ErrorKind::NotConnected => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// An event on the connection's client (`origin_side` false) or origin socket.
    pub fn on_event(
        &mut self,
        registry: &Registry,
        key: usize,
        origin_side: bool,
        readable: bool,
        hup: bool,
        now: Instant,
    ) -> Next {
        match origin_side {
            true => {
                self.origin_readable |= readable || hup;
                self.origin_hup |= hup;
            }
            false => {
                self.client_readable |= readable || hup;
                self.client_hup |= hup;
            }
        }
        if let Phase::Connecting { plan, next, .. } = &self.phase {
            if !origin_side {
                return Next::Open;
            }
            let (target, addr) = plan[*next - 1];
            match self.connect_result() {
                None => return Next::Open,
                Some(Ok(())) => self.relaying(target, addr, now),
                Some(Err(error)) => return self.retry(registry, key, (target, addr), error, now),
            }
        }
        self.pump(now)
    }

    /// The origin answered: the PROXY header goes first, then the relay (and its timers).
    fn relaying(&mut self, target: Target, addr: SocketAddr, now: Instant) {
        self.phase = Phase::Relaying {
            addr,
            _active: Active::new(self.settings.clone(), target),
        };
        self.active = now;
        self.next_progress = self.events.progress_every().map(|every| now + every);
        if let Some(header) = self.settings.proxy_header(self.peer, self.edge) {
            self.up.pending = header;
        }
    }

    /// Moves bytes both ways.
    fn pump(&mut self, now: Instant) -> Next {
        let (Some(origin), Phase::Relaying { addr, .. }) = (&self.origin, &self.phase) else {
            return Next::Open;
        };
        let before = (self.up.moved, self.down.moved);
        let up = self.up.turn(Ends {
            from: &self.client,
            to: origin,
            sides: (Side::Client, Side::Origin),
            readable: &mut self.client_readable,
            from_hup: self.client_hup,
            last: self.down.done,
        });
        let down = up.and_then(|up| {
            let down = self.down.turn(Ends {
                from: origin,
                to: &self.client,
                sides: (Side::Origin, Side::Client),
                readable: &mut self.origin_readable,
                from_hup: self.origin_hup,
                last: self.up.done,
            })?;
            Ok((up, down))
        });
        if (self.up.moved, self.down.moved) != before {
            self.active = now;
        }
        let (up_bytes, down_bytes) = (self.up.moved, self.down.moved);
        match down {
            Err((side, error)) => {
                tracing::debug!(parent: &self.app.span, client = %self.peer, ?side, %error, "relay failed");
                let status = relay_status(side, &error);
                Next::Done(("disconnect", status, Some(*addr), up_bytes, down_bytes))
            }
            Ok(_) if self.up.done && self.down.done => {
                Next::Done(("disconnect", 200, Some(*addr), up_bytes, down_bytes))
            }
            Ok((Turn::Again, _) | (_, Turn::Again)) => Next::Again,
            Ok(_) => Next::Open,
        }
    }

    /// The timers, checked every sweep: the connect attempt's share of the budget, the idle
    /// timeout, and each minute's progress report. `None` when the app's drain ran out.
    pub fn sweep(&mut self, registry: &Registry, key: usize, now: Instant) -> Option<Next> {
        if self.app.kill.is_cancelled() {
            return None;
        }
        Some(match &self.phase {
            Phase::Connecting {
                plan,
                next,
                attempt_ends,
                ..
            } if *attempt_ends <= now => {
                let tried = plan[*next - 1];
                let error = io::Error::from(ErrorKind::TimedOut);
                self.retry(registry, key, tried, error, now)
            }
            Phase::Connecting { .. } => Next::Open,
            Phase::Relaying { addr, .. } => {
                let addr = *addr;
                if let (Some(due), Some(every)) = (self.next_progress, self.events.progress_every())
                {
                    if due <= now {
                        self.events.progress(self.up.moved, self.down.moved);
                        self.next_progress = Some(due + every);
                    }
                }
                if self.active + self.app.node.options.tcp_idle_timeout <= now {
                    tracing::debug!(parent: &self.app.span, client = %self.peer, "idle timeout: closing");
                    self.app
                        .node
                        .counters
                        .timed_out
                        .fetch_add(1, Ordering::Relaxed);
                    let outcome = (
                        "disconnect",
                        limit::IDLE,
                        Some(addr),
                        self.up.moved,
                        self.down.moved,
                    );
                    return Some(Next::Done(outcome));
                }
                Next::Open
            }
        })
    }

    /// Reports how the connection ended; dropping it then closes both sockets.
    pub fn finish(self, outcome: Outcome) {
        tracing::debug!(
            parent: &self.app.span,
            client = %self.peer,
            status = outcome.1,
            client_bytes = outcome.3,
            origin_bytes = outcome.4,
            "connection closed"
        );
        let Conn {
            events,
            connected_at,
            app,
            settings,
            peer,
            ..
        } = self;
        events.end(&outcome);
        if let Some(connected_at) = connected_at {
            log(&app, &settings, peer, connected_at, outcome);
        }
    }
}

/// An origin attempt failed: the balancer hears of it; the status it would end with.
fn failed(
    settings: &Settings,
    app: &AppShared,
    target: Target,
    addr: SocketAddr,
    error: &io::Error,
    now: Instant,
) -> (u16, Option<SocketAddr>) {
    tracing::warn!(parent: &app.span, origin = %addr, %error, "origin connect failed");
    settings.balancer().failed(target.addr, now);
    (connect_status(error), Some(addr))
}
