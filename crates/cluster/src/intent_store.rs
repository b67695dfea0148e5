//! Rescheduling intents kept in the discovery store, so that a manager
//! that restarts (or a new primary) can still reschedule the containers of
//! a node that died meanwhile: one key per container,
//! `<prefix>/docker/swarm/reschedule/<swarm id>`, its value the intent's
//! JSON. etcd (`etcd://h1,h2/prefix`) through its v3 JSON gateway;
//! ZooKeeper (`zk://h1,h2/prefix`) as persistent znodes.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hyper::Method;
use serde_json::{json, Value};
use shoal_engine::client::Client;
use shoal_engine::endpoint::Endpoint;
use shoal_engine::EngineError;
use zookeeper_client as zk;

/// The etcd keys of the intents.
#[derive(Debug)]
pub struct IntentStore {
    clients: Vec<Client>,
    /// `<prefix>/docker/swarm/reschedule/` (no leading slash, as the
    /// discovery keys).
    dir: String,
    /// ZooKeeper instead of etcd: the servers (`h:p,h:p`) and a session.
    zk: Option<ZkStore>,
}

struct ZkStore {
    servers: String,
    session: tokio::sync::Mutex<Option<zk::Client>>,
}

impl std::fmt::Debug for ZkStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkStore")
            .field("servers", &self.servers)
            .finish()
    }
}

fn zk_error(what: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Status {
        status: hyper::StatusCode::SERVICE_UNAVAILABLE,
        message: format!("zookeeper {what}: {e}"),
    }
}

impl ZkStore {
    async fn client(&self) -> Result<zk::Client, EngineError> {
        let mut guard = self.session.lock().await;
        if let Some(c) = guard.as_ref().filter(|c| !c.state().is_terminated()) {
            return Ok(c.clone());
        }
        let connecting = zk::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .with_connection_timeout(Duration::from_secs(3))
            .with_fail_eagerly()
            .connect(&self.servers);
        let c = tokio::time::timeout(Duration::from_secs(5), connecting)
            .await
            .map_err(|_| zk_error("connect", "timed out"))?
            .map_err(|e| zk_error("connect", e))?;
        *guard = Some(c.clone());
        Ok(c)
    }
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
    /// The store of an `etcd://` or `zk://` discovery URL; `None` for
    /// other backends.
    pub fn from_discovery(url: &str) -> Option<Self> {
        if let Some(rest) = url.strip_prefix("zk://") {
            let (hosts, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let servers: Vec<String> = hosts
                .split(',')
                .filter(|h| !h.is_empty())
                .map(|h| {
                    if h.contains(':') {
                        h.to_string()
                    } else {
                        format!("{h}:2181")
                    }
                })
                .collect();
            if servers.is_empty() {
                return None;
            }
            let prefix = prefix.trim_matches('/');
            let dir = if prefix.is_empty() {
                "/docker/swarm/reschedule/".to_string()
            } else {
                format!("/{prefix}/docker/swarm/reschedule/")
            };
            return Some(Self {
                clients: Vec::new(),
                dir,
                zk: Some(ZkStore {
                    servers: servers.join(","),
                    session: tokio::sync::Mutex::new(None),
                }),
            });
        }
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
        Some(Self {
            clients,
            dir,
            zk: None,
        })
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
        if let Some(z) = &self.zk {
            let c = z.client().await?;
            let data = value.to_string().into_bytes();
            let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
            let dir = self.dir.trim_end_matches('/');
            match c.mkdir(dir, &opts).await {
                Ok(()) | Err(zk::Error::NodeExists) => {}
                Err(e) => return Err(zk_error("mkdir", e)),
            }
            return match c.create(&key, &data, &opts).await {
                Ok(_) => Ok(()),
                Err(zk::Error::NodeExists) => c
                    .set_data(&key, &data, None)
                    .await
                    .map(|_| ())
                    .map_err(|e| zk_error("set", e)),
                Err(e) => Err(zk_error("create", e)),
            };
        }
        self.call(
            "/v3/kv/put",
            &json!({"key": b64(&key), "value": b64(&value.to_string())}),
        )
        .await
        .map(|_| ())
    }

    pub async fn delete(&self, swarm_id: &str) -> Result<(), EngineError> {
        let key = format!("{}{swarm_id}", self.dir);
        if let Some(z) = &self.zk {
            return match z.client().await?.delete(&key, None).await {
                Ok(()) | Err(zk::Error::NoNode) => Ok(()),
                Err(e) => Err(zk_error("delete", e)),
            };
        }
        self.call("/v3/kv/deleterange", &json!({"key": b64(&key)}))
            .await
            .map(|_| ())
    }

    /// Every stored intent: (swarm ID, value).
    pub async fn list(&self) -> Result<Vec<(String, Value)>, EngineError> {
        if let Some(z) = &self.zk {
            let c = z.client().await?;
            let names = match c.list_children(self.dir.trim_end_matches('/')).await {
                Ok(n) => n,
                Err(zk::Error::NoNode) => return Ok(Vec::new()),
                Err(e) => return Err(zk_error("list", e)),
            };
            let mut out = Vec::new();
            for n in names {
                match c.get_data(&format!("{}{n}", self.dir)).await {
                    Ok((data, _)) => {
                        if let Ok(v) = serde_json::from_slice(&data) {
                            out.push((n, v));
                        }
                    }
                    Err(zk::Error::NoNode) => {}
                    Err(e) => return Err(zk_error("get", e)),
                }
            }
            return Ok(out);
        }
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
        let zk = IntentStore::from_discovery("zk://10.0.0.1,10.0.0.2:2182/x").unwrap();
        assert_eq!(zk.dir, "/x/docker/swarm/reschedule/");
        assert_eq!(
            zk.zk.as_ref().unwrap().servers,
            "10.0.0.1:2181,10.0.0.2:2182"
        );
        assert!(IntentStore::from_discovery("consul://10.0.0.1/x").is_none());
        assert_eq!(prefix_end("a/b/"), "a/b0");
        assert_eq!(unb64(&Value::from(b64("x/y"))), "x/y");
    }
}
