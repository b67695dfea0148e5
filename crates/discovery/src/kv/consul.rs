//! `consul://h/prefix`: Consul's KV and session HTTP API (v1).
//!
//! - register: `PUT /v1/session/create` with `TTL` and `Behavior: delete`,
//!   then `PUT /v1/kv/<key>?acquire=<session>`; later registrations renew
//!   the session (`PUT /v1/session/renew/<id>`) and acquire again, and make a
//!   new session if Consul has dropped the old one.
//! - fetch: `GET /v1/kv/<dir>/?recurse` (404: no node yet).
//! - watch: the same GET as a blocking query (`index=`, `wait=`), as
//!   Consul documents it: answers when something changed or the wait is over.
//! - campaign (leader lock): a session of its own (TTL at least 10 s,
//!   `Behavior: delete`), renewed every round, acquiring
//!   `<prefix>/docker/swarm/leader` with the candidate's address; the
//!   holder is read back when the acquire says `false`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::Layout;
use crate::http::{self, TlsFiles};
use crate::{validate_addr, Discovery, DiscoveryError, DiscoveryOpts, KvUrl, Watch};

/// Consul's shortest session TTL.
pub const MIN_SESSION_TTL: Duration = Duration::from_secs(10);
/// How long one blocking query may wait at the server.
const BLOCKING_WAIT: Duration = Duration::from_secs(30);

/// Nodes kept in Consul's KV store.
#[derive(Clone, Debug)]
pub struct ConsulDiscovery {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    layout: Layout,
    bases: Vec<String>,
    current: AtomicUsize,
    http: reqwest::Client,
    /// For blocking queries: the request limit is the wait plus some.
    blocking_http: reqwest::Client,
    /// Our session id, once created.
    session: Mutex<Option<String>>,
}

impl ConsulDiscovery {
    /// A backend for the parsed URL; contacts nothing yet.
    pub fn new(url: &str, kv: KvUrl, opts: &DiscoveryOpts) -> Result<Self, DiscoveryError> {
        let tls = TlsFiles::from_opts(opts)?;
        let scheme = if tls.enabled() { "https" } else { "http" };
        let layout = Layout::new(url, kv, opts);
        let bases = layout
            .endpoints
            .iter()
            .map(|e| format!("{scheme}://{e}"))
            .collect();
        Ok(ConsulDiscovery {
            inner: Arc::new(Inner {
                bases,
                current: AtomicUsize::new(0),
                http: http::client(opts, &tls, Some(opts.request_timeout()))?,
                blocking_http: http::client(
                    opts,
                    &tls,
                    Some(BLOCKING_WAIT + opts.request_timeout()),
                )?,
                session: Mutex::new(None),
                layout,
            }),
        })
    }

    fn err(&self, reason: impl std::fmt::Display) -> DiscoveryError {
        DiscoveryError::backend("consul", self.inner.bases.join(","), reason)
    }

