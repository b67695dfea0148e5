//! `consul://host:port[,host:port...][/prefix]`: Consul's KV, session and
//! transaction HTTP API (v1).
//!
//! How the [`Kv`] contract maps onto Consul:
//!
//! - Key `/a/b` is the Consul key `<prefix>/a/b` (no leading slash).
//!   `mod_revision` is its `ModifyIndex`.
//! - A lease is a session (`PUT /v1/session/create`, `TTL` = the ttl, 10 s
//!   at least as Consul wants, `Behavior: delete`, no lock delay); keys on
//!   it are locked by it, so Consul deletes them when the session is
//!   destroyed (`revoke`) or not renewed within its TTL (`keep_alive` is
//!   `PUT /v1/session/renew/<id>`, 404: gone). Consul may wait up to twice
//!   the TTL before it invalidates a session. The lease number is the first
//!   64 bits of the session's UUID; another process's lease (`shoal cni`
//!   writes on its agent's) is found in `GET /v1/session/list`.
//! - Every conditional write is one `PUT /v1/txn`: create is `cas` with
//!   index 0 (then `lock` for a lease); compare-and-swap is `delete-cas` at
//!   the revision, then the create; put is `delete` then `set` or `lock`.
//!   A transaction rolled back by its first operation means "lost"
//!   (false); by another one, an error (an expired session, say).
//! - Revisions: `list` first reads the `X-Consul-Index` of the whole prefix
//!   (`?keys&separator=/`), then the keys; `wait_change` is the same query
//!   blocking (`index=`, `wait=`), so it returns once anything under the
//!   prefix changed after the list began (a change elsewhere under the
//!   prefix wakes it too).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{Kv, KvEntry};
use crate::NetError;

/// Consul's shortest session TTL.
const MIN_TTL: Duration = Duration::from_secs(10);

/// A client of one Consul cluster.
#[derive(Debug)]
pub struct ConsulKv {
    url: String,
    bases: Vec<String>,
    current: AtomicUsize,
    /// `""` or `prefix/`.
    root: String,
    http: reqwest::Client,
    /// Lease numbers → session ids, ours and others' seen.
    sessions: Mutex<HashMap<i64, String>>,
}

/// The lease number of a session id: its first 64 bits.
pub fn lease_of(session: &str) -> i64 {
    let hex: String = session.chars().filter(|c| *c != '-').take(16).collect();
    u64::from_str_radix(&hex, 16).map(|n| n as i64).unwrap_or(0)
}

fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

