//! The authoritative server: UDP answered by a loop of its own, TCP by hickory-server, both
//! from the zone data of the latest publication.

use crate::respond::decide;
use crate::zone_data::{ZoneData, ZoneSettings};
use crate::DnsError;
use arc_swap::ArcSwap;
use hickory_proto::serialize::binary::{BinDecodable, BinEncoder};
use hickory_proto::xfer::Protocol;
use hickory_server::authority::MessageRequest;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::ServerFuture;
use model::Publication;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UdpSocket};

/// A TCP client silent for this long is closed.
const TCP_TIMEOUT: Duration = Duration::from_secs(10);

/// The zone data being served, replaced whole on every change.
pub struct Published {
    settings: ZoneSettings,
    data: ArcSwap<ZoneData>,
    serial: AtomicU32,
    rotation: AtomicUsize,
}

impl Published {
    pub fn new(settings: ZoneSettings) -> Published {
        // Serials start from the clock so that they grow across restarts too.
        let start = chrono::Utc::now().timestamp() as u32;
        Published {
            settings,
            data: ArcSwap::from_pointee(ZoneData::default()),
            serial: AtomicU32::new(start),
            rotation: AtomicUsize::new(0),
        }
    }

    /// Serves `publication` from now on, with a new `SOA` serial.
    pub fn update(&self, publication: &Publication) {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        let data = ZoneData::build(publication, &self.settings, serial);
        self.data.store(Arc::new(data));
    }

    pub fn settings(&self) -> &ZoneSettings {
        &self.settings
    }

    pub fn current(&self) -> Arc<ZoneData> {
        self.data.load_full()
    }

    fn rotation(&self) -> usize {
        self.rotation.fetch_add(1, Ordering::Relaxed)
    }
}

/// TCP, through hickory-server (framing, pipelining, idle timeouts).
struct Handler(Arc<Published>);

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler>(
        &self,
        request: &Request,
        mut responder: R,
    ) -> ResponseInfo {
        let data = self.0.data.load_full();
        let decision = decide(request, &data, self.0.rotation());
        let response = decision.response(request);
        let header = *response.header();
        match responder.send_response(response).await {
            Ok(info) => info,
            Err(error) => {
                tracing::debug!(%error, "cannot send a DNS response");
                header.into()
            }
        }
    }
}

/// UDP: one datagram in, one out, in place. hickory-server's UDP front end spawns a task and
/// crosses a channel per query, which costs a quarter of the throughput (bench/dns.py).
async fn answer_udp(socket: UdpSocket, published: Arc<Published>) -> Result<(), DnsError> {
    let mut incoming = vec![0u8; 4096];
    let mut outgoing = Vec::with_capacity(crate::respond::MAX_UDP_PAYLOAD as usize);
    loop {
        let (n, peer) = match socket.recv_from(&mut incoming).await {
            Ok(got) => got,
            // An ICMP error of an earlier answer's client, reported here on Linux.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Err(e) => return Err(e.into()),
        };
        let Ok(message) = MessageRequest::from_bytes(&incoming[..n]) else {
            continue;
        };
        let request = Request::new(message, peer, Protocol::Udp);
        {
            let data = published.data.load();
            let decision = decide(&request, &data, published.rotation());
            outgoing.clear();
            let mut encoder = BinEncoder::new(&mut outgoing);
            if let Err(error) = decision.response(&request).destructive_emit(&mut encoder) {
                tracing::debug!(%error, "cannot encode a DNS response");
                continue;
            }
        }
        if let Err(error) = socket.send_to(&outgoing, peer).await {
            tracing::debug!(%error, %peer, "cannot send a DNS response");
        }
    }
}

/// A UDP socket and a TCP listener on the same address. With port 0, the port the UDP socket
/// got may be taken for TCP: a few other ports are tried.
pub async fn bind_pair(addr: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let mut tries = if addr.port() == 0 { 16 } else { 1 };
    loop {
        let udp = UdpSocket::bind(addr).await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries > 1 => tries -= 1,
            Err(e) => return Err(e),
        }
    }
}

/// Answers queries on `udp` and `tcp` (bound by the caller) from `published` until `shutdown`.
pub async fn serve(
    udp: Vec<UdpSocket>,
    tcp: Vec<TcpListener>,
    published: Arc<Published>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DnsError> {
    let mut server = ServerFuture::new(Handler(published.clone()));
    for listener in tcp {
        server.register_listener(listener, TCP_TIMEOUT);
    }
    let mut loops = tokio::task::JoinSet::new();
    for socket in udp {
        loops.spawn(answer_udp(socket, published.clone()));
    }
    tokio::select! {
        result = server.block_until_done() => result?,
        Some(result) = loops.join_next() => result.map_err(std::io::Error::other)??,
        () = shutdown => server.shutdown_gracefully().await?,
    }
    Ok(())
}