    /// Sends one request to the first server that answers; returns status,
    /// `X-Consul-Index` and body.
    async fn send(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<String>,
        blocking: bool,
    ) -> Result<(reqwest::StatusCode, Option<u64>, String), DiscoveryError> {
        let n = self.inner.bases.len();
        let start = self.inner.current.load(Ordering::Relaxed);
        let client = if blocking {
            &self.inner.blocking_http
        } else {
            &self.inner.http
        };
        let mut last_err = String::new();
        for i in 0..n {
            let idx = (start + i) % n;
            let base = &self.inner.bases[idx];
            let mut req = client.request(method.clone(), format!("{base}{path_and_query}"));
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            match req.send().await {
                Ok(resp) => {
                    self.inner.current.store(idx, Ordering::Relaxed);
                    let status = resp.status();
                    let index = resp
                        .headers()
                        .get("x-consul-index")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok());
                    let text = resp
                        .text()
                        .await
                        .map_err(|e| self.err(http::describe(&e)))?;
                    return Ok((status, index, text));
                }
                Err(e) => {
                    last_err = if n > 1 {
                        format!("{base}: {}", http::describe(&e))
                    } else {
                        http::describe(&e)
                    }
                }
            }
        }
        Err(self.err(last_err))
    }

    /// The nodes, and the index to block on next.
    async fn list(&self, index: Option<u64>) -> Result<(Vec<String>, u64), DiscoveryError> {
        let dir = &self.inner.layout.dir;
        let path = match index {
            Some(i) => format!(
                "/v1/kv/{dir}/?recurse&index={i}&wait={}s",
                BLOCKING_WAIT.as_secs()
            ),
            None => format!("/v1/kv/{dir}/?recurse"),
        };
        let (status, idx, body) = self
            .send(reqwest::Method::GET, &path, None, index.is_some())
            .await?;
        let idx = idx.unwrap_or(0);
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok((Vec::new(), idx));
        }
        if !status.is_success() {
            return Err(self.err(format!("listing {dir} returned {status}: {}", body.trim())));
        }
        let pairs: Vec<Value> =
            serde_json::from_str(&body).map_err(|e| self.err(format!("bad kv answer: {e}")))?;
        let prefix = format!("{dir}/");
        let values = pairs.iter().filter_map(|p| {
            let value = p
                .get("Value")
                .and_then(Value::as_str)
                .and_then(|s| B64.decode(s).ok())
                .and_then(|b| String::from_utf8(b).ok())
                .filter(|s| !s.is_empty());
            value.or_else(|| {
                p.get("Key")
                    .and_then(Value::as_str)
                    .and_then(|k| k.strip_prefix(&prefix))
                    .map(str::to_string)
            })
        });
        Ok((super::addresses(values, &self.inner.layout.url), idx))
    }

    async fn create_session(&self, addr: &str, ttl: Duration) -> Result<String, DiscoveryError> {
        let body = json!({
            "Name": format!("shoal-node-{addr}"),
            "TTL": format!("{}s", ttl.as_secs()),
            "Behavior": "delete",
            "LockDelay": "0s",
        });
        let (status, _, text) = self
            .send(
                reqwest::Method::PUT,
                "/v1/session/create",
                Some(body.to_string()),
                false,
            )
            .await?;
        if !status.is_success() {
            return Err(self.err(format!("session create returned {status}: {}", text.trim())));
        }
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| self.err(format!("bad session answer: {e}")))?;
        v.get("ID")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| self.err("session create gave no ID"))
    }

    /// Renews `id`; false when Consul no longer knows it.
    async fn renew(&self, id: &str) -> Result<bool, DiscoveryError> {
        let (status, _, text) = self
            .send(
                reqwest::Method::PUT,
                &format!("/v1/session/renew/{id}"),
                None,
                false,
            )
            .await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(false);
        }
        if !status.is_success() {
            return Err(self.err(format!("session renew returned {status}: {}", text.trim())));
        }
        // Consul answers 200 with an empty array for an unknown session in some versions.
        Ok(text.trim() != "[]" && text.trim() != "null")
    }
}

