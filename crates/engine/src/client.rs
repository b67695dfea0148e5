//! An HTTP/1.1 client for one engine, over TCP or a unix socket.
//!
//! Short calls (inspect, lists, create, start, ...) reuse keep-alive
//! connections from a small per-engine pool; hijacks (attach, exec start)
//! and long streams (events, wait, logs, stats, pulls) get a connection of
//! their own, so they never hold a pooled one. Written by hand rather than
//! with hyper-util's pooled client because hijacked upgrades, unix sockets
//! and a TLS hook all go through the one `connect` step below.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde_json::Value;
use shoal_api_types::{ContainerInspect, ContainerSummary, ImageSummary, Info, Version};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::body::{self, Body};
use crate::endpoint::Endpoint;
use crate::error::EngineError;

mod pool;

use pool::{IdleSet, Limits};

/// The keep-alive connections kept between requests. Per engine: enough
/// for a few calls at once. Over all engines: with thousands of engines,
/// each also holding its event stream, idle connections must not eat the
/// process's file descriptors: the bound is what the descriptor limit
/// leaves (see [`set_descriptor_limit`]), or `total` when that is not
/// known. At the bound, see `pool`'s comment for which one closes: the
/// calls of one `docker run` (create, start, inspect, a few ms apart on one
/// engine) share one connection however many engines there are, and spread
/// placement over more engines than the bound still mostly finds one kept.
/// Idle: long enough that runs spread over 10,000 engines at thousands a
/// second come back to an engine's connection, short enough that the
/// periodic checks of thousands of engines (one `_ping` each per 30-60 s)
/// do not each keep one.
const POOL: Limits = Limits {
    per_engine: 8,
    total: 4096,
    idle: Duration::from_secs(10),
    fresh: Duration::from_millis(100),
};

/// Descriptors left for what is neither a kept connection nor an engine's
/// event stream: listeners, the manager's own clients, streams and hijacks
/// it proxies, files.
const RESERVED_DESCRIPTORS: usize = 1024;

/// The fewest connections kept over all engines, however tight the limit.
const MIN_TOTAL: usize = 64;

/// The process's open-file limit, once told (0: not known).
static DESCRIPTOR_LIMIT: AtomicUsize = AtomicUsize::new(0);

/// Engine clients alive (each engine holds one event stream besides its
/// kept connections).
static LIVE_CLIENTS: AtomicUsize = AtomicUsize::new(0);

static IDLE: LazyLock<IdleSet<SendRequest<Body>>> = LazyLock::new(|| IdleSet::new(POOL));

/// Tells the engine clients the process's open-file limit: the connections
/// kept over all engines are then bounded by what it leaves after one event
/// stream per engine and [`RESERVED_DESCRIPTORS`], instead of a fixed
/// 4,096. With 10,000 engines and a limit of 20,000 that is about 9,000,
/// where 4,096 made most runs open a connection.
pub fn set_descriptor_limit(limit: usize) {
    DESCRIPTOR_LIMIT.store(limit, Ordering::Relaxed);
    fit_total();
}

/// Sets the bound over all engines from the descriptor limit and the
/// engines alive (nothing when the limit is not known).
fn fit_total() {
    let limit = DESCRIPTOR_LIMIT.load(Ordering::Relaxed);
    if limit == 0 {
        return;
    }
    let streams = LIVE_CLIENTS.load(Ordering::Relaxed);
    IDLE.set_total(budget(limit, streams));
}

/// What `limit` descriptors leave for kept connections beside `streams`.
fn budget(limit: usize, streams: usize) -> usize {
    limit
        .saturating_sub(streams + RESERVED_DESCRIPTORS)
        .max(MIN_TOTAL)
}

/// The next pool name (one per client and its clones).
static POOL_IDS: AtomicU64 = AtomicU64::new(1);

/// Whether a task closes expired idle connections (reset when it ends,
/// or when its runtime drops it).
static REAPING: AtomicBool = AtomicBool::new(false);

/// A byte stream to an engine, as [`Client::connect`] opens it.
pub trait EngineIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> EngineIo for T {}

/// A client for one engine. Cheap to clone (clones share the pool).
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: Endpoint,
    connect_timeout: Duration,
    request_timeout: Duration,
    pool: Arc<Pool>,
    tls: Option<crate::tls::ClientTls>,
    /// The `Host` header of every request (made once).
    host: Option<hyper::header::HeaderValue>,
}

