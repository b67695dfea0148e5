//! The token discovery service behind `shoal discovery serve`.
//!
//! State is a map token -> (address -> expiry time). It lives in memory and,
//! with a data directory, in `clusters.json` there: written (fsync, then an
//! atomic rename) before a new or deleted token is answered, and at most a
//! second after a registration, so a restart, even after SIGKILL, loses no
//! token; the agents' next heartbeat restores any registration younger than
//! a second. Expiry times are wall-clock, so they hold across a restart.
//!
//! Limits: request bodies of [`MAX_BODY`] bytes, [`ServerConfig::max_entries`]
//! addresses per token, [`ServerConfig::max_tokens`] tokens, ttl up to a day.
//! Malformed addresses, ttls and tokens get a 400 naming the problem.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::{validate_addr, DiscoveryError};

/// Largest request body accepted, in bytes.
pub const MAX_BODY: usize = 1024;
/// ttl used when a registration names none, in seconds.
pub const DEFAULT_TTL_SECS: u64 = 180;
/// Longest ttl accepted, in seconds.
pub const MAX_TTL_SECS: u64 = 86_400;
const STATE_FILE: &str = "clusters.json";

/// How to run the service.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where to keep tokens and entries; `None` keeps them in memory only.
    pub data_dir: Option<PathBuf>,
    /// Most addresses one token may hold (default 1000).
    pub max_entries: usize,
    /// Most tokens the service may hold (default 100 000).
    pub max_tokens: usize,
}

impl ServerConfig {
    /// Defaults for everything but the address and data directory.
    pub fn new(listen: SocketAddr, data_dir: Option<PathBuf>) -> Self {
        ServerConfig {
            listen,
            data_dir,
            max_entries: 1000,
            max_tokens: 100_000,
        }
    }
}

#[derive(Default, Serialize, Deserialize)]
struct State {
    /// token -> address -> expiry (milliseconds since the epoch)
    clusters: BTreeMap<String, BTreeMap<String, u64>>,
}

struct Shared {
    config: ServerConfig,
    state: Mutex<State>,
    /// Set when entries changed since the last write.
    dirty: AtomicBool,
    /// Serialises file writes.
    write_lock: tokio::sync::Mutex<()>,
}

/// A bound, not yet serving, token service.
pub struct TokenServer {
    shared: Arc<Shared>,
    listener: TcpListener,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> DiscoveryError {
    DiscoveryError::File {
        path: path.to_path_buf(),
        reason: e.to_string().to_lowercase(),
    }
}

impl TokenServer {
    /// Loads the saved state (if any) and binds the listening socket.
    pub async fn bind(config: ServerConfig) -> Result<TokenServer, DiscoveryError> {
        let state = match &config.data_dir {
            Some(dir) => load_state(dir)?,
            None => State::default(),
        };
        let listener = TcpListener::bind(config.listen).await.map_err(|e| {
            DiscoveryError::backend(
                "token service",
                config.listen.to_string(),
                format!("cannot listen: {e}"),
            )
        })?;
        let shared = Arc::new(Shared {
            config,
            state: Mutex::new(state),
            dirty: AtomicBool::new(false),
            write_lock: tokio::sync::Mutex::new(()),
        });
        Ok(TokenServer { shared, listener })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.shared.config.listen)
    }

    /// Serves until the process ends.
    pub async fn run(self) -> Result<(), DiscoveryError> {
        self.run_until(std::future::pending()).await
    }

    /// Serves until `shutdown` completes, then saves the state.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), DiscoveryError> {
        let TokenServer { shared, listener } = self;
        let flusher = {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    shared.expire();
                    if shared.dirty.swap(false, Ordering::AcqRel) {
                        if let Err(e) = shared.save().await {
                            tracing::error!("saving state: {e}");
                            shared.dirty.store(true, Ordering::Release);
                        }
                    }
                }
            })
        };
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = &mut shutdown => break,
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let svc = hyper::service::service_fn(move |req| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(shared.handle(req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(io, svc);
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, "connection: {e}");
                }
            });
        }
        flusher.abort();
        shared.save().await
    }
}

fn load_state(dir: &Path) -> Result<State, DiscoveryError> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let path = dir.join(STATE_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|e| io_err(&path, format!("corrupt state: {e}")))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(io_err(&path, e)),
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", "text/plain; charset=utf-8".parse().unwrap());
    r
}

fn error(status: StatusCode, msg: impl std::fmt::Display) -> Response<Full<Bytes>> {
    text(status, format!("{msg}\n"))
}

impl Shared {
    fn expire(&self) {
        let now = now_ms();
        let mut st = self.state.lock().unwrap();
        for entries in st.clusters.values_mut() {
            entries.retain(|_, exp| *exp > now);
        }
    }

