//! Moves bytes both ways between a client and an origin, propagating half-close, holding no
//! buffer while a connection is idle.
//!
//! Written by hand rather than with `tokio::io::copy_bidirectional`, which keeps two 8 KiB
//! buffers per connection for its whole life: here reads go through one per-thread scratch
//! buffer, only bytes the peer cannot take yet are kept (in a buffer freed once sent), and the
//! relay is a plain `Future` over the sockets' readiness, a few dozen bytes per connection.

use crate::telemetry::outcome::Side;
use socket2::SockRef;
use std::cell::RefCell;
use std::future::Future;
use std::io::{self, Read};
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::time::Instant;

const SCRATCH: usize = 128 * 1024;
/// Reads one direction may do in one poll before it yields to the other and to other tasks.
const READS_PER_POLL: usize = 16;

thread_local! {
    static SCRATCH_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH].into_boxed_slice());
}

/// Runs `f` with this thread's scratch buffer (128 KiB): bytes only pass through it, so no
/// connection needs a buffer of its own. `f` must not call this again.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    SCRATCH_BUF.with(|buf| f(&mut buf.borrow_mut()[..]))
}

/// How a relay ended, with the bytes moved each way.
#[derive(Debug)]
pub struct Relayed {
    /// Client to origin.
    pub client_bytes: u64,
    /// Origin to client.
    pub origin_bytes: u64,
    /// The first error and the side it came from; `None` for a clean close of both halves.
    pub error: Option<(Side, io::Error)>,
    /// Closed because no byte moved either way for the idle timeout.
    pub idle: bool,
}

/// One direction: `from` is read and written to `to`.
#[derive(Default)]
struct Direction {
    /// Bytes read but not yet taken by `to` (empty, and unallocated, almost always).
    pending: Vec<u8>,
    moved: u64,
    done: bool,
}

/// What one read gave.
enum Got {
    Data(usize),
    Eof,
    NotReady,
}

/// Reads into `buf`. A short read means the socket is drained, so its readiness is cleared
/// right away instead of by one more read that would only say "would block".
fn read_some(from: &TcpStream, buf: &mut [u8]) -> io::Result<Got> {
    let mut got = 0;
    let result = from.try_io(Interest::READABLE, || {
        got = (&*SockRef::from(from)).read(buf)?;
        if got > 0 && got < buf.len() {
            Err(io::ErrorKind::WouldBlock.into())
        } else {
            Ok(())
        }
    });
    match result {
        Ok(()) if got == 0 => Ok(Got::Eof),
        Ok(()) => Ok(Got::Data(got)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(Got::Data(got)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Got::NotReady),
        Err(e) => Err(e),
    }
}

impl Direction {
    /// Moves what can be moved now; `Ready` when this direction has ended (or failed).
    /// `last`: the other direction has ended, so this one's end closes the relay.
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        from: &TcpStream,
        to: &TcpStream,
        sides: (Side, Side),
        last: bool,
    ) -> Poll<Result<(), (Side, io::Error)>> {
        let (from_side, to_side) = sides;
        let mut reads = 0;
        loop {
            // First hand over what the peer could not take before.
            while !self.pending.is_empty() {
                ready!(to.poll_write_ready(cx)).map_err(|e| (to_side, e))?;
                match to.try_write(&self.pending) {
                    Ok(n) => {
                        self.pending.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Poll::Ready(Err((to_side, e))),
                }
                if self.pending.is_empty() {
                    self.pending = Vec::new();
                }
            }
            if reads == READS_PER_POLL {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            ready!(from.poll_read_ready(cx)).map_err(|e| (from_side, e))?;
            reads += 1;
            let step = with_scratch(|buf| -> Result<bool, (Side, io::Error)> {
                let n = match read_some(from, buf).map_err(|e| (from_side, e))? {
                    Got::Eof => return Ok(true),
                    Got::NotReady => return Ok(false),
                    Got::Data(n) => n,
                };
                self.moved += n as u64;
                let mut sent = 0;
                while sent < n {
                    match to.try_write(&buf[sent..n]) {
                        Ok(w) => sent += w,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err((to_side, e)),
                    }
                }
                self.pending.extend_from_slice(&buf[sent..n]);
                Ok(false)
            });
            if step? {
                self.done = true;
                if last {
                    // Both ends are done: closing the sockets sends the FIN.
                    return Poll::Ready(Ok(()));
                }
                // End of stream: pass the FIN on; the other direction goes on.
                return Poll::Ready(match SockRef::from(to).shutdown(Shutdown::Write) {
                    Err(e) if e.kind() != io::ErrorKind::NotConnected => Err((to_side, e)),
                    _ => Ok(()),
                });
            }
        }
    }
}

/// Relays until both directions have ended, or until either fails.
struct Relay<'a> {
    client: &'a TcpStream,
    origin: &'a TcpStream,
    up: Direction,
    down: Direction,
    /// When a byte last moved either way.
    active: Instant,
}

impl Relay<'_> {
    /// What has moved so far, in a form that changes whenever a byte moves.
    fn progress(&self) -> (u64, u64, usize, usize) {
        (
            self.up.moved,
            self.down.moved,
            self.up.pending.len(),
            self.down.pending.len(),
        )
    }
}

impl Future for Relay<'_> {
    type Output = Option<(Side, io::Error)>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let before = self.progress();
        let result = self.as_mut().poll_directions(cx);
        if self.progress() != before {
            self.active = Instant::now();
        }
        result
    }
}

impl Relay<'_> {
    fn poll_directions(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(Side, io::Error)>> {
        let this = self.get_mut();
        if !this.up.done {
            if let Poll::Ready(Err(failure)) = this.up.poll(
                cx,
                this.client,
                this.origin,
                (Side::Client, Side::Origin),
                this.down.done,
            ) {
                return Poll::Ready(Some(failure));
            }
        }
        if !this.down.done {
            if let Poll::Ready(Err(failure)) = this.down.poll(
                cx,
                this.origin,
                this.client,
                (Side::Origin, Side::Client),
                this.up.done,
            ) {
                return Poll::Ready(Some(failure));
            }
        }
        if this.up.done && this.down.done {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

/// Relays until both directions have ended, either fails, or no byte moved for `idle`;
/// `progress(client_bytes, origin_bytes)` every `progress_every` meanwhile.
pub async fn relay(
    client: &TcpStream,
    origin: &TcpStream,
    idle: Duration,
    progress_every: Option<Duration>,
    mut progress: impl FnMut(u64, u64),
) -> Relayed {
    let mut relay = Relay {
        client,
        origin,
        up: Direction::default(),
        down: Direction::default(),
        active: Instant::now(),
    };
    let ended = super::idle::timeout(
        &mut relay,
        |r| r.active,
        idle,
        progress_every,
        |r| progress(r.up.moved, r.down.moved),
    )
    .await;
    Relayed {
        client_bytes: relay.up.moved,
        origin_bytes: relay.down.moved,
        idle: ended.is_none(),
        error: ended.flatten(),
    }
}
