//! A STAND-IN for a Consul agent, for tests only: no Consul server can be
//! installed here. It answers the few documented v1 endpoints the consul
//! backend uses, with their documented behaviour:
//!
//! - `PUT /v1/session/create` (JSON `TTL`, `Behavior`) -> `{"ID": ...}`
//! - `PUT /v1/session/renew/<id>` -> 200 `[{...}]`, or 404 for an unknown session
//! - `PUT /v1/session/destroy/<id>` -> `true` (the session ends as if expired)
//! - `PUT /v1/kv/<key>?acquire=<id>` -> `true` / `false`
//! - `GET /v1/kv/<prefix>?recurse[&index=N&wait=Ds]` -> 404, or a JSON array
//!   of `{Key, Value (base64), Session, ModifyIndex}`, with `X-Consul-Index`;
//!   with `index`, a blocking query that answers on change or after `wait`.
//!
//! A session expires `TTL` after its last renewal (real Consul may wait up to
//! twice that) and, with `Behavior: delete`, takes its keys with it. The
//! stand-in can be stopped and started again on the same port, keeping its
//! state, as a Consul agent restarting with its data would.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Notify;

#[derive(Default)]
struct State {
    index: u64,
    next_session: u64,
    /// key -> (value, holding session, modify index)
    kv: BTreeMap<String, (Vec<u8>, Option<String>, u64)>,
    /// id -> (ttl, expires at, delete keys on expiry)
    sessions: HashMap<String, (Duration, Instant, bool)>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Notify,
}

/// The running stand-in.
pub struct ConsulStandIn {
    shared: Arc<Shared>,
    pub addr: SocketAddr,
    server: Option<tokio::task::JoinHandle<()>>,
    reaper: tokio::task::JoinHandle<()>,
}

impl ConsulStandIn {
    pub async fn start() -> ConsulStandIn {
        let shared = Arc::new(Shared::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reaper = tokio::spawn(reap(shared.clone()));
        let server = Some(tokio::spawn(serve(listener, shared.clone())));
        ConsulStandIn {
            shared,
            addr,
            server,
            reaper,
        }
    }

    /// Stops answering (the port is closed, open connections are dropped).
    pub fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort();
        }
    }

    /// Answers again on the same port, with the same state.
    pub async fn restart(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.server = Some(tokio::spawn(serve(listener, self.shared.clone())));
    }

    /// The keys stored now.
    pub fn keys(&self) -> Vec<String> {
        self.shared
            .state
            .lock()
            .unwrap()
            .kv
            .keys()
            .cloned()
            .collect()
    }
}

impl Drop for ConsulStandIn {
    fn drop(&mut self) {
        self.stop();
        self.reaper.abort();
    }
}

async fn reap(shared: Arc<Shared>) {
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = Instant::now();
        let mut st = shared.state.lock().unwrap();
        let expired: Vec<(String, bool)> = st
            .sessions
            .iter()
            .filter(|(_, s)| s.1 <= now)
            .map(|(id, s)| (id.clone(), s.2))
            .collect();
        if expired.is_empty() {
            continue;
        }
        st.index += 1;
        for (id, delete) in expired {
            st.sessions.remove(&id);
            if delete {
                st.kv.retain(|_, v| v.1.as_deref() != Some(id.as_str()));
            } else {
                for v in st
                    .kv
                    .values_mut()
                    .filter(|v| v.1.as_deref() == Some(id.as_str()))
                {
                    v.1 = None;
                }
            }
        }
        drop(st);
        shared.changed.notify_waiters();
    }
}

async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        // Connections live in the JoinSet, so stopping the server drops them.
        conns.spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(shared, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn reply(status: StatusCode, index: Option<u64>, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(status);
    if let Some(i) = index {
        b = b.header("X-Consul-Index", i.to_string());
    }
    b.body(Full::new(body.into())).unwrap()
}

fn query(req: &Request<hyper::body::Incoming>) -> HashMap<String, String> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.to_string(), String::new()),
        })
        .collect()
}