/// This client's share of the process's idle connections.
#[derive(Debug)]
struct Pool {
    id: u64,
}

impl Default for Pool {
    fn default() -> Self {
        LIVE_CLIENTS.fetch_add(1, Ordering::Relaxed);
        fit_total();
        Self {
            id: POOL_IDS.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        IDLE.purge(self.id);
        LIVE_CLIENTS.fetch_sub(1, Ordering::Relaxed);
        fit_total();
    }
}

impl Pool {
    /// A connection ready for a request, never a closed one.
    fn checkout(&self) -> Option<SendRequest<Body>> {
        IDLE.checkout(self.id, Instant::now())
    }

    /// Keeps `sender` for later requests (while it still streams an answer
    /// it is skipped; a closed one is dropped).
    fn checkin(&self, sender: SendRequest<Body>) {
        IDLE.checkin(self.id, sender, Instant::now());
        if !REAPING.swap(true, Ordering::AcqRel) {
            tokio::spawn(reap());
        }
    }
}

/// Resets [`REAPING`] however the reaper ends.
struct Reaping;

impl Drop for Reaping {
    fn drop(&mut self) {
        REAPING.store(false, Ordering::Release);
    }
}

/// Closes idle connections as they expire, until none is kept.
async fn reap() {
    let _flag = Reaping;
    loop {
        while let Some(due) = IDLE.expire(Instant::now()) {
            // not before a second: expiring is not worth waking up more often
            let due = due.max(Instant::now() + Duration::from_secs(1));
            tokio::time::sleep_until(due.into()).await;
        }
        REAPING.store(false, Ordering::Release);
        // a check-in between the last look and the reset spawned no reaper
        if IDLE.len(None) == 0 || REAPING.swap(true, Ordering::AcqRel) {
            return;
        }
    }
}

/// Whether a request holds its connection for long (hijack, stream):
/// those get a connection of their own.
fn is_long(req: &Request<Body>) -> bool {
    if req.headers().contains_key(hyper::header::UPGRADE) {
        return true;
    }
    let path = req.uri().path();
    const LONG: &[&str] = &[
        "/events",
        "/wait",
        "/attach",
        "/logs",
        "/stats",
        "/exec/",
        "/images/create",
        "/build",
        "/push",
        "/export",
        "/get",
        "/load",
        "/archive",
        "/session",
    ];
    LONG.iter().any(|p| path.contains(p))
}

impl Client {
    pub fn new(endpoint: Endpoint, connect_timeout: Duration, request_timeout: Duration) -> Self {
        let host = match &endpoint {
            Endpoint::Tcp(hp) => hp.parse().ok(),
            Endpoint::Unix(_) => Some(hyper::header::HeaderValue::from_static("docker")),
        };
        Self {
            host,
            endpoint,
            connect_timeout,
            request_timeout,
            pool: Arc::default(),
            tls: None,
        }
    }

