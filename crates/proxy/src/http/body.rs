//! The body types of an `http` app: what goes to origins and clients (boxed, so a streamed
//! body and an edge page share one type), and a response body that counts its
//! bytes and writes the request's log line when it ends.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};

pub type Body = BoxBody<Bytes, hyper::Error>;

pub fn full(text: impl Into<Bytes>) -> Body {
    Full::new(text.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Called once with the bytes sent and whether the body ended whole, when it ends or is dropped.
pub type OnEnd = Box<dyn FnOnce(u64, bool) + Send + Sync>;

/// A body that counts the bytes it yields.
pub struct Counted {
    inner: Body,
    bytes: u64,
    on_end: Option<OnEnd>,
}

impl Counted {
    pub fn new(inner: Body, on_end: OnEnd) -> Counted {
        Counted {
            inner,
            bytes: 0,
            on_end: Some(on_end),
        }
    }

    fn end(&mut self, whole: bool) {
        if let Some(on_end) = self.on_end.take() {
            on_end(self.bytes, whole);
        }
    }
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) => self.end(true),
            Poll::Ready(Some(Err(_))) => self.end(false),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        // A body with nothing in it may be dropped unpolled: it ended whole all the same.
        let whole = self.inner.is_end_stream();
        self.end(whole);
    }
}
