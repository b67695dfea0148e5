//! `etcd://h1,h2/prefix`: etcd's v3 API through its JSON gateway
//! (`/v3/kv/range`, `/v3/kv/put`, `/v3/lease/grant`, `/v3/watch`), which
//! etcd 3.4 serves on its client port. Chosen over a gRPC crate because it
//! needs no protoc and no generated code; keys and values travel base64.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::Layout;
use crate::http::{self, TlsFiles};
use crate::{validate_addr, Discovery, DiscoveryError, DiscoveryOpts, KvUrl, Watch};

/// Nodes kept in etcd.
#[derive(Clone, Debug)]
pub struct EtcdDiscovery {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    layout: Layout,
    /// `http(s)://host:port` of each server.
    bases: Vec<String>,
    /// The server that answered last.
    current: AtomicUsize,
    http: reqwest::Client,
    /// Without an overall time limit, for watch streams.
    stream_http: reqwest::Client,
    /// The lease of our last registration: (addr, lease id).
    lease: Mutex<Option<(String, String)>>,
}

fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

fn unb64(v: &Value) -> Option<String> {
    v.as_str()
        .and_then(|s| B64.decode(s).ok())
        .and_then(|b| String::from_utf8(b).ok())
}

/// The end of the key range that holds every key starting with `prefix`.
fn prefix_end(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0xff {
            bytes.push(last + 1);
            return B64.encode(&bytes);
        }
    }
    B64.encode([0u8])
}

impl EtcdDiscovery {
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
        Ok(EtcdDiscovery {
            inner: Arc::new(Inner {
                bases,
                current: AtomicUsize::new(0),
                http: http::client(opts, &tls, Some(opts.request_timeout()))?,
                stream_http: http::client(opts, &tls, None)?,
                lease: Mutex::new(None),
                layout,
            }),
        })
    }

    fn err(&self, reason: impl std::fmt::Display) -> DiscoveryError {
        DiscoveryError::backend("etcd", self.inner.bases.join(","), reason)
    }

    fn dir_prefix(&self) -> String {
        format!("{}/", self.inner.layout.dir)
    }

    /// POSTs `body` to `path` on the first server that answers.
    async fn call(&self, path: &str, body: &Value) -> Result<Value, DiscoveryError> {
        let n = self.inner.bases.len();
        let start = self.inner.current.load(Ordering::Relaxed);
        let mut last_err = String::new();
        for i in 0..n {
            let idx = (start + i) % n;
            let base = &self.inner.bases[idx];
            let resp = match self
                .inner
                .http
                .post(format!("{base}{path}"))
                .json(body)
                .send()
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    last_err = if n > 1 {
                        format!("{base}: {}", http::describe(&e))
                    } else {
                        http::describe(&e)
                    };
                    continue;
                }
            };
            self.inner.current.store(idx, Ordering::Relaxed);
            let status = resp.status();
            let v: Value = resp
                .json()
                .await
                .map_err(|e| self.err(format!("{path}: bad answer: {}", http::describe(&e))))?;
            if !status.is_success() {
                let msg = v
                    .get("message")
                    .or_else(|| v.get("error"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                return Err(self.err(format!("{path} returned {status}: {msg}")));
            }
            return Ok(v);
        }
        Err(self.err(last_err))
    }

    /// The nodes and the store revision they were read at.
    async fn range(&self) -> Result<(Vec<String>, i64), DiscoveryError> {
        let prefix = self.dir_prefix();
        let v = self
            .call(
                "/v3/kv/range",
                &json!({"key": b64(&prefix), "range_end": prefix_end(&prefix)}),
            )
            .await?;
        let rev = v.pointer("/header/revision").and_then(as_i64).unwrap_or(0);
        let kvs = v
            .get("kvs")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let values = kvs.iter().filter_map(|kv| {
            let value = kv.get("value").and_then(unb64).filter(|s| !s.is_empty());
            value.or_else(|| {
                kv.get("key")
                    .and_then(unb64)
                    .and_then(|k| k.strip_prefix(&prefix).map(str::to_string))
            })
        });
        Ok((super::addresses(values, &self.inner.layout.url), rev))
    }

    /// Follows the watch stream from `rev`; returns when something changed
    /// (Ok) or the stream broke (Err).
    async fn wait_for_change(&self, rev: i64) -> Result<(), DiscoveryError> {
        let prefix = self.dir_prefix();
        let body = json!({"create_request": {
            "key": b64(&prefix), "range_end": prefix_end(&prefix), "start_revision": rev + 1
        }});
        let idx = self.inner.current.load(Ordering::Relaxed) % self.inner.bases.len();
        let base = &self.inner.bases[idx];
        let resp = self
            .inner
            .stream_http
            .post(format!("{base}/v3/watch"))
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                self.inner.current.store(idx + 1, Ordering::Relaxed);
                self.err(format!("watch: {}", http::describe(&e)))
            })?;
        if !resp.status().is_success() {
            return Err(self.err(format!("watch returned {}", resp.status())));
        }
        let mut stream = resp.bytes_stream();
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| self.err(format!("watch stream: {}", http::describe(&e))))?;
            buf.extend_from_slice(&chunk);
            let mut de = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
            let mut consumed = 0;
            while let Some(Ok(msg)) = de.next() {
                consumed = de.byte_offset();
                if let Some(e) = msg.get("error") {
                    return Err(self.err(format!("watch: {e}")));
                }
                let result = msg.get("result").unwrap_or(&Value::Null);
                if result.get("canceled").and_then(Value::as_bool) == Some(true) {
                    let reason = result
                        .get("cancel_reason")
                        .and_then(Value::as_str)
                        .unwrap_or("canceled");
                    return Err(self.err(format!("watch canceled: {reason}")));
                }
                if result
                    .get("events")
                    .and_then(Value::as_array)
                    .is_some_and(|e| !e.is_empty())
                {
                    return Ok(());
                }
            }
            buf.drain(..consumed);
        }
        Err(self.err("watch stream closed"))
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

