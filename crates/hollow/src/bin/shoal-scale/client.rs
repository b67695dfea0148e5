//! A keep-alive HTTP/1.1 client to the manager: one connection per client,
//! reopened when it breaks (a docker CLI would open one per command; the
//! bench measures the manager, not connection setup).

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;

pub struct Client {
    addr: String,
    sender: Option<SendRequest<Full<Bytes>>>,
    timeout: Duration,
}

impl Client {
    pub fn new(addr: &str, timeout: Duration) -> Self {
        Client {
            addr: addr.to_string(),
            sender: None,
            timeout,
        }
    }

    async fn connect(&mut self) -> anyhow::Result<&mut SendRequest<Full<Bytes>>> {
        let usable = self.sender.as_ref().is_some_and(|s| !s.is_closed());
        if !usable {
            let stream = tokio::net::TcpStream::connect(&self.addr)
                .await
                .with_context(|| format!("connecting to the manager at {}", self.addr))?;
            let _ = stream.set_nodelay(true);
            let (sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.sender = Some(sender);
        }
        Ok(self.sender.as_mut().expect("connected"))
    }

    /// One request, its answer read whole; returns status, body and time.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<(StatusCode, Bytes, Duration)> {
        let host = self.addr.clone();
        let timeout = self.timeout;
        let start = Instant::now();
        let fut = async {
            let sender = self.connect().await?;
            sender.ready().await?;
            let mut b = Request::builder()
                .method(method)
                .uri(path)
                .header(hyper::header::HOST, host)
                .header(hyper::header::USER_AGENT, "Docker-Client/28.2.2 (linux)");
            if body.is_some() {
                b = b.header(hyper::header::CONTENT_TYPE, "application/json");
            }
            let req = b.body(Full::new(body.unwrap_or_default()))?;
            let resp = sender.send_request(req).await?;
            let status = resp.status();
            let bytes = resp.into_body().collect().await?.to_bytes();
            Ok::<_, anyhow::Error>((status, bytes))
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(Ok((status, bytes))) => Ok((status, bytes, start.elapsed())),
            Ok(Err(e)) => {
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                bail!("{path}: no answer within {timeout:?}")
            }
        }
    }

    /// A call that must succeed with a 2xx status.
    pub async fn ok(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<(Bytes, Duration)> {
        let (status, bytes, took) = self.call(method, path, body).await?;
        if !status.is_success() && status != StatusCode::NOT_MODIFIED {
            return Err(anyhow!(
                "{path}: {status}: {}",
                String::from_utf8_lossy(&bytes).trim()
            ));
        }
        Ok((bytes, took))
    }
}
