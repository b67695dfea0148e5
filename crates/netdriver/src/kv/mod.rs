//! The key-value store behind the overlay: every write that two hosts could
//! race on is a compare-and-set. `etcd` speaks etcd's v3 JSON gateway, `zk`
//! ZooKeeper's protocol and `consul` Consul's HTTP API (leases are sessions
//! in both); `mem` is an in-memory store
//! with the same semantics for unit tests. [`open`] picks one by the URL's
//! scheme.

mod consul;
mod etcd;
mod mem;
mod zk;

use std::sync::Arc;
use std::time::Duration;

pub use consul::ConsulKv;
pub use etcd::EtcdKv;
pub use mem::MemKv;
pub use zk::ZkKv;

use crate::NetError;

/// One key with its value, its last modification revision and its lease
/// (0: none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvEntry {
    pub key: String,
    pub value: String,
    pub mod_revision: i64,
    pub lease: i64,
}

/// What the overlay needs of a store.
#[async_trait::async_trait]
pub trait Kv: Send + Sync + 'static {
    /// The entry at `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<KvEntry>, NetError>;
    /// Every entry whose key starts with `prefix`, in key order, and the
    /// store revision they were read at.
    async fn list(&self, prefix: &str) -> Result<(Vec<KvEntry>, i64), NetError>;
    /// Writes `value` only if `key` does not exist; true when written.
    async fn create(&self, key: &str, value: &str, lease: i64) -> Result<bool, NetError>;
    /// Writes `value` only if `key` was last modified at `revision`; true
    /// when written.
    async fn compare_and_swap(
        &self,
        key: &str,
        revision: i64,
        value: &str,
        lease: i64,
    ) -> Result<bool, NetError>;
    /// Writes unconditionally.
    async fn put(&self, key: &str, value: &str, lease: i64) -> Result<(), NetError>;
    /// Deletes `key` (no error when absent).
    async fn delete(&self, key: &str) -> Result<(), NetError>;
    /// Deletes every key under `prefix`; returns how many went.
    async fn delete_prefix(&self, prefix: &str) -> Result<u64, NetError>;
    /// A new lease that expires after `ttl` unless kept alive.
    async fn grant(&self, ttl: Duration) -> Result<i64, NetError>;
    /// Renews `lease`; false when it has already expired.
    async fn keep_alive(&self, lease: i64) -> Result<bool, NetError>;
    /// Ends `lease` now: its keys go with it.
    async fn revoke(&self, lease: i64) -> Result<(), NetError>;
    /// Returns when something under `prefix` changed after `revision`, or
    /// after `max_wait` at the latest.
    async fn wait_change(
        &self,
        prefix: &str,
        revision: i64,
        max_wait: Duration,
    ) -> Result<(), NetError>;
}

/// The store a URL names.
#[derive(Clone, Debug)]
pub enum Store {
    Etcd(Arc<EtcdKv>),
    Zk(ZkKv),
    Consul(Arc<ConsulKv>),
}

/// The URL schemes [`open`] knows, for messages.
pub const SCHEMES: &str =
    "etcd://host:port[,host:port...], zk://host:port[,host:port...][/chroot] \
     or consul://host:port[,host:port...][/prefix]";

/// Opens the store named by `url`: `etcd://host:port[,host:port...]`,
/// `zk://host:port[,host:port...][/chroot]` or
/// `consul://host:port[,host:port...][/prefix]`. Contacts nothing yet.
pub fn open(url: &str) -> Result<Store, NetError> {
    let bad = |reason: &str| NetError::invalid("store url", url, reason);
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad(&format!("expected {SCHEMES}")))?;
    let (hosts, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let hosts: Vec<&str> = hosts.split(',').filter(|h| !h.is_empty()).collect();
    if hosts.is_empty() {
        return Err(bad("no host"));
    }
    match scheme {
        "etcd" => {
            if !path.trim_end_matches('/').is_empty() {
                return Err(bad("etcd takes no path (use --prefix)"));
            }
            Ok(Store::Etcd(Arc::new(EtcdKv::new(
                hosts.iter().map(|h| format!("http://{h}")).collect(),
            )?)))
        }
        "zk" => Ok(Store::Zk(ZkKv::new(&hosts.join(","), path)?)),
        "consul" => Ok(Store::Consul(Arc::new(ConsulKv::new(url, &hosts, path)?))),
        _ => Err(bad(&format!(
            "unknown scheme {scheme:?}: expected {SCHEMES}"
        ))),
    }
}

impl Store {
    fn kv(&self) -> &dyn Kv {
        match self {
            Store::Etcd(s) => s.as_ref(),
            Store::Zk(s) => s,
            Store::Consul(s) => s.as_ref(),
        }
    }
}

#[async_trait::async_trait]
impl Kv for Store {
    async fn get(&self, key: &str) -> Result<Option<KvEntry>, NetError> {
        self.kv().get(key).await
    }
    async fn list(&self, prefix: &str) -> Result<(Vec<KvEntry>, i64), NetError> {
        self.kv().list(prefix).await
    }
    async fn create(&self, key: &str, value: &str, lease: i64) -> Result<bool, NetError> {
        self.kv().create(key, value, lease).await
    }
    async fn compare_and_swap(
        &self,
        key: &str,
        revision: i64,
        value: &str,
        lease: i64,
    ) -> Result<bool, NetError> {
        self.kv()
            .compare_and_swap(key, revision, value, lease)
            .await
    }
    async fn put(&self, key: &str, value: &str, lease: i64) -> Result<(), NetError> {
        self.kv().put(key, value, lease).await
    }
    async fn delete(&self, key: &str) -> Result<(), NetError> {
        self.kv().delete(key).await
    }
    async fn delete_prefix(&self, prefix: &str) -> Result<u64, NetError> {
        self.kv().delete_prefix(prefix).await
    }
    async fn grant(&self, ttl: Duration) -> Result<i64, NetError> {
        self.kv().grant(ttl).await
    }
    async fn keep_alive(&self, lease: i64) -> Result<bool, NetError> {
        self.kv().keep_alive(lease).await
    }
    async fn revoke(&self, lease: i64) -> Result<(), NetError> {
        self.kv().revoke(lease).await
    }
    async fn wait_change(
        &self,
        prefix: &str,
        revision: i64,
        max_wait: Duration,
    ) -> Result<(), NetError> {
        self.kv().wait_change(prefix, revision, max_wait).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls() {
        assert!(open("etcd://10.0.0.1:2379").is_ok());
        assert!(open("etcd://a:2379,b:2379/").is_ok());
        assert!(matches!(
            open("consul://x:8500/p").unwrap(),
            Store::Consul(_)
        ));
        let e = open("redis://x:6379").unwrap_err().to_string();
        assert!(e.contains("redis://x:6379"), "{e}");
        for scheme in ["etcd://", "zk://", "consul://"] {
            assert!(e.contains(scheme), "the error names {scheme}: {e}");
        }
        assert!(open("etcd://").is_err());
        assert!(matches!(open("zk://10.0.0.1:2181").unwrap(), Store::Zk(_)));
        assert!(matches!(
            open("zk://a:2181,b:2181/shoal").unwrap(),
            Store::Zk(_)
        ));
        for bad in [
            "zk://",
            "zk:///x",
            "zk://a:2181/x//y",
            "etcd://a:2379/x",
            "a:2379",
        ] {
            let e = open(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }
}
