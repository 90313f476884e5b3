//! Reaching an origin over TCP: the balancer's plan tried in order within the connect budget
//! (failing over), each open origin connection counted in the balancer, and socket options.

use crate::origin::balancer::Target;
use crate::runtime::context::Settings;
use crate::telemetry::outcome::connect_status;
use socket2::{SockRef, TcpKeepalive};
use std::io;
use std::net::SocketAddr;
use std::ops::Deref;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// After this long without traffic, TCP keepalive probes check that the peer is still there.
pub(crate) const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);

/// No Nagle delay, and keepalive, so dead peers of idle connections are found. Client
/// sockets inherit both from their listener; origin sockets get them here.
pub(crate) fn tune(socket: SockRef<'_>) {
    let _ = socket.set_tcp_nodelay(true);
    let _ = socket.set_tcp_keepalive(&TcpKeepalive::new().with_time(KEEPALIVE_IDLE));
}

/// An open origin connection, counted in its balancer until dropped. `S`: a reference to the
/// settings, or an `Arc` for a connection that owns its state.
pub(crate) struct Active<S: Deref<Target = Settings>> {
    settings: S,
    target: Target,
}

impl<S: Deref<Target = Settings>> Active<S> {
    /// The origin `target` answered: counted open (and healthy) in the balancer.
    pub fn new(settings: S, target: Target) -> Active<S> {
        settings.balancer().connected(target.addr);
        Active { settings, target }
    }

    /// The origin's address, for an origin connection that outlives this borrow (an `http`
    /// app's pooled one): whoever keeps it tells the balancer when it closes.
    pub fn detach(self) -> SocketAddr {
        let addr = self.target.addr;
        std::mem::forget(self);
        addr
    }
}

impl<S: Deref<Target = Settings>> Drop for Active<S> {
    fn drop(&mut self) {
        self.settings.balancer().closed(self.target.addr);
    }
}

/// Tries the origins in the balancer's order until one answers, within `budget`, giving each
/// attempt an equal share of what is left so a black-holing origin cannot eat all of it.
pub(crate) async fn connect(
    settings: &Settings,
    edge: SocketAddr,
    budget: Duration,
) -> Result<(TcpStream, SocketAddr, Active<&Settings>), (u16, Option<SocketAddr>)> {
    let deadline = Instant::now() + budget;
    if let Some(resolved) = &settings.resolved {
        // A connection that arrives while the first answer is on its way waits for it.
        let mut resolved = resolved.clone();
        let _ = tokio::time::timeout(budget, resolved.wait_for(|done| *done)).await;
    }
    let plan = settings.plan(edge.port());
    if plan.is_empty() {
        return Err((531, None));
    }
    let mut last = (522, None);
    for (i, &(target, addr)) in plan.iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let share = left / (plan.len() - i) as u32;
        let error = match tokio::time::timeout(share, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok((stream, addr, Active::new(settings, target))),
            Ok(Err(e)) => e,
            Err(_) => io::Error::from(io::ErrorKind::TimedOut),
        };
        tracing::warn!(origin = %addr, %error, "origin connect failed");
        settings.balancer().failed(target.addr, Instant::now());
        last = (connect_status(&error), Some(addr));
    }
    Err(last)
}