#[async_trait::async_trait]
impl Discovery for EtcdDiscovery {
    fn scheme(&self) -> &'static str {
        "etcd"
    }

    async fn fetch(&self) -> Result<Vec<String>, DiscoveryError> {
        Ok(self.range().await?.0)
    }

    fn watch(&self, heartbeat: Duration) -> Watch {
        let me = self.clone();
        let retry = heartbeat.max(Duration::from_millis(100));
        Watch::spawn(move |tx| async move {
            let mut last: Option<Vec<String>> = None;
            loop {
                let step = async {
                    let (list, rev) = me.range().await?;
                    if last.as_ref() != Some(&list) {
                        last = Some(list.clone());
                        if tx.send(Ok(list)).await.is_err() {
                            return Ok(false);
                        }
                    }
                    me.wait_for_change(rev).await.map(|_| true)
                };
                let outcome = tokio::select! {
                    r = step => r,
                    _ = tx.closed() => return,
                };
                match outcome {
                    Ok(true) => continue,
                    Ok(false) => return,
                    Err(e) => {
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
        let lock = EtcdLock {
            d: self.clone(),
            held: tokio::sync::Mutex::new(None),
        };
        Ok(crate::election::spawn(lock, me.to_string(), ttl))
    }

    async fn register(&self, addr: &str, ttl: Duration) -> Result<(), DiscoveryError> {
        validate_addr(addr)?;
        let secs = ttl.as_secs().max(1);
        let grant = self.call("/v3/lease/grant", &json!({"TTL": secs})).await?;
        let id = grant
            .get("ID")
            .and_then(|v| {
                v.as_str()
                    .map(str::to_string)
                    .or_else(|| v.as_i64().map(|i| i.to_string()))
            })
            .ok_or_else(|| self.err("lease grant gave no id"))?;
        let key = self.inner.layout.key(addr);
        self.call(
            "/v3/kv/put",
            &json!({"key": b64(&key), "value": b64(addr), "lease": id}),
        )
        .await?;
        let previous = self
            .inner
            .lease
            .lock()
            .unwrap()
            .replace((addr.to_string(), id));
        if let Some((_, old)) = previous {
            // The key now hangs on the new lease: the old one can go.
            if let Err(e) = self.call("/v3/lease/revoke", &json!({"ID": old})).await {
                tracing::debug!("revoking lease {old}: {e}");
            }
        }
        Ok(())
    }
}

/// The leader lock in etcd: a key created only if absent, on a lease.
struct EtcdLock {
    d: EtcdDiscovery,
    /// The lease our lock hangs on, while we hold it.
    held: tokio::sync::Mutex<Option<String>>,
}

fn lease_id(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::to_string)
        .or_else(|| v.as_i64().map(|i| i.to_string()))
}

impl EtcdLock {
    /// Renews `lease`; whether our lock still stands on it.
    async fn renew(&self, me: &str, lease: &str) -> Result<bool, DiscoveryError> {
        let key = &self.d.inner.layout.leader;
        let alive = self
            .d
            .call("/v3/lease/keepalive", &json!({"ID": lease}))
            .await?
            .pointer("/result/TTL")
            .and_then(as_i64)
            .unwrap_or(0)
            > 0;
        if !alive {
            return Ok(false);
        }
        let v = self
            .d
            .call("/v3/kv/range", &json!({"key": b64(key)}))
            .await?;
        let kv = v.pointer("/kvs/0");
        Ok(
            kv.and_then(|kv| kv.get("value")).and_then(unb64).as_deref() == Some(me)
                && kv
                    .and_then(|kv| kv.get("lease"))
                    .and_then(lease_id)
                    .as_deref()
                    == Some(lease),
        )
    }

    /// Creates the key on a fresh lease if it is absent; the holder.
    async fn take(&self, me: &str, ttl: Duration) -> Result<Option<String>, DiscoveryError> {
        let key = b64(&self.d.inner.layout.leader);
        let secs = ttl.as_secs_f64().ceil().max(1.0) as u64;
        let grant = self
            .d
            .call("/v3/lease/grant", &json!({"TTL": secs}))
            .await?;
        let lease = grant
            .get("ID")
            .and_then(lease_id)
            .ok_or_else(|| self.d.err("lease grant gave no id"))?;
        let txn = json!({
            "compare": [{"target": "CREATE", "result": "EQUAL", "key": key, "create_revision": "0"}],
            "success": [{"request_put": {"key": key, "value": b64(me), "lease": lease}}],
            "failure": [{"request_range": {"key": key}}],
        });
        let v = match self.d.call("/v3/kv/txn", &txn).await {
            Ok(v) => v,
            Err(e) => {
                self.revoke(&lease).await;
                return Err(e);
            }
        };
        if v.get("succeeded").and_then(Value::as_bool) == Some(true) {
            *self.held.lock().await = Some(lease);
            return Ok(Some(me.to_string()));
        }
        self.revoke(&lease).await;
        let holder = v
            .pointer("/responses/0/response_range/kvs/0/value")
            .and_then(unb64);
        // Our own address on a lease we do not hold: left by an earlier run
        // of this manager; it expires with its lease.
        Ok(holder.filter(|h| h != me))
    }

    async fn revoke(&self, lease: &str) {
        if let Err(e) = self.d.call("/v3/lease/revoke", &json!({"ID": lease})).await {
            tracing::debug!("revoking lease {lease}: {e}");
        }
    }
}

#[async_trait::async_trait]
impl crate::election::LeaderLock for EtcdLock {
    async fn round(&self, me: &str, ttl: Duration) -> Result<Option<String>, DiscoveryError> {
        let held = self.held.lock().await.clone();
        if let Some(lease) = held {
            match self.renew(me, &lease).await {
                Ok(true) => return Ok(Some(me.to_string())),
                Ok(false) => {
                    *self.held.lock().await = None;
                    self.revoke(&lease).await;
                }
                Err(e) => {
                    // Not renewed: stop acting as primary now; the lease
                    // may still be ours next round if the store comes back.
                    return Err(e);
                }
            }
        }
        self.take(me, ttl).await
    }

    async fn resign(&self, _me: &str) {
        if let Some(lease) = self.held.lock().await.take() {
            // Revoking the lease deletes the key: another manager takes over
            // at its next round instead of after the ttl.
            self.revoke(&lease).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key() {
        assert_eq!(B64.decode(prefix_end("a/")).unwrap(), b"a0");
        assert_eq!(B64.decode(prefix_end("ab")).unwrap(), b"ac");
    }
}
