//! etcd v3 through its JSON gateway (`/v3/kv/range`, `/v3/kv/txn`,
//! `/v3/kv/deleterange`, `/v3/lease/*`, `/v3/watch`), served by etcd 3.4 on
//! its client port. Chosen over a gRPC crate for the same reason as the
//! discovery backend: no protoc, no generated code. Keys and values travel
//! base64; compare-and-set is a transaction comparing `create_revision`
//! (create) or `mod_revision` (swap).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::{Kv, KvEntry};
use crate::NetError;

/// A client of one etcd cluster.
#[derive(Debug)]
pub struct EtcdKv {
    bases: Vec<String>,
    current: AtomicUsize,
    http: reqwest::Client,
    stream_http: reqwest::Client,
}

fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

fn unb64(v: Option<&Value>) -> String {
    v.and_then(Value::as_str)
        .and_then(|s| B64.decode(s).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default()
}

fn as_i64(v: Option<&Value>) -> i64 {
    v.and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    })
    .unwrap_or(0)
}

/// The end of the key range holding every key that starts with `prefix`.
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

fn entry(kv: &Value) -> KvEntry {
    KvEntry {
        key: unb64(kv.get("key")),
        value: unb64(kv.get("value")),
        mod_revision: as_i64(kv.get("mod_revision")),
        lease: as_i64(kv.get("lease")),
    }
}

impl EtcdKv {
    /// A client for the servers at `bases` (`http://host:port`); contacts
    /// nothing yet.
    pub fn new(bases: Vec<String>) -> Result<Self, NetError> {
        let build = |timeout: Option<Duration>| {
            let mut b = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(3))
                .no_proxy();
            if let Some(t) = timeout {
                b = b.timeout(t);
            }
            b.build().map_err(|e| NetError::Store {
                endpoint: bases.join(","),
                reason: e.to_string(),
            })
        };
        Ok(EtcdKv {
            http: build(Some(Duration::from_secs(10)))?,
            stream_http: build(None)?,
            current: AtomicUsize::new(0),
            bases,
        })
    }

    fn err(&self, reason: impl std::fmt::Display) -> NetError {
        NetError::Store {
            endpoint: self.bases.join(","),
            reason: reason.to_string(),
        }
    }

    /// POSTs `body` to `path` on the first server that answers.
    async fn call(&self, path: &str, body: &Value) -> Result<Value, NetError> {
        let n = self.bases.len();
        let start = self.current.load(Ordering::Relaxed);
        let mut last = String::new();
        for i in 0..n {
            let idx = (start + i) % n;
            let base = &self.bases[idx];
            let resp = match self
                .http
                .post(format!("{base}{path}"))
                .json(body)
                .send()
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    last = format!("{base}{path}: {e}");
                    continue;
                }
            };
            self.current.store(idx, Ordering::Relaxed);
            let status = resp.status();
            let v: Value = resp
                .json()
                .await
                .map_err(|e| self.err(format!("{path}: bad answer: {e}")))?;
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
        Err(self.err(last))
    }

    async fn txn(
        &self,
        compare: Value,
        key: &str,
        value: &str,
        lease: i64,
    ) -> Result<bool, NetError> {
        let mut put = json!({"key": b64(key), "value": b64(value)});
        if lease != 0 {
            put["lease"] = json!(lease.to_string());
        }
        let v = self
            .call(
                "/v3/kv/txn",
                &json!({"compare": [compare], "success": [{"request_put": put}]}),
            )
            .await?;
        Ok(v.get("succeeded").and_then(Value::as_bool).unwrap_or(false))
    }
}

#[async_trait::async_trait]
impl Kv for EtcdKv {
    async fn get(&self, key: &str) -> Result<Option<KvEntry>, NetError> {
        let v = self.call("/v3/kv/range", &json!({"key": b64(key)})).await?;
        Ok(v.get("kvs")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .map(entry))
    }

