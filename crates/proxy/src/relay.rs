//! Moves bytes both ways between a client and an origin, propagating half-close, holding no
//! buffer while a connection is idle.
//!
//! Written by hand rather than with `tokio::io::copy_bidirectional`, which keeps two 8 KiB
//! buffers per connection for its whole life: here a read goes through one per-thread scratch
//! buffer, and only bytes the peer cannot take yet are kept, in a buffer freed once sent.

use socket2::SockRef;
use std::cell::RefCell;
use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use tokio::net::TcpStream;

const SCRATCH: usize = 64 * 1024;

thread_local! {
    static SCRATCH_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH].into_boxed_slice());
}

/// Which end of a relay failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Origin,
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
}

/// The error of one direction, with the side that failed.
type Failure = Option<(Side, io::Error)>;

/// Copies `from` to `to` until `from` ends, then half-closes `to`; counts bytes in `moved`.
async fn pump(
    from: &TcpStream,
    to: &TcpStream,
    from_side: Side,
    to_side: Side,
    moved: &AtomicU64,
) -> Failure {
    let mut pending: Vec<u8> = Vec::new();
    loop {
        if let Err(e) = from.readable().await {
            return Some((from_side, e));
        }
        let step = SCRATCH_BUF.with(|buf| {
            let buf = &mut buf.borrow_mut()[..];
            let n = match from.try_read(buf) {
                Ok(0) => return Ok(None),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Some(0)),
                Err(e) => return Err((from_side, e)),
            };
            let mut sent = 0;
            while sent < n {
                match to.try_write(&buf[sent..n]) {
                    Ok(w) => sent += w,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err((to_side, e)),
                }
            }
            pending.extend_from_slice(&buf[sent..n]);
            Ok(Some(n))
        });
        match step {
            // One writer per counter: a plain load and store, no locked instruction.
            Ok(Some(n)) => moved.store(moved.load(Relaxed) + n as u64, Relaxed),
            Ok(None) => {
                // End of stream: pass the FIN on, and let the other direction go on.
                return match SockRef::from(to).shutdown(Shutdown::Write) {
                    Ok(()) => None,
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => None,
                    Err(e) => Some((to_side, e)),
                };
            }
            Err(failure) => return Some(failure),
        }
        // The peer is slow: wait until it takes the rest, then free the buffer.
        while !pending.is_empty() {
            if let Err(e) = to.writable().await {
                return Some((to_side, e));
            }
            match to.try_write(&pending) {
                Ok(w) => {
                    pending.drain(..w);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Some((to_side, e)),
            }
        }
        pending = Vec::new();
    }
}

/// Relays until both directions have ended, or until either fails (then both are dropped).
pub async fn relay(client: &TcpStream, origin: &TcpStream) -> Relayed {
    let (client_bytes, origin_bytes) = (AtomicU64::new(0), AtomicU64::new(0));
    let up = pump(client, origin, Side::Client, Side::Origin, &client_bytes);
    let down = pump(origin, client, Side::Origin, Side::Client, &origin_bytes);
    tokio::pin!(up, down);
    let (mut up_done, mut down_done) = (false, false);
    let mut error = None;
    while error.is_none() && !(up_done && down_done) {
        error = tokio::select! {
            e = &mut up, if !up_done => { up_done = true; e }
            e = &mut down, if !down_done => { down_done = true; e }
        };
    }
    Relayed {
        client_bytes: client_bytes.load(Relaxed),
        origin_bytes: origin_bytes.load(Relaxed),
        error,
    }
}
