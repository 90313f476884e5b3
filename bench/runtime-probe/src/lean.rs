//! The relay on one mio (edge-triggered epoll) loop: no task and no waker per connection, one
//! scratch buffer for every read, and no `EPOLL_CTL_DEL`: closing a socket's only descriptor
//! takes it out of epoll. What a lean reactor for Spectra's plain TCP apps could cost at best.

use crate::tune;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use socket2::SockRef;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};

const LISTENER: Token = Token(usize::MAX);
const SCRATCH: usize = 128 * 1024;

/// One direction: bytes the peer could not take yet, and whether the reading side has ended.
#[derive(Default)]
struct Direction {
    pending: Vec<u8>,
    done: bool,
}

struct Conn {
    client: TcpStream,
    origin: TcpStream,
    connected: bool,
    /// epoll said the peer's FIN (or an error) arrived: read on to the end even after a short
    /// read, since no further edge will come for it.
    client_hup: bool,
    origin_hup: bool,
    up: Direction,
    down: Direction,
}

impl Direction {
    /// Moves what can be moved now; sets `done` at the end of `from`, passing the FIN on unless
    /// the other direction has ended already (`last`: then closing both sends it).
    fn pump(
        &mut self,
        from: &mut TcpStream,
        to: &mut TcpStream,
        hup: bool,
        last: bool,
        buf: &mut [u8],
    ) -> io::Result<()> {
        if self.done {
            return Ok(());
        }
        while !self.pending.is_empty() {
            match to.write(&self.pending) {
                Ok(n) => drop(self.pending.drain(..n)),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        loop {
            let n = match from.read(buf) {
                Ok(0) => {
                    self.done = true;
                    if !last {
                        match to.shutdown(Shutdown::Write) {
                            Err(e) if e.kind() != ErrorKind::NotConnected => return Err(e),
                            _ => {}
                        }
                    }
                    return Ok(());
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let mut sent = 0;
            while sent < n {
                match to.write(&buf[sent..n]) {
                    Ok(w) => sent += w,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        self.pending.extend_from_slice(&buf[sent..n]);
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                }
            }
            // A short read drained the socket: the next bytes bring a new edge (a FIN that came
            // with these bytes does not, hence `hup`).
            if n < buf.len() && !hup {
                return Ok(());
            }
        }
    }
}

impl Conn {
    /// Runs both directions; `false` once the connection is over (ended or failed).
    fn pump(&mut self, buf: &mut [u8]) -> bool {
        let Conn {
            client,
            origin,
            up,
            down,
            ..
        } = self;
        let moved = up
            .pump(client, origin, self.client_hup, down.done, buf)
            .and_then(|()| down.pump(origin, client, self.origin_hup, up.done, buf));
        moved.is_ok() && !(up.done && down.done)
    }

    /// Whether the origin's connect has finished: `None` while it is under way.
    fn origin_connected(&self) -> Option<bool> {
        match self.origin.take_error() {
            Ok(None) => {}
            _ => return Some(false),
        }
        match self.origin.peer_addr() {
            Ok(_) => Some(true),
            Err(e) if e.kind() == ErrorKind::NotConnected => None,
            Err(_) => Some(false),
        }
    }
}

pub fn run(listener: std::net::TcpListener, origin: SocketAddr) {
    let mut poll = Poll::new().expect("epoll");
    let mut listener = TcpListener::from_std(listener);
    let registry = poll.registry().try_clone().expect("registry");
    registry
        .register(&mut listener, LISTENER, Interest::READABLE)
        .expect("register listener");
    let mut conns: Slab<Conn> = Slab::with_capacity(1024);
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; SCRATCH];
    let both = Interest::READABLE | Interest::WRITABLE;
    loop {
        match poll.poll(&mut events, None) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            result => result.expect("epoll_wait"),
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                // Accept everything queued: one wake-up, many connections.
                loop {
                    let client = match listener.accept() {
                        Ok((client, _)) => client,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    };
                    let Ok(upstream) = TcpStream::connect(origin) else {
                        continue;
                    };
                    tune(SockRef::from(&upstream));
                    let entry = conns.vacant_entry();
                    let key = entry.key();
                    let mut conn = Conn {
                        client,
                        origin: upstream,
                        connected: false,
                        client_hup: false,
                        origin_hup: false,
                        up: Direction::default(),
                        down: Direction::default(),
                    };
                    if registry
                        .register(&mut conn.client, Token(key << 1), both)
                        .is_ok()
                        && registry
                            .register(&mut conn.origin, Token(key << 1 | 1), both)
                            .is_ok()
                    {
                        entry.insert(conn);
                    }
                }
                continue;
            }
            let (key, origin_side) = (event.token().0 >> 1, event.token().0 & 1 == 1);
            // Gone already (or the key was reused within this batch: one spurious pump).
            let Some(conn) = conns.get_mut(key) else {
                continue;
            };
            if event.is_read_closed() || event.is_error() {
                match origin_side {
                    true => conn.origin_hup = true,
                    false => conn.client_hup = true,
                }
            }
            if !conn.connected {
                if !origin_side {
                    continue;
                }
                match conn.origin_connected() {
                    None => continue,
                    Some(true) => conn.connected = true,
                    Some(false) => {
                        conns.remove(key);
                        continue;
                    }
                }
            }
            if !conn.pump(&mut buf) {
                // Dropping closes both descriptors, which also takes them out of epoll.
                conns.remove(key);
            }
        }
    }
}
