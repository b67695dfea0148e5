//! Hijacked connections (attach, exec start): an HTTP upgrade proxied to an
//! engine, then raw bytes copied both ways.
//!
//! The four steps: capture the client's upgrade, forward the request,
//! capture the engine's upgrade, then splice the two connections, keeping
//! half-closes: the client closing its write side (no stdin, or stdin at
//! EOF) is passed on as a half-close to the engine while output keeps
//! flowing; the engine closing (container or exec ended) closes the client
//! connection fully, which is what ends `docker run` and `docker exec`.

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use shoal_engine::{body, Client, Engine, EngineError};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::proxy::{engine_error, pass_response, upstream_request};
use crate::reply::Reply;

/// Whether the client asks to upgrade the connection.
pub fn wants_upgrade(req: &Request<Incoming>) -> bool {
    req.headers().contains_key(UPGRADE)
        || req
            .headers()
            .get(CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("upgrade"))
}

/// Proxies an upgrade request to `engine`. When the engine switches
/// protocols, answers the client `HTTP/1.1 101 UPGRADED` (the exact status
/// line docker CLI 28 expects) and splices the two connections in a task.
/// Any other answer of the engine (an error, or a plain 200 stream from an
/// old engine) is passed on as is.
pub async fn proxy(engine: &Engine, req: Request<Incoming>, path_and_query: &str) -> Reply {
    match proxy_via(engine.client(), req, path_and_query).await {
        Ok(r) => r,
        Err(e) => engine_error(engine, &e),
    }
}

/// [`proxy`] through any Docker API `client` (an engine's, or a replica's
/// to its primary manager); a failed call is the caller's to answer.
pub async fn proxy_via(
    client: &Client,
    mut req: Request<Incoming>,
    path_and_query: &str,
) -> Result<Reply, EngineError> {
    let client_upgrade = hyper::upgrade::on(&mut req);
    let (parts, incoming) = req.into_parts();
    let mut up = upstream_request(&parts, path_and_query, body::boxed(incoming));
    up.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    let proto = parts
        .headers
        .get(UPGRADE)
        .cloned()
        .unwrap_or(HeaderValue::from_static("tcp"));
    up.headers_mut().insert(UPGRADE, proto.clone());
    let mut resp = client.send(up).await?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Ok(pass_response(resp));
    }
    let engine_upgrade = hyper::upgrade::on(&mut resp);
    let content_type =
        resp.headers()
            .get(CONTENT_TYPE)
            .cloned()
            .unwrap_or(HeaderValue::from_static(
                "application/vnd.docker.raw-stream",
            ));
    let addr = client.endpoint().display();
    tokio::spawn(async move {
        let (client, upstream) = match tokio::try_join!(client_upgrade, engine_upgrade) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(engine = %addr, "hijack upgrade failed: {e}");
                return;
            }
        };
        splice(TokioIo::new(client), TokioIo::new(upstream)).await;
    });
    let mut out = Response::new(body::empty());
    *out.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    out.extensions_mut()
        .insert(hyper::ext::ReasonPhrase::from_static(b"UPGRADED"));
    let h = out.headers_mut();
    h.insert(CONTENT_TYPE, content_type);
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, proto);
    Ok(out)
}

