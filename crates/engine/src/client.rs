//! An HTTP/1.1 client for one engine, over TCP or a unix socket.
//!
//! One connection per request (no pool): connections to engines are cheap
//! (loopback or a lab bridge) and it keeps upgrades (hijacked attach/exec)
//! and long streams (events, logs) from ever blocking one another.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde_json::Value;
use shoal_api_types::{ContainerInspect, ContainerSummary, ImageSummary, Info, Version};

use crate::body::{self, Body};
use crate::endpoint::Endpoint;
use crate::error::EngineError;

/// A client for one engine. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: Endpoint,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl Client {
    pub fn new(endpoint: Endpoint, connect_timeout: Duration, request_timeout: Duration) -> Self {
        Self {
            endpoint,
            connect_timeout,
            request_timeout,
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn addr(&self) -> String {
        self.endpoint.display()
    }

    /// Sends one request as is (its URI must be origin-form: path and
    /// query) and returns the answer with its body still streaming. Only
    /// connecting is bounded in time; the answer may take as long as the
    /// engine needs (wait, logs, events). Upgrades work on the answer.
    pub async fn send(&self, mut req: Request<Body>) -> Result<Response<Incoming>, EngineError> {
        if !req.headers().contains_key(hyper::header::HOST) {
            let host = match &self.endpoint {
                Endpoint::Tcp(hp) => hp.clone(),
                Endpoint::Unix(_) => "docker".into(),
            };
            if let Ok(v) = host.parse() {
                req.headers_mut().insert(hyper::header::HOST, v);
            }
        }
        let addr = self.addr();
        let secs = self.connect_timeout.as_secs().max(1);
        match &self.endpoint {
            Endpoint::Tcp(hp) => {
                let stream =
                    tokio::time::timeout(self.connect_timeout, tokio::net::TcpStream::connect(hp))
                        .await
                        .map_err(|_| EngineError::Timeout {
                            addr: addr.clone(),
                            secs,
                        })?
                        .map_err(|source| EngineError::Connect {
                            addr: addr.clone(),
                            source,
                        })?;
                let _ = stream.set_nodelay(true);
                send_on(TokioIo::new(stream), req, &addr).await
            }
            Endpoint::Unix(path) => {
                let stream = tokio::time::timeout(
                    self.connect_timeout,
                    tokio::net::UnixStream::connect(path),
                )
                .await
                .map_err(|_| EngineError::Timeout {
                    addr: addr.clone(),
                    secs,
                })?
                .map_err(|source| EngineError::Connect {
                    addr: addr.clone(),
                    source,
                })?;
                send_on(TokioIo::new(stream), req, &addr).await
            }
        }
    }

    /// A request with a JSON or empty body, its whole answer read within the
    /// request timeout. Error statuses become [`EngineError::Status`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        json: Option<&Value>,
    ) -> Result<(StatusCode, Bytes), EngineError> {
        let mut b = Request::builder().method(method).uri(path);
        let body = match json {
            Some(v) => {
                b = b.header(hyper::header::CONTENT_TYPE, "application/json");
                body::full(v.to_string())
            }
            None => body::empty(),
        };
        let req = b
            .body(body)
            .map_err(|e| self.decode_err(path, e.to_string()))?;
        let secs = self.request_timeout.as_secs().max(1);
        let fut = async {
            let resp = self.send(req).await?;
            let status = resp.status();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|source| EngineError::Http {
                    addr: self.addr(),
                    source,
                })?
                .to_bytes();
            Ok::<_, EngineError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.request_timeout, fut)
            .await
            .map_err(|_| EngineError::Timeout {
                addr: self.addr(),
                secs,
            })??;
        if status.is_client_error() || status.is_server_error() {
            return Err(EngineError::Status {
                status,
                message: error_message(&bytes),
            });
        }
        Ok((status, bytes))
    }

    /// GET a JSON document.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, EngineError> {
        let (_, bytes) = self.call(Method::GET, path, None).await?;
        serde_json::from_slice(&bytes).map_err(|e| self.decode_err(path, e.to_string()))
    }

    /// [`Client::get_json`] bounded by `limit` (shorter than the request
    /// timeout): for answers aggregated over engines, where a slow engine
    /// must not hold the others up.
    pub async fn get_json_within<T: DeserializeOwned>(
        &self,
        path: &str,
        limit: Duration,
    ) -> Result<T, EngineError> {
        tokio::time::timeout(limit, self.get_json(path))
            .await
            .map_err(|_| EngineError::Timeout {
                addr: self.addr(),
                secs: limit.as_secs().max(1),
            })?
    }

    fn decode_err(&self, what: &str, detail: String) -> EngineError {
        EngineError::Decode {
            addr: self.addr(),
            what: what.to_string(),
            detail,
        }
    }

    pub async fn ping(&self) -> Result<(), EngineError> {
        self.call(Method::GET, "/_ping", None).await.map(|_| ())
    }

    pub async fn info(&self) -> Result<Info, EngineError> {
        self.get_json("/info").await
    }

    pub async fn version(&self) -> Result<Version, EngineError> {
        self.get_json("/version").await
    }

    pub async fn containers(&self) -> Result<Vec<ContainerSummary>, EngineError> {
        self.get_json("/containers/json?all=1").await
    }

    /// The list item of one container (None when it is gone).
    pub async fn container_summary(
        &self,
        id: &str,
    ) -> Result<Option<ContainerSummary>, EngineError> {
        let filters = format!("{{\"id\":[\"{id}\"]}}");
        let path = format!("/containers/json?all=1&filters={}", encode(&filters));
        let list: Vec<ContainerSummary> = self.get_json(&path).await?;
        Ok(list.into_iter().find(|c| c.id == id))
    }

    pub async fn inspect(&self, id: &str) -> Result<ContainerInspect, EngineError> {
        self.get_json(&format!("/containers/{}/json", encode(id)))
            .await
    }

    pub async fn images(&self) -> Result<Vec<ImageSummary>, EngineError> {
        self.get_json("/images/json").await
    }

    pub async fn networks(&self) -> Result<Vec<Value>, EngineError> {
        self.get_json("/networks").await
    }

    pub async fn volumes(&self) -> Result<Vec<Value>, EngineError> {
        let v: Value = self.get_json("/volumes").await?;
        Ok(v.get("Volumes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// Opens the engine's event stream from `since` (unix `secs.nanos`).
    pub async fn events(&self, since: Option<&str>) -> Result<LineReader, EngineError> {
        self.events_between(since, None).await
    }

    /// The engine's events from `since` to `until` (unix `secs.nanos`); with
    /// `until` the stream ends there.
    pub async fn events_between(
        &self,
        since: Option<&str>,
        until: Option<&str>,
    ) -> Result<LineReader, EngineError> {
        let mut q = Vec::new();
        if let Some(s) = since {
            q.push(format!("since={}", encode(s)));
        }
        if let Some(u) = until {
            q.push(format!("until={}", encode(u)));
        }
        let path = if q.is_empty() {
            "/events".to_string()
        } else {
            format!("/events?{}", q.join("&"))
        };
        let req = Request::builder()
            .method(Method::GET)
            .uri(&path)
            .body(body::empty())
            .expect("static request");
        let resp = self.send(req).await?;
        if !resp.status().is_success() {
            let status = resp.status();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            return Err(EngineError::Status {
                status,
                message: error_message(&bytes),
            });
        }
        Ok(LineReader::new(resp.into_body()))
    }
}

async fn send_on<IO>(
    io: TokioIo<IO>,
    req: Request<Body>,
    addr: &str,
) -> Result<Response<Incoming>, EngineError>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let http = |source| EngineError::Http {
        addr: addr.to_string(),
        source,
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(http)?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!("engine connection ended: {e}");
        }
    });
    sender.send_request(req).await.map_err(http)
}

