//! The same minimal TCP relay on three runtimes, to measure what the runtime costs per
//! connection: `tokio` (a task per connection, `copy_bidirectional`), `mio` (one epoll loop, no
//! task, no deregistration: a closed socket leaves epoll with its descriptor) and `uring`
//! (monoio on io_uring). Each accepts on 127.0.0.1, connects to the origin, passes half-closes
//! on and closes, with the socket options Spectra uses (no Nagle, keepalive after 60 s).
//!
//!   usage: runtime-probe tokio|mio|uring LISTEN_ADDR ORIGIN_ADDR

mod lean;
mod uring;

use socket2::{Domain, SockRef, Socket, TcpKeepalive, Type};
use std::net::SocketAddr;
use std::time::Duration;

/// What Spectra sets on both sockets of a connection (client sockets inherit it).
fn tune(socket: SockRef<'_>) {
    let _ = socket.set_tcp_nodelay(true);
    let _ = socket.set_tcp_keepalive(&TcpKeepalive::new().with_time(Duration::from_secs(60)));
}

/// A listener as Spectra makes one: address reuse, backlog 4096, options inherited by clients.
fn listener(addr: SocketAddr) -> std::net::TcpListener {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).expect("socket");
    socket.set_reuse_address(true).expect("SO_REUSEADDR");
    tune(SockRef::from(&socket));
    socket.set_nonblocking(true).expect("O_NONBLOCK");
    socket.bind(&addr.into()).expect("bind");
    socket.listen(4096).expect("listen");
    socket.into()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, engine, listen, origin] = &args[..] else {
        eprintln!("usage: runtime-probe tokio|mio|uring LISTEN_ADDR ORIGIN_ADDR");
        std::process::exit(2);
    };
    let listen: SocketAddr = listen.parse().expect("LISTEN_ADDR");
    let origin: SocketAddr = origin.parse().expect("ORIGIN_ADDR");
    let listener = listener(listen);
    match engine.as_str() {
        "tokio" => tokio_relay(listener, origin),
        "mio" => lean::run(listener, origin),
        "uring" => uring::run(listener, origin),
        other => panic!("unknown engine {other}"),
    }
}

/// Idiomatic tokio on one thread: a task per connection and `copy_bidirectional`.
fn tokio_relay(listener: std::net::TcpListener, origin: SocketAddr) {
    // PROBE_TIMER=1: as Spectra's runtime, with the timer driver and an idle timeout per relay.
    let timer = std::env::var_os("PROBE_TIMER").is_some();
    let mut builder = tokio::runtime::Builder::new_current_thread();
    match timer {
        true => builder.enable_all(),
        false => builder.enable_io(),
    };
    let rt = builder.build().expect("runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let Ok(mut upstream) = tokio::net::TcpStream::connect(origin).await else {
                    return;
                };
                tune(SockRef::from(&upstream));
                let relay = tokio::io::copy_bidirectional(&mut client, &mut upstream);
                if timer {
                    let _ = tokio::time::timeout(Duration::from_secs(600), relay).await;
                } else {
                    let _ = relay.await;
                }
            });
        }
    });
}