fn parse_ttl(s: &str) -> Option<Duration> {
    s.strip_suffix('s')?
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

async fn handle(shared: Arc<Shared>, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let q = query(&req);
    let method = req.method().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();

    if method == Method::PUT && path == "/v1/session/create" {
        let v: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
        let ttl = v["TTL"]
            .as_str()
            .and_then(parse_ttl)
            .unwrap_or(Duration::from_secs(3600));
        if ttl < Duration::from_secs(10) {
            return reply(
                StatusCode::BAD_REQUEST,
                None,
                "Invalid Session TTL: must be between 10s and 24h",
            );
        }
        let delete = v["Behavior"].as_str() == Some("delete");
        let mut st = shared.state.lock().unwrap();
        st.next_session += 1;
        let id = format!("00000000-0000-0000-0000-{:012}", st.next_session);
        st.sessions
            .insert(id.clone(), (ttl, Instant::now() + ttl, delete));
        return reply(StatusCode::OK, None, json!({ "ID": id }).to_string());
    }
    if let Some(id) = path.strip_prefix("/v1/session/destroy/") {
        // expires now: the reaper applies the session's behavior
        if let Some(s) = shared.state.lock().unwrap().sessions.get_mut(id) {
            s.1 = Instant::now();
        }
        return reply(StatusCode::OK, None, "true");
    }
    if let Some(id) = path.strip_prefix("/v1/session/renew/") {
        let mut st = shared.state.lock().unwrap();
        return match st.sessions.get_mut(id) {
            Some(s) => {
                s.1 = Instant::now() + s.0;
                reply(
                    StatusCode::OK,
                    None,
                    json!([{ "ID": id, "TTL": format!("{}s", s.0.as_secs()) }]).to_string(),
                )
            }
            None => reply(
                StatusCode::NOT_FOUND,
                None,
                format!("Session id '{id}' not found"),
            ),
        };
    }
    let Some(key) = path.strip_prefix("/v1/kv/") else {
        return reply(
            StatusCode::NOT_FOUND,
            None,
            "no such endpoint in the stand-in",
        );
    };
    let key = key.to_string();
    match method {
        Method::PUT => {
            let mut st = shared.state.lock().unwrap();
            let session = q.get("acquire").cloned();
            if let Some(id) = &session {
                if !st.sessions.contains_key(id) {
                    return reply(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        None,
                        format!("invalid session \"{id}\""),
                    );
                }
                if let Some((_, Some(holder), _)) = st.kv.get(&key) {
                    if holder != id {
                        return reply(StatusCode::OK, None, "false");
                    }
                }
            }
            st.index += 1;
            let index = st.index;
            let holder = session.or_else(|| st.kv.get(&key).and_then(|v| v.1.clone()));
            st.kv.insert(key, (body.to_vec(), holder, index));
            drop(st);
            shared.changed.notify_waiters();
            reply(StatusCode::OK, None, "true")
        }
        Method::GET => {
            let wait_for = q.get("index").and_then(|i| i.parse::<u64>().ok());
            let wait = q
                .get("wait")
                .and_then(|w| parse_ttl(w))
                .unwrap_or(Duration::from_secs(300));
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                let notified = shared.changed.notified();
                {
                    let st = shared.state.lock().unwrap();
                    let ready = match wait_for {
                        Some(i) => st.index > i,
                        None => true,
                    };
                    if ready || tokio::time::Instant::now() >= deadline {
                        let pairs: Vec<Value> = st
                            .kv
                            .range(key.clone()..)
                            .take_while(|(k, _)| k.starts_with(&key))
                            .filter(|(k, _)| q.contains_key("recurse") || **k == key)
                            .map(|(k, (v, s, idx))| {
                                json!({
                                    "Key": k,
                                    "Value": base64::engine::general_purpose::STANDARD.encode(v),
                                    "Session": s,
                                    "ModifyIndex": idx,
                                })
                            })
                            .collect();
                        let index = Some(st.index.max(1));
                        return if pairs.is_empty() {
                            reply(StatusCode::NOT_FOUND, index, "")
                        } else {
                            reply(StatusCode::OK, index, Value::Array(pairs).to_string())
                        };
                    }
                }
                let _ = tokio::time::timeout_at(deadline, notified).await;
            }
        }
        _ => reply(StatusCode::METHOD_NOT_ALLOWED, None, ""),
    }
}