/// The `message` of a Docker error body, or the body as text.
pub fn error_message(bytes: &[u8]) -> String {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).trim().to_string())
}

/// Percent-encodes one query value or path segment.
pub fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Reads a streaming body line by line (events, pull progress).
pub struct LineReader {
    body: Incoming,
    buf: BytesMut,
    done: bool,
}

impl LineReader {
    pub fn new(body: Incoming) -> Self {
        Self {
            body,
            buf: BytesMut::new(),
            done: false,
        }
    }

    /// The next non-empty line, or None at the end of the stream.
    pub async fn next_line(&mut self) -> Result<Option<Bytes>, hyper::Error> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line = self.buf.split_to(pos + 1).freeze();
                let trimmed = line.slice(..line.len() - 1);
                if trimmed.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(Some(trimmed));
            }
            if self.done {
                if self.buf.iter().all(u8::is_ascii_whitespace) {
                    return Ok(None);
                }
                return Ok(Some(self.buf.split().freeze()));
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => return Err(e),
                None => self.done = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_encoding() {
        assert_eq!(
            error_message(br#"{"message":"No such container: x"}"#),
            "No such container: x"
        );
        assert_eq!(error_message(b"plain text\n"), "plain text");
        assert_eq!(
            encode("{\"id\":[\"a b\"]}"),
            "%7B%22id%22%3A%5B%22a%20b%22%5D%7D"
        );
    }
}
