//! Rescheduling intents kept in the discovery store, so that a manager
//! that restarts (or a new primary) can still reschedule the containers of
//! a node that died meanwhile: etcd discovery (`etcd://h1,h2/prefix`), one
//! key per container, `<prefix>/docker/swarm/reschedule/<swarm id>`, its
//! value the [`StoredIntent`] JSON, through etcd's v3 JSON gateway.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hyper::Method;
use serde_json::{json, Value};
use shoal_engine::client::Client;
use shoal_engine::endpoint::Endpoint;
use shoal_engine::EngineError;

/// The etcd keys of the intents.
#[derive(Debug)]
pub struct IntentStore {
    clients: Vec<Client>,
    /// `<prefix>/docker/swarm/reschedule/` (no leading slash, as the
    /// discovery keys).
    dir: String,
}

fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

fn unb64(v: &Value) -> String {
    v.as_str()
        .and_then(|s| B64.decode(s).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The end of the key range holding every key that starts with `prefix`.
fn prefix_end(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    if let Some(last) = bytes.last_mut() {
        *last += 1;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

impl IntentStore {
    /// The store of an `etcd://` discovery URL; `None` for other backends.
    pub fn from_discovery(url: &str) -> Option<Self> {
        let rest = url.strip_prefix("etcd://")?;
        let (hosts, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let clients: Vec<Client> = hosts
            .split(',')
            .filter(|h| !h.is_empty())
            .filter_map(|h| {
                let h = if h.contains(':') {
                    h.to_string()
                } else {
                    format!("{h}:2379")
                };
                Endpoint::parse(&format!("tcp://{h}")).ok()
            })
            .map(|e| Client::new(e, Duration::from_secs(3), Duration::from_secs(5)))
            .collect();
        if clients.is_empty() {
            return None;
        }
        let prefix = prefix.trim_matches('/');
        let dir = if prefix.is_empty() {
            "docker/swarm/reschedule/".to_string()
        } else {
            format!("{prefix}/docker/swarm/reschedule/")
        };
        Some(Self { clients, dir })
    }

    async fn call(&self, path: &str, body: &Value) -> Result<Value, EngineError> {
        let mut last = None;
        for c in &self.clients {
            match c.call(Method::POST, path, Some(body)).await {
                Ok((_, bytes)) => return Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(EngineError::Status {
            status: hyper::StatusCode::SERVICE_UNAVAILABLE,
            message: "no etcd endpoint".into(),
        }))
    }

    pub async fn put(&self, swarm_id: &str, value: &Value) -> Result<(), EngineError> {
        let key = format!("{}{swarm_id}", self.dir);
        self.call(
            "/v3/kv/put",
            &json!({"key": b64(&key), "value": b64(&value.to_string())}),
        )
        .await
        .map(|_| ())
    }

    pub async fn delete(&self, swarm_id: &str) -> Result<(), EngineError> {
        let key = format!("{}{swarm_id}", self.dir);
        self.call("/v3/kv/deleterange", &json!({"key": b64(&key)}))
            .await
            .map(|_| ())
    }

    /// Every stored intent: (swarm ID, value).
    pub async fn list(&self) -> Result<Vec<(String, Value)>, EngineError> {
        let v = self
            .call(
                "/v3/kv/range",
                &json!({"key": b64(&self.dir), "range_end": b64(&prefix_end(&self.dir))}),
            )
            .await?;
        Ok(v.get("kvs")
            .and_then(Value::as_array)
            .map(|kvs| {
                kvs.iter()
                    .filter_map(|kv| {
                        let key = unb64(&kv["key"]);
                        let id = key.strip_prefix(&self.dir)?.to_string();
                        let value = serde_json::from_str(&unb64(&kv["value"])).ok()?;
                        Some((id, value))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_etcd_urls_give_a_store() {
        let s = IntentStore::from_discovery("etcd://10.0.0.1,10.0.0.2:2400/swarm").unwrap();
        assert_eq!(s.dir, "swarm/docker/swarm/reschedule/");
        assert_eq!(s.clients.len(), 2);
        let bare = IntentStore::from_discovery("etcd://10.0.0.1").unwrap();
        assert_eq!(bare.dir, "docker/swarm/reschedule/");
        assert!(IntentStore::from_discovery("nodes://10.0.0.1:2375").is_none());
        assert!(IntentStore::from_discovery("zk://10.0.0.1/x").is_none());
        assert_eq!(prefix_end("a/b/"), "a/b0");
        assert_eq!(unb64(&Value::from(b64("x/y"))), "x/y");
    }
}