impl ConsulKv {
    /// A client for `hosts` (`host:port`) keeping its keys under `prefix`
    /// (`""` or `/path`); contacts nothing yet.
    pub fn new(url: &str, hosts: &[&str], prefix: &str) -> Result<Self, NetError> {
        let prefix = prefix.trim_matches('/');
        if prefix.contains("//") {
            return Err(NetError::invalid("store url", url, "bad prefix path"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .no_proxy()
            .build()
            .map_err(|e| NetError::invalid("store url", url, e.to_string()))?;
        Ok(ConsulKv {
            url: url.to_string(),
            bases: hosts.iter().map(|h| format!("http://{h}")).collect(),
            current: AtomicUsize::new(0),
            root: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            http,
            sessions: Mutex::new(HashMap::new()),
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> NetError {
        NetError::Store {
            endpoint: self.url.clone(),
            reason: e.to_string(),
        }
    }

    /// The Consul key of `key`.
    fn ckey(&self, key: &str) -> Result<String, NetError> {
        if !key.starts_with('/') {
            return Err(NetError::invalid("store key", key, "must start with /"));
        }
        Ok(format!("{}{}", self.root, &key[1..]))
    }

    /// Sends one request to the first server that answers: status, index
    /// and body.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        timeout: Duration,
    ) -> Result<(StatusCode, i64, String), NetError> {
        let n = self.bases.len();
        let start = self.current.load(Ordering::Relaxed);
        let mut last = String::new();
        for i in 0..n {
            let idx = (start + i) % n;
            let base = &self.bases[idx];
            let mut req = self
                .http
                .request(method.clone(), format!("{base}{path}"))
                .timeout(timeout);
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            match req.send().await {
                Ok(resp) => {
                    self.current.store(idx, Ordering::Relaxed);
                    let status = resp.status();
                    let index = resp
                        .headers()
                        .get("x-consul-index")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let text = resp.text().await.map_err(|e| self.err(e))?;
                    return Ok((status, index, text));
                }
                Err(e) => last = format!("{base}{path}: {e}"),
            }
        }
        Err(self.err(last))
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<(StatusCode, i64, String), NetError> {
        self.send(method, path, body, Duration::from_secs(10)).await
    }

    fn entry(&self, v: &Value) -> Option<KvEntry> {
        let ckey = v.get("Key")?.as_str()?;
        let key = format!("/{}", ckey.strip_prefix(&self.root)?);
        let value = v
            .get("Value")
            .and_then(Value::as_str)
            .and_then(|s| B64.decode(s).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let lease = match v.get("Session").and_then(Value::as_str) {
            Some(s) => {
                let lease = lease_of(s);
                self.sessions
                    .lock()
                    .unwrap()
                    .entry(lease)
                    .or_insert_with(|| s.to_string());
                lease
            }
            None => 0,
        };
        Some(KvEntry {
            key,
            value,
            mod_revision: v.get("ModifyIndex").and_then(Value::as_i64).unwrap_or(0),
            lease,
        })
    }

    /// The session id of lease number `lease`.
    async fn session(&self, lease: i64) -> Result<String, NetError> {
        if let Some(id) = self.sessions.lock().unwrap().get(&lease) {
            return Ok(id.clone());
        }
        let (status, _, text) = self.call(Method::GET, "/v1/session/list", None).await?;
        if !status.is_success() {
            return Err(self.err(format!("session list returned {status}: {}", text.trim())));
        }
        let list: Vec<Value> =
            serde_json::from_str(&text).map_err(|e| self.err(format!("session list: {e}")))?;
        let id = list
            .iter()
            .filter_map(|s| s.get("ID").and_then(Value::as_str))
            .find(|id| lease_of(id) == lease)
            .ok_or_else(|| self.err(format!("lease {lease} not found")))?
            .to_string();
        self.sessions.lock().unwrap().insert(lease, id.clone());
        Ok(id)
    }

    /// The write of `value` at `ckey`, on `lease`'s session if any.
    async fn write_op(&self, ckey: &str, value: &str, lease: i64) -> Result<Value, NetError> {
        Ok(if lease == 0 {
            json!({"KV": {"Verb": "set", "Key": ckey, "Value": b64(value)}})
        } else {
            let s = self.session(lease).await?;
            json!({"KV": {"Verb": "lock", "Key": ckey, "Value": b64(value), "Session": s}})
        })
    }

    /// Runs a transaction; false when its first operation failed (a lost
    /// race), an error when another one did.
    async fn txn(&self, ops: Vec<Value>) -> Result<bool, NetError> {
        let (status, _, text) = self
            .call(Method::PUT, "/v1/txn", Some(Value::Array(ops).to_string()))
            .await?;
        if status.is_success() {
            return Ok(true);
        }
        if status == StatusCode::CONFLICT {
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let first = v.pointer("/Errors/0");
            if first.and_then(|e| e.get("OpIndex")).and_then(Value::as_i64) == Some(0) {
                return Ok(false);
            }
            let what = first
                .and_then(|e| e.get("What"))
                .and_then(Value::as_str)
                .unwrap_or("rolled back");
            return Err(self.err(format!("transaction: {what}")));
        }
        Err(self.err(format!("transaction returned {status}: {}", text.trim())))
    }

    /// The index of everything under the prefix, blocking until it passes
    /// `after` (for at most `wait`) when given.
    async fn index(&self, after: Option<(i64, Duration)>) -> Result<i64, NetError> {
        let mut path = format!("/v1/kv/{}?keys&separator=/", self.root);
        let mut timeout = Duration::from_secs(10);
        if let Some((index, wait)) = after {
            path.push_str(&format!("&index={index}&wait={}ms", wait.as_millis()));
            timeout += wait + wait / 8;
        }
        let (status, index, text) = self.send(Method::GET, &path, None, timeout).await?;
        if !status.is_success() && status != StatusCode::NOT_FOUND {
            return Err(self.err(format!(
                "reading the index returned {status}: {}",
                text.trim()
            )));
        }
        Ok(index)
    }
}

#[async_trait::async_trait]
impl Kv for ConsulKv {
    async fn get(&self, key: &str) -> Result<Option<KvEntry>, NetError> {
        let ckey = self.ckey(key)?;
        let (status, _, text) = self
            .call(Method::GET, &format!("/v1/kv/{ckey}"), None)
            .await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(self.err(format!("reading {ckey} returned {status}: {}", text.trim())));
        }
        let v: Vec<Value> = serde_json::from_str(&text).map_err(|e| self.err(e))?;
        Ok(v.first().and_then(|e| self.entry(e)))
    }

    async fn list(&self, prefix: &str) -> Result<(Vec<KvEntry>, i64), NetError> {
        let cprefix = self.ckey(prefix)?;
        let revision = self.index(None).await?;
        let path = format!("/v1/kv/{cprefix}?recurse");
        let (status, _, text) = self.call(Method::GET, &path, None).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok((Vec::new(), revision));
        }
        if !status.is_success() {
            return Err(self.err(format!(
                "listing {cprefix} returned {status}: {}",
                text.trim()
            )));
        }
        let v: Vec<Value> = serde_json::from_str(&text).map_err(|e| self.err(e))?;
        let mut entries: Vec<KvEntry> = v.iter().filter_map(|e| self.entry(e)).collect();
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok((entries, revision))
    }

    async fn create(&self, key: &str, value: &str, lease: i64) -> Result<bool, NetError> {
        let ckey = self.ckey(key)?;
        let mut ops =
            vec![json!({"KV": {"Verb": "cas", "Key": ckey, "Value": b64(value), "Index": 0}})];
        if lease != 0 {
            ops.push(self.write_op(&ckey, value, lease).await?);
        }
        self.txn(ops).await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        revision: i64,
        value: &str,
        lease: i64,
    ) -> Result<bool, NetError> {
        let ckey = self.ckey(key)?;
        // Deleted and made again, so the key leaves its old session.
        let ops = vec![
            json!({"KV": {"Verb": "delete-cas", "Key": ckey, "Index": revision}}),
            self.write_op(&ckey, value, lease).await?,
        ];
        self.txn(ops).await
    }

    async fn put(&self, key: &str, value: &str, lease: i64) -> Result<(), NetError> {
        let ckey = self.ckey(key)?;
        let ops = vec![
            json!({"KV": {"Verb": "delete", "Key": ckey}}),
            self.write_op(&ckey, value, lease).await?,
        ];
        match self.txn(ops).await? {
            true => Ok(()),
            false => Err(self.err(format!("writing {ckey}: rolled back"))),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), NetError> {
        let ckey = self.ckey(key)?;
        let (status, _, text) = self
            .call(Method::DELETE, &format!("/v1/kv/{ckey}"), None)
            .await?;
        if !status.is_success() {
            return Err(self.err(format!(
                "deleting {ckey} returned {status}: {}",
                text.trim()
            )));
        }
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, NetError> {
        let cprefix = self.ckey(prefix)?;
        let (entries, _) = self.list(prefix).await?;
        if entries.is_empty() {
            return Ok(0);
        }
        let (status, _, text) = self
            .call(Method::DELETE, &format!("/v1/kv/{cprefix}?recurse"), None)
            .await?;
        if !status.is_success() {
            return Err(self.err(format!(
                "deleting {cprefix} returned {status}: {}",
                text.trim()
            )));
        }
        Ok(entries.len() as u64)
    }

    async fn grant(&self, ttl: Duration) -> Result<i64, NetError> {
        let body = json!({
            "Name": "shoal-net-agent",
            "TTL": format!("{}s", ttl.max(MIN_TTL).as_secs()),
            "Behavior": "delete",
            "LockDelay": "0s",
        });
        let (status, _, text) = self
            .call(Method::PUT, "/v1/session/create", Some(body.to_string()))
            .await?;
        if !status.is_success() {
            return Err(self.err(format!("session create returned {status}: {}", text.trim())));
        }
        let v: Value = serde_json::from_str(&text).map_err(|e| self.err(e))?;
        let id = v
            .get("ID")
            .and_then(Value::as_str)
            .ok_or_else(|| self.err("session create gave no ID"))?;
        let lease = lease_of(id);
        if lease == 0 {
            return Err(self.err(format!("session id {id:?} is not a uuid")));
        }
        self.sessions.lock().unwrap().insert(lease, id.to_string());
        Ok(lease)
    }

    async fn keep_alive(&self, lease: i64) -> Result<bool, NetError> {
        let Ok(id) = self.session(lease).await else {
            return Ok(false);
        };
        let (status, _, text) = self
            .call(Method::PUT, &format!("/v1/session/renew/{id}"), None)
            .await?;
        if status == StatusCode::NOT_FOUND {
            self.sessions.lock().unwrap().remove(&lease);
            return Ok(false);
        }
        if !status.is_success() {
            return Err(self.err(format!("session renew returned {status}: {}", text.trim())));
        }
        Ok(!matches!(text.trim(), "[]" | "null"))
    }

    async fn revoke(&self, lease: i64) -> Result<(), NetError> {
        let Ok(id) = self.session(lease).await else {
            return Ok(());
        };
        let (status, _, text) = self
            .call(Method::PUT, &format!("/v1/session/destroy/{id}"), None)
            .await?;
        self.sessions.lock().unwrap().remove(&lease);
        if !status.is_success() {
            return Err(self.err(format!(
                "session destroy returned {status}: {}",
                text.trim()
            )));
        }
        Ok(())
    }

    async fn wait_change(
        &self,
        _prefix: &str,
        revision: i64,
        max_wait: Duration,
    ) -> Result<(), NetError> {
        // Consul: index 0 does not block; an index that went backwards
        // (a restored server) means start over.
        let index = self.index(Some((revision.max(1), max_wait))).await?;
        if index < revision {
            tracing::debug!(index, revision, "consul index went backwards");
        }
        Ok(())
    }
}
