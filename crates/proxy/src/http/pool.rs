//! Idle keep-alive connections to an app's origins, reused by later requests: shared by the
//! app's clients, or private to one client's connection when the app sends PROXY headers
//! (the header names the client that opened the origin connection).

use super::body::Body;
use hyper::client::conn::http1::SendRequest;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An idle origin connection is not reused after this long (origins close theirs sooner or later).
const IDLE_FOR: Duration = Duration::from_secs(30);
/// Idle connections kept per pool; more are closed.
const MAX_IDLE: usize = 256;

struct Idle {
    origin: SocketAddr,
    since: Instant,
    sender: SendRequest<Body>,
}

#[derive(Default)]
pub struct Pool {
    idle: Mutex<Vec<Idle>>,
}

impl Pool {
    /// The most recently used idle connection still open, with its origin (it may need a
    /// moment to be ready for the next request: `SendRequest::ready`).
    pub fn take(&self) -> Option<(SocketAddr, SendRequest<Body>)> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(i) = idle.pop() {
            if i.since.elapsed() < IDLE_FOR && !i.sender.is_closed() {
                return Some((i.origin, i.sender));
            }
        }
        None
    }

    /// Keeps a connection whose last response ended whole.
    pub fn put(&self, origin: SocketAddr, sender: SendRequest<Body>) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() >= MAX_IDLE {
            idle.remove(0);
        }
        idle.push(Idle {
            origin,
            since: Instant::now(),
            sender,
        });
    }
}