/// Copies bytes both ways until the upstream side ends. Client EOF becomes
/// a write shutdown towards upstream (output keeps flowing); upstream EOF
/// shuts the client down and ends the splice, whatever the client still does.
pub async fn splice<C, U>(client: C, upstream: U)
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let (mut client_r, mut client_w) = tokio::io::split(client);
    let (mut up_r, mut up_w) = tokio::io::split(upstream);
    let to_upstream = async {
        let r = tokio::io::copy(&mut client_r, &mut up_w).await;
        let _ = up_w.shutdown().await;
        r
    };
    let to_client = async {
        let r = tokio::io::copy(&mut up_r, &mut client_w).await;
        let _ = client_w.shutdown().await;
        r
    };
    tokio::pin!(to_upstream, to_client);
    let mut upstream_done = false;
    loop {
        tokio::select! {
            r = &mut to_client => {
                if let Err(e) = r {
                    tracing::debug!("hijack: engine to client copy ended: {e}");
                }
                break;
            }
            r = &mut to_upstream, if !upstream_done => {
                upstream_done = true;
                if let Err(e) = r {
                    tracing::debug!("hijack: client to engine copy ended: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use std::sync::Arc;

    use shoal_engine::{EngineOpts, EventHub};
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    /// Reads an HTTP head byte by byte (not a byte of the stream after it).
    async fn read_head(s: &mut TcpStream) -> String {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            if s.read(&mut b).await.unwrap() == 0 {
                break;
            }
            head.push(b[0]);
        }
        String::from_utf8(head).unwrap()
    }

    /// A manager (one connection) whose every request is hijack-proxied to
    /// `engine_addr` at `path`; returns its address.
    async fn manager_for(engine_addr: String, path: &'static str) -> std::net::SocketAddr {
        let engine = Engine::new(
            &engine_addr,
            EngineOpts::default(),
            Arc::new(EventHub::new(16)),
        )
        .unwrap();
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let svc = hyper::service::service_fn(move |req| {
                let e = engine.clone();
                async move { Ok::<_, Infallible>(proxy(&e, req, path).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(s), svc)
                .with_upgrades()
                .await;
        });
        addr
    }

    const ATTACH: &[u8] =
        b"POST /v1.41/containers/web/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: x\r\n\
        Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n";

    #[tokio::test]
    async fn upgrade_is_forwarded_and_spliced_with_half_close() {
        let engine_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let engine_addr = engine_l.local_addr().unwrap().to_string();
        let fake_engine = tokio::spawn(async move {
            let (mut s, _) = engine_l.accept().await.unwrap();
            let head = read_head(&mut s).await;
            assert!(
                head.starts_with("POST /v1.41/containers/abc/attach?stream=1 HTTP/1.1\r\n"),
                "{head}"
            );
            let lower = head.to_ascii_lowercase();
            assert!(
                lower.contains("upgrade: tcp") && lower.contains("connection: upgrade"),
                "{head}"
            );
            s.write_all(
                b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n\
                  Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
            )
            .await
            .unwrap();
            // stdin until the client's half-close reaches us, then output
            let mut stdin = Vec::new();
            s.read_to_end(&mut stdin).await.unwrap();
            s.write_all(format!("got:{}", String::from_utf8_lossy(&stdin)).as_bytes())
                .await
                .unwrap();
        });
        let addr = manager_for(engine_addr, "/v1.41/containers/abc/attach?stream=1").await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(ATTACH).await.unwrap();
        let head = read_head(&mut c).await;
        assert!(head.starts_with("HTTP/1.1 101 UPGRADED\r\n"), "{head}");
        let lower = head.to_ascii_lowercase();
        assert!(
            lower.contains("content-type: application/vnd.docker.raw-stream"),
            "{head}"
        );
        assert!(
            lower.contains("connection: upgrade") && lower.contains("upgrade: tcp"),
            "{head}"
        );
        c.write_all(b"ping").await.unwrap();
        c.shutdown().await.unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"got:ping");
        fake_engine.await.unwrap();
    }

    #[tokio::test]
    async fn an_engine_error_is_passed_on() {
        let engine_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let engine_addr = engine_l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = engine_l.accept().await.unwrap();
            read_head(&mut s).await;
            let body = br#"{"message":"container abc is not running"}"#;
            let head = format!(
                "HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).await.unwrap();
            s.write_all(body).await.unwrap();
        });
        let addr = manager_for(engine_addr, "/containers/abc/attach").await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(ATTACH).await.unwrap();
        let head = read_head(&mut c).await;
        assert!(head.starts_with("HTTP/1.1 409"), "{head}");
        let mut body = vec![0u8; 42];
        c.read_exact(&mut body).await.unwrap();
        assert_eq!(body, br#"{"message":"container abc is not running"}"#);
    }

    #[tokio::test]
    async fn splice_keeps_half_close_and_ends_with_upstream() {
        let (client_side, mut client) = tokio::io::duplex(1024);
        let (upstream_side, mut engine) = tokio::io::duplex(1024);
        let task = tokio::spawn(splice(client_side, upstream_side));
        client.write_all(b"stdin").await.unwrap();
        client.shutdown().await.unwrap(); // stdin EOF: half-close
        let mut got = Vec::new();
        engine.read_to_end(&mut got).await.unwrap(); // engine sees EOF after the bytes
        assert_eq!(got, b"stdin");
        engine.write_all(b"output after half-close").await.unwrap();
        drop(engine); // the exec ended
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"output after half-close");
        task.await.unwrap();
    }

    #[tokio::test]
    async fn upstream_end_closes_even_with_stdin_open() {
        let (client_side, mut client) = tokio::io::duplex(1024);
        let (upstream_side, mut engine) = tokio::io::duplex(1024);
        let task = tokio::spawn(splice(client_side, upstream_side));
        engine.write_all(b"bye").await.unwrap();
        drop(engine);
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"bye");
        task.await.unwrap();
    }
}