    async fn list(&self, prefix: &str) -> Result<(Vec<KvEntry>, i64), NetError> {
        let v = self
            .call(
                "/v3/kv/range",
                &json!({"key": b64(prefix), "range_end": prefix_end(prefix)}),
            )
            .await?;
        let rev = as_i64(v.pointer("/header/revision"));
        let entries = v
            .get("kvs")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(entry).collect())
            .unwrap_or_default();
        Ok((entries, rev))
    }

    async fn create(&self, key: &str, value: &str, lease: i64) -> Result<bool, NetError> {
        let cmp =
            json!({"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"});
        self.txn(cmp, key, value, lease).await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        revision: i64,
        value: &str,
        lease: i64,
    ) -> Result<bool, NetError> {
        let cmp = json!({"key": b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": revision.to_string()});
        self.txn(cmp, key, value, lease).await
    }

    async fn put(&self, key: &str, value: &str, lease: i64) -> Result<(), NetError> {
        let mut body = json!({"key": b64(key), "value": b64(value)});
        if lease != 0 {
            body["lease"] = json!(lease.to_string());
        }
        self.call("/v3/kv/put", &body).await.map(drop)
    }

    async fn delete(&self, key: &str) -> Result<(), NetError> {
        self.call("/v3/kv/deleterange", &json!({"key": b64(key)}))
            .await
            .map(drop)
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, NetError> {
        let v = self
            .call(
                "/v3/kv/deleterange",
                &json!({"key": b64(prefix), "range_end": prefix_end(prefix)}),
            )
            .await?;
        Ok(as_i64(v.get("deleted")) as u64)
    }

    async fn grant(&self, ttl: Duration) -> Result<i64, NetError> {
        let v = self
            .call(
                "/v3/lease/grant",
                &json!({"TTL": ttl.as_secs().max(1).to_string()}),
            )
            .await?;
        match as_i64(v.get("ID")) {
            0 => Err(self.err("lease grant gave no id")),
            id => Ok(id),
        }
    }

    async fn keep_alive(&self, lease: i64) -> Result<bool, NetError> {
        let v = self
            .call("/v3/lease/keepalive", &json!({"ID": lease.to_string()}))
            .await?;
        // The gateway wraps stream messages in {"result": ...}; a lease that
        // is gone answers with TTL 0 (or leaves it out).
        let result = v.get("result").unwrap_or(&v);
        Ok(as_i64(result.get("TTL")) > 0)
    }

    async fn revoke(&self, lease: i64) -> Result<(), NetError> {
        self.call("/v3/lease/revoke", &json!({"ID": lease.to_string()}))
            .await
            .map(drop)
    }

    async fn wait_change(
        &self,
        prefix: &str,
        revision: i64,
        max_wait: Duration,
    ) -> Result<(), NetError> {
        let body = json!({"create_request": {
            "key": b64(prefix), "range_end": prefix_end(prefix), "start_revision": (revision + 1).to_string()
        }});
        let base = &self.bases[self.current.load(Ordering::Relaxed) % self.bases.len()];
        let watch = async {
            let resp = self
                .stream_http
                .post(format!("{base}/v3/watch"))
                .json(&body)
                .send()
                .await
                .map_err(|e| self.err(format!("watch: {e}")))?;
            if !resp.status().is_success() {
                return Err(self.err(format!("watch returned {}", resp.status())));
            }
            let mut stream = resp.bytes_stream();
            let mut buf: Vec<u8> = Vec::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| self.err(format!("watch stream: {e}")))?;
                buf.extend_from_slice(&chunk);
                let mut de = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
                let mut consumed = 0;
                while let Some(Ok(msg)) = de.next() {
                    consumed = de.byte_offset();
                    let result = msg.get("result").unwrap_or(&Value::Null);
                    let events = result.get("events").and_then(Value::as_array);
                    if events.is_some_and(|e| !e.is_empty())
                        || result.get("canceled").and_then(Value::as_bool) == Some(true)
                    {
                        return Ok(());
                    }
                }
                buf.drain(..consumed);
            }
            Err(self.err("watch stream closed"))
        };
        match tokio::time::timeout(max_wait, watch).await {
            Ok(r) => r,
            Err(_) => Ok(()),
        }
    }
}
