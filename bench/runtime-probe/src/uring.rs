//! The relay on monoio's io_uring driver: a task per connection, each direction a `copy`
//! followed by a half-close of the other side.

use crate::tune;
use monoio::io::{AsyncWriteRent, Splitable};
use monoio::net::{TcpListener, TcpStream};
use socket2::SockRef;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

pub fn run(listener: std::net::TcpListener, origin: SocketAddr) {
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(4096)
        .build()
        .expect("io_uring runtime");
    rt.block_on(async move {
        let listener = TcpListener::from_std(listener).expect("listener");
        loop {
            let Ok((client, _)) = listener.accept().await else {
                continue;
            };
            monoio::spawn(async move {
                let Ok(upstream) = TcpStream::connect_addr(origin).await else {
                    return;
                };
                // SAFETY: the descriptor stays open for the borrow (`upstream` lives on).
                tune(SockRef::from(&unsafe {
                    BorrowedFd::borrow_raw(upstream.as_raw_fd())
                }));
                let (mut client_r, mut client_w) = client.into_split();
                let (mut origin_r, mut origin_w) = upstream.into_split();
                let up = async {
                    let _ = monoio::io::copy(&mut client_r, &mut origin_w).await;
                    let _ = origin_w.shutdown().await;
                };
                let down = async {
                    let _ = monoio::io::copy(&mut origin_r, &mut client_w).await;
                    let _ = client_w.shutdown().await;
                };
                monoio::join!(up, down);
            });
        }
    });
}