#[async_trait::async_trait]
impl Discovery for ConsulDiscovery {
    fn scheme(&self) -> &'static str {
        "consul"
    }

    async fn fetch(&self) -> Result<Vec<String>, DiscoveryError> {
        Ok(self.list(None).await?.0)
    }

    fn watch(&self, heartbeat: Duration) -> Watch {
        let me = self.clone();
        let retry = heartbeat.max(Duration::from_millis(100));
        Watch::spawn(move |tx| async move {
            let mut last: Option<Vec<String>> = None;
            let mut index: Option<u64> = None;
            loop {
                let outcome = tokio::select! {
                    r = me.list(index) => r,
                    _ = tx.closed() => return,
                };
                match outcome {
                    Ok((list, new_index)) => {
                        // Consul: an index that goes backwards means start over.
                        index = match index {
                            Some(old) if new_index < old => Some(0),
                            _ => Some(new_index.max(1)),
                        };
                        if last.as_ref() != Some(&list) {
                            last = Some(list.clone());
                            if tx.send(Ok(list)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        index = None;
                        if !crate::watch::fail_then_wait(&tx, e, retry).await {
                            return;
                        }
                    }
                }
            }
        })
    }

    fn campaign(
        &self,
        me: &str,
        ttl: Duration,
    ) -> Result<crate::election::Campaign, DiscoveryError> {
        validate_addr(me)?;
        let lock = ConsulLock {
            d: self.clone(),
            session: Mutex::new(None),
        };
        Ok(crate::election::spawn(lock, me.to_string(), ttl))
    }

    async fn register(&self, addr: &str, ttl: Duration) -> Result<(), DiscoveryError> {
        validate_addr(addr)?;
        let ttl = ttl.max(MIN_SESSION_TTL);
        let mut session = self.inner.session.lock().await;
        let id = match session.as_ref() {
            Some(id) if self.renew(id).await? => id.clone(),
            _ => {
                let id = self.create_session(addr, ttl).await?;
                *session = Some(id.clone());
                id
            }
        };
        let key = self.inner.layout.key(addr);
        let (status, _, text) = self
            .send(
                reqwest::Method::PUT,
                &format!("/v1/kv/{key}?acquire={id}"),
                Some(addr.to_string()),
                false,
            )
            .await?;
        if !status.is_success() {
            return Err(self.err(format!("writing {key} returned {status}: {}", text.trim())));
        }
        if text.trim() != "true" {
            return Err(self.err(format!(
                "{key} is held by another session (an earlier agent's, until it expires)"
            )));
        }
        Ok(())
    }
}

/// The leader lock in Consul: the key acquired by a session of ours.
struct ConsulLock {
    d: ConsulDiscovery,
    /// Our session, once created.
    session: Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl crate::election::LeaderLock for ConsulLock {
    async fn round(&self, me: &str, ttl: Duration) -> Result<Option<String>, DiscoveryError> {
        let mut session = self.session.lock().await;
        let id = match session.as_ref() {
            Some(id) if self.d.renew(id).await? => id.clone(),
            _ => {
                let id = self.d.create_session(me, ttl.max(MIN_SESSION_TTL)).await?;
                *session = Some(id.clone());
                id
            }
        };
        drop(session);
        let key = &self.d.inner.layout.leader;
        let (status, _, text) = self
            .d
            .send(
                reqwest::Method::PUT,
                &format!("/v1/kv/{key}?acquire={id}"),
                Some(me.to_string()),
                false,
            )
            .await?;
        if !status.is_success() {
            return Err(self.d.err(format!(
                "acquiring {key} returned {status}: {}",
                text.trim()
            )));
        }
        if text.trim() == "true" {
            return Ok(Some(me.to_string()));
        }
        let (status, _, text) = self
            .d
            .send(reqwest::Method::GET, &format!("/v1/kv/{key}"), None, false)
            .await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None); // released meanwhile: ours to take next round
        }
        let v: Value =
            serde_json::from_str(&text).map_err(|e| self.d.err(format!("reading {key}: {e}")))?;
        let holder = v
            .pointer("/0/Value")
            .and_then(Value::as_str)
            .and_then(|s| B64.decode(s).ok())
            .and_then(|b| String::from_utf8(b).ok());
        // our address under another session: an earlier run's, until it expires
        Ok(holder.filter(|h| h != me && !h.is_empty()))
    }

    async fn resign(&self, _me: &str) {
        if let Some(id) = self.session.lock().await.take() {
            // destroying the session deletes the key (Behavior: delete)
            let path = format!("/v1/session/destroy/{id}");
            if let Err(e) = self.d.send(reqwest::Method::PUT, &path, None, false).await {
                tracing::debug!("destroying consul session {id}: {e}");
            }
        }
    }
}