    /// Writes the state to the data directory: temp file, fsync, rename.
    async fn save(&self) -> Result<(), DiscoveryError> {
        let Some(dir) = self.config.data_dir.clone() else {
            return Ok(());
        };
        let _guard = self.write_lock.lock().await;
        let bytes = serde_json::to_vec(&*self.state.lock().unwrap()).expect("state serialises");
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let tmp = dir.join(format!("{STATE_FILE}.tmp"));
            let path = dir.join(STATE_FILE);
            let mut f = std::fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
            f.write_all(&bytes).map_err(|e| io_err(&tmp, e))?;
            f.sync_all().map_err(|e| io_err(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
            if let Ok(d) = std::fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })
        .await
        .map_err(|e| DiscoveryError::File {
            path: PathBuf::from(STATE_FILE),
            reason: e.to_string(),
        })?
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().trim_end_matches('/').to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        let method = req.method().clone();
        let rest = match path.strip_prefix("/v1/clusters") {
            Some(r) => r.to_string(),
            None if path == "/_ping" || path == "/health" => return text(StatusCode::OK, "OK"),
            None => return error(StatusCode::NOT_FOUND, format!("no such path {path:?}")),
        };
        let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return if e.is::<http_body_util::LengthLimitError>() {
                    error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("body larger than {MAX_BODY} bytes"),
                    )
                } else {
                    error(StatusCode::BAD_REQUEST, format!("reading body: {e}"))
                };
            }
        };
        if rest.is_empty() {
            return match method {
                Method::POST => self.create().await,
                _ => error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "use POST /v1/clusters to create a token",
                ),
            };
        }
        let token = rest.trim_start_matches('/');
        if !super::valid_token(token) {
            return error(
                StatusCode::BAD_REQUEST,
                format!("malformed token {token:?}"),
            );
        }
        match method {
            Method::GET => self.list(token),
            Method::POST | Method::PUT => self.register(token, &query, &body),
            Method::DELETE => self.delete(token).await,
            _ => error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method {method} not allowed"),
            ),
        }
    }

    async fn create(&self) -> Response<Full<Bytes>> {
        let token = {
            let mut st = self.state.lock().unwrap();
            if st.clusters.len() >= self.config.max_tokens {
                return error(StatusCode::INSUFFICIENT_STORAGE, "too many tokens");
            }
            let token = loop {
                let t = format!("{:032x}", rand::random::<u128>());
                if !st.clusters.contains_key(&t) {
                    break t;
                }
            };
            st.clusters.insert(token.clone(), BTreeMap::new());
            token
        };
        if let Err(e) = self.save().await {
            self.state.lock().unwrap().clusters.remove(&token);
            tracing::error!("saving new token: {e}");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot save the token: {e}"),
            );
        }
        tracing::info!(%token, "created token");
        text(StatusCode::CREATED, token)
    }

    fn list(&self, token: &str) -> Response<Full<Bytes>> {
        let now = now_ms();
        let st = self.state.lock().unwrap();
        let Some(entries) = st.clusters.get(token) else {
            return error(StatusCode::NOT_FOUND, format!("unknown token {token:?}"));
        };
        let live: Vec<&String> = entries
            .iter()
            .filter(|(_, exp)| **exp > now)
            .map(|(a, _)| a)
            .collect();
        let mut r = Response::new(Full::new(Bytes::from(serde_json::to_vec(&live).unwrap())));
        r.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        r
    }

    fn register(&self, token: &str, query: &str, body: &Bytes) -> Response<Full<Bytes>> {
        let mut ttl = DEFAULT_TTL_SECS;
        for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
            if k == "ttl" {
                ttl = match v.parse::<u64>() {
                    Ok(t) if (1..=MAX_TTL_SECS).contains(&t) => t,
                    _ => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            format!("ttl {v:?} must be whole seconds in 1-{MAX_TTL_SECS}"),
                        )
                    }
                };
            }
        }
        let Ok(addr) = std::str::from_utf8(body) else {
            return error(StatusCode::BAD_REQUEST, "address is not utf-8");
        };
        let addr = addr.trim();
        if let Err(e) = validate_addr(addr) {
            return error(StatusCode::BAD_REQUEST, e);
        }
        let now = now_ms();
        {
            let mut st = self.state.lock().unwrap();
            let Some(entries) = st.clusters.get_mut(token) else {
                return error(StatusCode::NOT_FOUND, format!("unknown token {token:?}"));
            };
            if !entries.contains_key(addr) {
                entries.retain(|_, exp| *exp > now);
                if entries.len() >= self.config.max_entries {
                    return error(
                        StatusCode::INSUFFICIENT_STORAGE,
                        format!(
                            "token {token:?} already holds {} addresses",
                            self.config.max_entries
                        ),
                    );
                }
            }
            entries.insert(addr.to_string(), now + ttl * 1000);
        }
        self.dirty.store(true, Ordering::Release);
        tracing::debug!(%token, %addr, ttl, "registered");
        text(StatusCode::OK, "")
    }

    async fn delete(&self, token: &str) -> Response<Full<Bytes>> {
        let removed = self.state.lock().unwrap().clusters.remove(token);
        let Some(entries) = removed else {
            return error(StatusCode::NOT_FOUND, format!("unknown token {token:?}"));
        };
        if let Err(e) = self.save().await {
            self.state
                .lock()
                .unwrap()
                .clusters
                .insert(token.to_string(), entries);
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot save: {e}"),
            );
        }
        tracing::info!(%token, "deleted token");
        Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(Full::new(Bytes::new()))
            .unwrap()
    }
}
