//! Heap bytes per idle UDP flow, split into what tokio keeps for any registered socket (the
//! flow's socket to its origin) and what Spectra keeps per flow on top of it.
//!
//! `cargo run --release -p proxy --example udp_flow_memory [FLOWS]` prints one JSON line.
//! Counted by a global allocator, so the figure is exact and repeatable (unlike RSS).

use model::{App, AppConfig, Snapshot};
use proxy::{DataPlane, Options};
use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Bytes currently allocated on the heap.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

// SAFETY: forwards to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Relaxed)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let flows: isize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let origin = std::net::UdpSocket::bind("127.0.0.1:0").unwrap(); // never reads
    let origin_addr = origin.local_addr().unwrap();

    // What tokio keeps for one registered, connected UDP socket.
    let before = live();
    let mut sockets = Vec::with_capacity(flows as usize);
    let vec_bytes = live() - before;
    for _ in 0..flows {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.connect(origin_addr).unwrap();
        s.set_nonblocking(true).unwrap();
        sockets.push(tokio::net::UdpSocket::from_std(s).unwrap());
    }
    let socket_bytes = (live() - before - vec_bytes) / flows;
    drop(sockets);

    let plane = DataPlane::new(
        Options {
            resolver: Some(SocketAddr::from(([127, 0, 0, 1], 9))),
            udp_max_flows: flows as usize + 10,
            ..Options::default()
        },
        None,
        None,
    )
    .expect("the data plane starts");
    let (published, snapshots) = tokio::sync::watch::channel(Arc::new(Snapshot::default()));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(plane.run(snapshots, shutdown.clone()));
    let edge: SocketAddr = "127.0.0.1:12153".parse().unwrap();
    let config = AppConfig::from_json(serde_json::json!({
        "protocol": "udp/12153", "dns": {"name": "m.example.com"},
        "origin_direct": [format!("udp://{origin_addr}")],
    }))
    .unwrap();
    let app = App::new(
        "a".repeat(32),
        "0".repeat(32),
        chrono::Utc::now(),
        config,
        vec![edge.ip()],
    );
    let snapshot = Snapshot {
        revision: 1,
        zones: Default::default(),
        apps: [(app.id.clone(), Arc::new(app))].into_iter().collect(),
        ..Default::default()
    };
    published.send_replace(Arc::new(snapshot));
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Warm up the runtime, the flow table and the allocator with a first batch of flows.
    let warm: Vec<_> = (0..64).map(|_| client(edge)).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let clients_before = live();
    let before = live();
    let clients: Vec<_> = (0..flows).map(|_| client(edge)).collect();
    let clients_vec = live() - clients_before;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let flow_bytes = (live() - before - clients_vec) / flows;
    println!(
        "{{\"flows\":{flows},\"tokio_socket_bytes\":{socket_bytes},\"flow_bytes\":{flow_bytes},\"spectra_bytes_beyond_the_socket\":{}}}",
        flow_bytes - socket_bytes
    );
    drop((warm, clients));
    shutdown.cancel();
    running.await.unwrap();
}

/// A client that opens one flow: one datagram, then silence.
fn client(edge: SocketAddr) -> std::net::UdpSocket {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.send_to(b"x", edge).unwrap();
    s
}
