//! Moves decrypted bytes both ways between a client's TLS stream and its origin stream,
//! propagating half-close (close_notify, FIN), holding no buffer while the connection is idle.
//!
//! Written by hand rather than with `tokio::io::copy_bidirectional`, which keeps two 8 KiB
//! buffers per connection for its whole life: reads go through the TCP relay's per-thread
//! scratch buffer, and only bytes the other side cannot take yet are kept (freed once sent).

use crate::tcp::relay::with_scratch;
use crate::telemetry::outcome::Side;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Plaintext a read may take at once (a TLS record's worth).
const READ: usize = 16 * 1024;

/// One direction: what it still has to write, and how far it got.
#[derive(Default)]
struct Half {
    /// Bytes read but not yet taken by the writer, and how many of them are written.
    pending: Option<(Box<[u8]>, usize)>,
    needs_flush: bool,
    eof: bool,
    shut: bool,
    bytes: u64,
}

/// The relay of a client stream `a` and an origin stream `b`.
pub(crate) struct Relay<A, B> {
    a: A,
    b: B,
    up: Half,
    down: Half,
    start: Instant,
    /// Milliseconds after `start` when a byte last moved.
    last_ms: u64,
}

impl<A, B> Relay<A, B> {
    pub fn new(a: A, b: B) -> Self {
        Relay {
            a,
            b,
            up: Half::default(),
            down: Half::default(),
            start: Instant::now(),
            last_ms: 0,
        }
    }

    /// When a byte last moved either way.
    pub fn last_active(&self) -> Instant {
        self.start + std::time::Duration::from_millis(self.last_ms)
    }

    /// Bytes from the client, bytes from the origin.
    pub fn bytes(&self) -> (u64, u64) {
        (self.up.bytes, self.down.bytes)
    }
}

/// An error of the reading side (`Err(Ok)`) or the writing side (`Err(Err)`).
type Failed = Result<io::Error, io::Error>;

/// Moves what `r` has to `w` until `r` ends (then shuts `w` down) or nothing more can move now.
fn pump<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    cx: &mut Context<'_>,
    r: &mut R,
    w: &mut W,
    half: &mut Half,
    moved: &mut bool,
) -> Poll<Result<(), Failed>> {
    loop {
        if let Some((buf, written)) = &mut half.pending {
            while *written < buf.len() {
                let n = ready!(Pin::new(&mut *w).poll_write(cx, &buf[*written..])).map_err(Err)?;
                if n == 0 {
                    return Poll::Ready(Err(Err(io::ErrorKind::WriteZero.into())));
                }
                *written += n;
                *moved = true;
            }
            half.pending = None;
            half.needs_flush = true;
        }
        if half.needs_flush {
            ready!(Pin::new(&mut *w).poll_flush(cx)).map_err(Err)?;
            half.needs_flush = false;
        }
        if half.eof {
            if !half.shut {
                ready!(Pin::new(&mut *w).poll_shutdown(cx)).map_err(Err)?;
                half.shut = true;
            }
            return Poll::Ready(Ok(()));
        }
        let step = with_scratch(|scratch| -> Poll<Result<(), Failed>> {
            let scratch = &mut scratch[..READ];
            let mut read = ReadBuf::new(scratch);
            ready!(Pin::new(&mut *r).poll_read(cx, &mut read)).map_err(Ok)?;
            let n = read.filled().len();
            if n == 0 {
                half.eof = true;
                return Poll::Ready(Ok(()));
            }
            half.bytes += n as u64;
            *moved = true;
            let mut written = 0;
            while written < n {
                match Pin::new(&mut *w).poll_write(cx, &scratch[written..n]) {
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Err(Err(io::ErrorKind::WriteZero.into())))
                    }
                    Poll::Ready(Ok(k)) => written += k,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(Err(e))),
                    Poll::Pending => {
                        // The writer is full: keep the rest until it takes it.
                        half.pending = Some((scratch[written..n].into(), 0));
                        break;
                    }
                }
            }
            half.needs_flush = true;
            Poll::Ready(Ok(()))
        });
        ready!(step)?;
    }
}

impl<A, B> Future for Relay<A, B>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    /// Bytes each way, or which side failed and how.
    type Output = Result<(u64, u64), (Side, io::Error)>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut moved = false;
        let up = pump(cx, &mut this.a, &mut this.b, &mut this.up, &mut moved);
        let down = pump(cx, &mut this.b, &mut this.a, &mut this.down, &mut moved);
        if moved {
            this.last_ms = this.start.elapsed().as_millis() as u64;
        }
        let side = |failed: Failed, reader: Side, writer: Side| match failed {
            Ok(e) => (reader, e),
            Err(e) => (writer, e),
        };
        match (up, down) {
            (Poll::Ready(Err(f)), _) => Poll::Ready(Err(side(f, Side::Client, Side::Origin))),
            (_, Poll::Ready(Err(f))) => Poll::Ready(Err(side(f, Side::Origin, Side::Client))),
            (Poll::Ready(Ok(())), Poll::Ready(Ok(()))) => Poll::Ready(Ok(this.bytes())),
            _ => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_cross_both_ways_through_small_pipes_and_half_close_passes_on() {
        // Pipes of 64 bytes: most writes are partial, so the pending path carries them.
        let (mut client, edge_client) = duplex(64);
        let (edge_origin, mut origin) = duplex(64);
        let relay = tokio::spawn(Relay::new(edge_client, edge_origin));
        let up: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let sent = up.clone();
        let writer = tokio::spawn(async move {
            client.write_all(&sent).await.unwrap();
            client.shutdown().await.unwrap();
            let mut back = Vec::new();
            client.read_to_end(&mut back).await.unwrap();
            back
        });
        let mut got = Vec::new();
        origin.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, up, "every byte, in order, then the client's EOF");
        origin.write_all(b"reply").await.unwrap();
        origin.shutdown().await.unwrap();
        assert_eq!(writer.await.unwrap(), b"reply");
        assert_eq!(relay.await.unwrap().unwrap(), (100_000, 5));
    }

    #[tokio::test]
    async fn an_idle_relay_holds_no_buffer_and_says_when_it_last_moved() {
        let (mut client, a) = duplex(1024);
        let (b, _origin) = duplex(1024);
        let mut relay = Relay::new(a, b);
        client.write_all(b"x").await.unwrap();
        let before = relay.last_active();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(Pin::new(&mut relay).poll(&mut cx).is_pending());
        assert!(relay.up.pending.is_none() && relay.down.pending.is_none());
        assert!(relay.last_active() > before);
        assert_eq!(relay.bytes(), (1, 0));
    }
}
