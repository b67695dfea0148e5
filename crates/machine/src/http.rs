//! Just enough HTTP to ask a local engine or etcd "are you up?" and to
//! import an image: one HTTP/1.0 request per connection, so the server
//! answers without chunking and closes. Written by hand because the machine
//! crate is synchronous and needs three requests, not an HTTP stack.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub enum Endpoint {
    Unix(PathBuf),
    Tcp(SocketAddr),
    /// TCP with TLS, the server verified by the configuration's CA (a TLS
    /// swarm master).
    Tls(SocketAddr, Arc<rustls::ClientConfig>),
}

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Sends one request and reads the whole answer.
pub fn request(
    to: &Endpoint,
    method: &str,
    path: &str,
    body: Option<(&str, &[u8])>,
    timeout: Duration,
) -> std::io::Result<Response> {
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: localhost\r\n");
    if let Some((content_type, bytes)) = body {
        head.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            bytes.len()
        ));
    }
    head.push_str("\r\n");
    let mut raw = vec![];
    match to {
        Endpoint::Unix(p) => {
            let mut s = UnixStream::connect(p)?;
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))?;
            exchange(&mut s, head.as_bytes(), body.map(|b| b.1), &mut raw)?;
        }
        Endpoint::Tcp(a) => {
            let mut s = TcpStream::connect_timeout(a, timeout)?;
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))?;
            exchange(&mut s, head.as_bytes(), body.map(|b| b.1), &mut raw)?;
        }
        Endpoint::Tls(a, config) => {
            let s = TcpStream::connect_timeout(a, timeout)?;
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))?;
            let conn = rustls::ClientConnection::new(config.clone(), a.ip().into())
                .map_err(std::io::Error::other)?;
            let mut tls = rustls::StreamOwned::new(conn, s);
            match exchange(&mut tls, head.as_bytes(), body.map(|b| b.1), &mut raw) {
                // a server that closes without close_notify after its answer
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
                r => r?,
            }
        }
    }
    parse(&raw)
}

fn exchange(
    s: &mut (impl Read + Write),
    head: &[u8],
    body: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    s.write_all(head)?;
    if let Some(b) = body {
        s.write_all(b)?;
    }
    s.flush()?;
    s.read_to_end(out)?;
    Ok(())
}

fn parse(raw: &[u8]) -> std::io::Result<Response> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    Ok(Response {
        status,
        body: raw[split + 4..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_body() {
        let r = parse(b"HTTP/1.0 200 OK\r\nApi-Version: 1.41\r\n\r\nOK").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"OK"[..]));
        assert!(parse(b"garbage").is_err());
    }

    #[test]
    fn talks_to_a_real_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = c.read(&mut buf).unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            c.write_all(b"HTTP/1.0 204 No Content\r\n\r\n").unwrap();
            req
        });
        let r = request(
            &Endpoint::Unix(path),
            "GET",
            "/_ping",
            None,
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(r.status, 204);
        assert!(server
            .join()
            .unwrap()
            .starts_with("GET /_ping HTTP/1.0\r\n"));
    }
}
