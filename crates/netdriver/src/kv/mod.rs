//! The key-value store behind the overlay: every write that two hosts could
//! race on is a compare-and-set. `etcd` speaks etcd's v3 JSON gateway; `mem`
//! is an in-memory store with the same semantics for unit tests.

mod etcd;
mod mem;

use std::time::Duration;

pub use etcd::EtcdKv;
pub use mem::MemKv;

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

/// Opens the store named by `url`: `etcd://host:port[,host:port...]`.
pub fn open(url: &str) -> Result<EtcdKv, NetError> {
    let rest = url
        .strip_prefix("etcd://")
        .ok_or_else(|| NetError::invalid("store url", url, "only etcd://host:port is supported"))?;
    let hosts: Vec<&str> = rest
        .trim_end_matches('/')
        .split(',')
        .filter(|h| !h.is_empty())
        .collect();
    if hosts.is_empty() {
        return Err(NetError::invalid("store url", url, "no host"));
    }
    EtcdKv::new(hosts.iter().map(|h| format!("http://{h}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls() {
        assert!(open("etcd://10.0.0.1:2379").is_ok());
        assert!(open("etcd://a:2379,b:2379/").is_ok());
        let e = open("consul://x:8500").unwrap_err().to_string();
        assert!(e.contains("consul://x:8500"), "{e}");
        assert!(open("etcd://").is_err());
    }
}
