//! Graceful shutdown: stop accepting, let requests in flight finish within a
//! grace period, end endless streams (events, followed logs and stats) at
//! once, then let the process exit.
//!
//! [`Shutdown::begin`] flips a flag every listener and connection watches:
//! listeners stop accepting and drop their socket; each connection tells
//! hyper to finish the request in progress and close (no new request on a
//! kept-alive connection); streaming answers of the endless kind end with
//! their last complete chunk, so `docker events` and `docker logs -f`
//! return normally. [`Shutdown::drained`] waits for every connection to
//! end, at most the grace period. Hijacked connections (attach, exec) are
//! closed when the process exits, which the client sees as the end of the
//! stream.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use shoal_engine::{Body, BoxError};
use tokio::sync::{watch, Notify};

/// The shutdown signal and the count of open connections.
#[derive(Debug)]
pub struct Shutdown {
    flag: watch::Sender<bool>,
    open: AtomicUsize,
    idle: Notify,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        Shutdown {
            flag: watch::channel(false).0,
            open: AtomicUsize::new(0),
            idle: Notify::new(),
        }
    }

    /// Starts the shutdown (idempotent).
    pub fn begin(&self) {
        self.flag.send_replace(true);
    }

    pub fn is_begun(&self) -> bool {
        *self.flag.borrow()
    }

    /// Resolves once the shutdown has begun.
    pub fn begun(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.flag.subscribe();
        async move {
            let _ = rx.wait_for(|b| *b).await;
        }
    }

    /// Counts a connection as open until the guard is dropped.
    pub fn connection(self: &Arc<Self>) -> ConnGuard {
        self.open.fetch_add(1, Ordering::SeqCst);
        ConnGuard(self.clone())
    }

    /// Connections still open.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Waits until no connection is open, at most `grace`; returns how many
    /// were still open when it gave up (0: all done).
    pub async fn drained(&self, grace: Duration) -> usize {
        let wait = async {
            loop {
                let notified = self.idle.notified();
                if self.open() == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(grace, wait).await;
        self.open()
    }

    /// `body`, ended cleanly (after its last complete frame) when the
    /// shutdown begins: for streams that never end by themselves.
    pub fn until_shutdown(&self, body: Body) -> Body {
        shoal_engine::body::boxed(UntilShutdown {
            inner: body,
            begun: Box::pin(self.begun()),
            done: false,
        })
    }
}

/// An open connection; dropping it counts it closed.
pub struct ConnGuard(Arc<Shutdown>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

struct UntilShutdown {
    inner: Body,
    begun: Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    done: bool,
}

impl HttpBody for UntilShutdown {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.begun.as_mut().poll(cx).is_ready() {
            self.done = true;
            return Poll::Ready(None);
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        // Never an exact size: it may end early.
        let mut h = SizeHint::new();
        h.set_lower(0);
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_stream_ends_when_the_shutdown_begins() {
        let s = Arc::new(Shutdown::new());
        let (tx, body) = shoal_engine::body::channel(4);
        let mut body = s.until_shutdown(body);
        tx.send(Bytes::from_static(b"one")).await.unwrap();
        let f = body.frame().await.unwrap().unwrap();
        assert_eq!(f.into_data().unwrap(), "one");
        s.begin();
        assert!(body.frame().await.is_none(), "ended, not failed");
        drop(tx);
    }

    #[tokio::test]
    async fn drained_waits_for_open_connections() {
        let s = Arc::new(Shutdown::new());
        let g = s.connection();
        assert_eq!(s.drained(Duration::from_millis(20)).await, 1);
        let s2 = s.clone();
        let waiter = tokio::spawn(async move { s2.drained(Duration::from_secs(30)).await });
        drop(g);
        assert_eq!(waiter.await.unwrap(), 0);
    }
}
