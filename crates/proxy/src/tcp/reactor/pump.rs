//! One direction of a relay on non-blocking sockets watched edge-triggered: bytes move through
//! the thread's scratch buffer, only what the receiver cannot take yet is kept, and a FIN is
//! passed on as a half-close.

use crate::tcp::relay::with_scratch;
use crate::telemetry::outcome::Side;
use mio::net::TcpStream;
use std::io::{self, ErrorKind, Read, Write};
use std::net::Shutdown;

/// Reads one direction may do in one turn before the other connections get theirs.
const READS_PER_TURN: usize = 16;

/// What a turn of a direction left to do.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Turn {
    /// Waiting for the sockets: an edge will come when there is more to do.
    Wait,
    /// Stopped at the read limit with bytes perhaps still queued: no edge will say so, so the
    /// reactor runs it again on its next turn.
    Again,
}

/// One direction: `from` is read and written to `to`.
#[derive(Default)]
pub(super) struct Direction {
    /// Bytes read but not yet taken by `to` (empty, and unallocated, almost always). The PROXY
    /// header waits here before the client's first byte.
    pub pending: Vec<u8>,
    pub moved: u64,
    /// `from` has ended (its FIN was read) and the end was passed on.
    pub done: bool,
}

/// The sockets a direction moves bytes between, and what the reactor knows of them.
pub(super) struct Ends<'a> {
    pub from: &'a TcpStream,
    pub to: &'a TcpStream,
    pub sides: (Side, Side),
    /// `from` may have bytes (or its end) to read: set by its events, cleared once a read finds
    /// it drained, so that an event on one socket costs no read of the other.
    pub readable: &'a mut bool,
    /// epoll reported `from`'s FIN or an error: read on after a short read, since no further
    /// edge will come for what follows it.
    pub from_hup: bool,
    /// The other direction has ended, so this one's end closes the connection: no half-close.
    pub last: bool,
}

/// What one read and its writes gave.
enum Step {
    /// Read and passed on; `from` may have more.
    More,
    /// `from` is drained: its next bytes bring an edge.
    Drained,
    /// `to` is full: its edge will say when it takes more.
    Blocked,
    /// `from` ended.
    Eof,
}

impl Direction {
    /// Moves what can be moved now.
    pub fn turn(&mut self, ends: Ends<'_>) -> Result<Turn, (Side, io::Error)> {
        let (from_side, to_side) = ends.sides;
        if self.done {
            return Ok(Turn::Wait);
        }
        if !self.pending.is_empty() {
            if !write_pending(&mut self.pending, ends.to).map_err(|e| (to_side, e))? {
                return Ok(Turn::Wait);
            }
            self.pending = Vec::new();
        }
        if !*ends.readable {
            return Ok(Turn::Wait);
        }
        for _ in 0..READS_PER_TURN {
            let step = with_scratch(|buf| -> Result<Step, (Side, io::Error)> {
                let n = match (&mut &*ends.from).read(buf) {
                    Ok(0) => return Ok(Step::Eof),
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Step::Drained),
                    Err(e) if e.kind() == ErrorKind::Interrupted => return Ok(Step::More),
                    Err(e) => return Err((from_side, e)),
                };
                self.moved += n as u64;
                let mut sent = 0;
                while sent < n {
                    match (&mut &*ends.to).write(&buf[sent..n]) {
                        Ok(w) => sent += w,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            self.pending.extend_from_slice(&buf[sent..n]);
                            return Ok(Step::Blocked);
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => return Err((to_side, e)),
                    }
                }
                // A short read drained the socket: its next bytes bring a new edge.
                Ok(match n < buf.len() && !ends.from_hup {
                    true => Step::Drained,
                    false => Step::More,
                })
            })?;
            match step {
                Step::More => {}
                Step::Blocked => return Ok(Turn::Wait),
                Step::Drained => {
                    *ends.readable = false;
                    return Ok(Turn::Wait);
                }
                Step::Eof => {
                    self.done = true;
                    if !ends.last {
                        match ends.to.shutdown(Shutdown::Write) {
                            Err(e) if e.kind() != ErrorKind::NotConnected => {
                                return Err((to_side, e))
                            }
                            _ => {}
                        }
                    }
                    return Ok(Turn::Wait);
                }
            }
        }
        Ok(Turn::Again)
    }
}

/// Writes what is pending; `true` once all of it is written, `false` when `to` is full.
fn write_pending(pending: &mut Vec<u8>, to: &TcpStream) -> io::Result<bool> {
    while !pending.is_empty() {
        match (&mut &*to).write(pending) {
            Ok(n) => drop(pending.drain(..n)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
