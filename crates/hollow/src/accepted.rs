//! An accepted engine connection as hyper drives it, less one syscall:
//! hyper shuts the write side down (`shutdown(SHUT_WR)`) when a connection
//! ends and only then drops it, and the drop closes the socket, which
//! sends the FIN by itself. At 10,000 engines about every `docker run`
//! ends a connection. The `shutdown` was 5 % of the hollow processes'
//! samples, but most of that is sending the FIN (on loopback, with the
//! peer's side of it), which the close now does: what is saved is the
//! syscall, not the FIN.
//!
//! What the peer sees is the same: the answer, then the end of the stream.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A connection whose shutdown is left to the close that follows it.
#[derive(Debug)]
pub struct Accepted(pub TcpStream);

impl AsyncRead for Accepted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Accepted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    /// Nothing to do: TCP sends every byte written before the FIN that
    /// closing the socket sends.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