    /// Speaks TLS to a TCP engine ([`crate::tls`]).
    pub fn with_tls(mut self, tls: Option<crate::tls::ClientTls>) -> Self {
        self.tls = tls;
        self
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn addr(&self) -> String {
        self.endpoint.display()
    }

    /// Opens a byte stream to the engine, bounded by the connect timeout.
    /// The one place a connection is made (TLS wraps what it returns).
    async fn connect(&self) -> Result<Box<dyn EngineIo>, EngineError> {
        let addr = || self.addr();
        let timeout = || EngineError::Timeout {
            addr: addr(),
            secs: self.connect_timeout.as_secs().max(1),
        };
        let failed = |source| EngineError::Connect {
            addr: addr(),
            source,
        };
        match &self.endpoint {
            Endpoint::Tcp(hp) => {
                let stream =
                    tokio::time::timeout(self.connect_timeout, tokio::net::TcpStream::connect(hp))
                        .await
                        .map_err(|_| timeout())?
                        .map_err(failed)?;
                let _ = stream.set_nodelay(true);
                if let Some(tls) = &self.tls {
                    let host = self.endpoint.host();
                    let tls =
                        tokio::time::timeout(self.connect_timeout, tls.connect(stream, &host))
                            .await
                            .map_err(|_| timeout())?
                            .map_err(failed)?;
                    return Ok(Box::new(tls));
                }
                Ok(Box::new(stream))
            }
            Endpoint::Unix(path) => {
                let stream = tokio::time::timeout(
                    self.connect_timeout,
                    tokio::net::UnixStream::connect(path),
                )
                .await
                .map_err(|_| timeout())?
                .map_err(failed)?;
                Ok(Box::new(stream))
            }
        }
    }

    /// A new HTTP/1.1 connection (upgrades enabled), driven by its own task.
    async fn handshake(&self) -> Result<SendRequest<Body>, EngineError> {
        let io = TokioIo::new(self.connect().await?);
        let (sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| self.http_err(e))?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!("engine connection ended: {e}");
            }
        });
        Ok(sender)
    }

    fn http_err(&self, source: hyper::Error) -> EngineError {
        EngineError::Http {
            addr: self.addr(),
            source,
        }
    }

    /// Sends `req` on a pooled connection, or a new one when none is free.
    /// Returns the sender too when the request went on a reusable one.
    async fn send_pooled(
        &self,
        mut req: Request<Body>,
    ) -> Result<(Response<Incoming>, SendRequest<Body>), EngineError> {
        while let Some(mut sender) = self.pool.checkout() {
            match sender.try_send_request(req).await {
                Ok(resp) => return Ok((resp, sender)),
                // never written: the connection had closed, try the next
                Err(mut e) => match e.take_message() {
                    Some(r) => req = r,
                    None => return Err(self.http_err(e.into_error())),
                },
            }
        }
        let mut sender = self.handshake().await?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| self.http_err(e))?;
        Ok((resp, sender))
    }

    /// Sends one request as is (its URI must be origin-form: path and
    /// query) and returns the answer with its body still streaming. Only
    /// connecting is bounded in time; the answer may take as long as the
    /// engine needs (wait, logs, events). Upgrades work on the answer.
    pub async fn send(&self, mut req: Request<Body>) -> Result<Response<Incoming>, EngineError> {
        self.set_host(&mut req);
        if is_long(&req) {
            let mut sender = self.handshake().await?;
            return sender.send_request(req).await.map_err(|e| self.http_err(e));
        }
        let (resp, sender) = self.send_pooled(req).await?;
        // busy until the caller has read the answer; skipped until then
        self.pool.checkin(sender);
        Ok(resp)
    }

    fn set_host(&self, req: &mut Request<Body>) {
        if let Some(host) = &self.host {
            if !req.headers().contains_key(hyper::header::HOST) {
                req.headers_mut().insert(hyper::header::HOST, host.clone());
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
            let mut req = req;
            self.set_host(&mut req);
            let (resp, sender) = if is_long(&req) {
                (self.send(req).await?, None)
            } else {
                let (resp, sender) = self.send_pooled(req).await?;
                (resp, Some(sender))
            };
            let status = resp.status();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| self.http_err(e))?
                .to_bytes();
            // the connection takes the next request once this answer is read
            if let Some(mut sender) = sender {
                let ready = tokio::time::timeout(Duration::from_secs(1), sender.ready()).await;
                if matches!(ready, Ok(Ok(()))) {
                    self.pool.checkin(sender);
                }
            }
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

    /// A container's inspect answer as a cache record (decoded lean: only
    /// what the record keeps, see [`crate::inspect`]).
    pub async fn inspect_record(&self, id: &str) -> Result<crate::CachedContainer, EngineError> {
        let lean: crate::inspect::LeanInspect = self
            .get_json(&format!("/containers/{}/json", encode(id)))
            .await?;
        Ok(crate::CachedContainer::from_lean(&lean))
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

/// The `message` of a Docker error body, or the body as text.
pub fn error_message(bytes: &[u8]) -> String {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).trim().to_string())
}

/// Percent-encodes one query value or path segment.
pub fn encode(s: &str) -> String {
    // container IDs and most names: nothing to encode
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return s.to_string();
    }
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
    fn the_kept_bound_is_what_the_descriptor_limit_leaves() {
        // 10,000 engines under a 20,000 limit: most of the rest
        assert_eq!(
            budget(20_000, 10_000),
            20_000 - 10_000 - RESERVED_DESCRIPTORS
        );
        // a tight limit still keeps a few
        assert_eq!(budget(1_024, 1_000), MIN_TOTAL);
        assert_eq!(budget(0, 0), MIN_TOTAL);
    }

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
        assert_eq!(encode("web-1.x_y"), "web-1.x_y");
        assert_eq!(encode("a~b*c/d"), "a%7Eb*c%2Fd");
    }
}
