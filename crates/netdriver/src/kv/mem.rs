//! An in-memory store with etcd's semantics (revisions, leases, CAS), for
//! unit tests. Not a stand-in for etcd in integration tests.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::{Kv, KvEntry};
use crate::NetError;

#[derive(Default)]
struct State {
    revision: i64,
    next_lease: i64,
    keys: BTreeMap<String, (String, i64, i64)>,
    leases: HashMap<i64, ()>,
}

/// A shared in-memory store: clones see the same keys.
#[derive(Clone, Default)]
pub struct MemKv {
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
}

impl MemKv {
    pub fn new() -> Self {
        Self::default()
    }

    /// Ends `lease` as if it had timed out (its keys go).
    pub fn expire(&self, lease: i64) {
        let mut s = self.state.lock().unwrap();
        s.leases.remove(&lease);
        s.keys.retain(|_, v| v.2 != lease);
        s.revision += 1;
        self.changed.notify_waiters();
    }

    /// Every key, for assertions.
    pub fn keys(&self) -> Vec<String> {
        self.state.lock().unwrap().keys.keys().cloned().collect()
    }

    fn write(&self, key: &str, value: &str, lease: i64) -> Result<(), NetError> {
        let mut s = self.state.lock().unwrap();
        if lease != 0 && !s.leases.contains_key(&lease) {
            return Err(NetError::Store {
                endpoint: "mem".into(),
                reason: format!("lease {lease} not found"),
            });
        }
        s.revision += 1;
        let rev = s.revision;
        s.keys
            .insert(key.to_string(), (value.to_string(), rev, lease));
        drop(s);
        self.changed.notify_waiters();
        Ok(())
    }
}

fn to_entry(k: &str, v: &(String, i64, i64)) -> KvEntry {
    KvEntry {
        key: k.to_string(),
        value: v.0.clone(),
        mod_revision: v.1,
        lease: v.2,
    }
}

#[async_trait::async_trait]
impl Kv for MemKv {
    async fn get(&self, key: &str) -> Result<Option<KvEntry>, NetError> {
        let s = self.state.lock().unwrap();
        Ok(s.keys.get(key).map(|v| to_entry(key, v)))
    }

    async fn list(&self, prefix: &str) -> Result<(Vec<KvEntry>, i64), NetError> {
        let s = self.state.lock().unwrap();
        let list = s
            .keys
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| to_entry(k, v))
            .collect();
        Ok((list, s.revision))
    }

    async fn create(&self, key: &str, value: &str, lease: i64) -> Result<bool, NetError> {
        if self.state.lock().unwrap().keys.contains_key(key) {
            return Ok(false);
        }
        // Yield between the check and the write, as a network round trip
        // would, so concurrent callers really interleave.
        tokio::task::yield_now().await;
        let mut s = self.state.lock().unwrap();
        if s.keys.contains_key(key) {
            return Ok(false);
        }
        s.revision += 1;
        let rev = s.revision;
        s.keys
            .insert(key.to_string(), (value.to_string(), rev, lease));
        drop(s);
        self.changed.notify_waiters();
        Ok(true)
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        revision: i64,
        value: &str,
        lease: i64,
    ) -> Result<bool, NetError> {
        {
            let s = self.state.lock().unwrap();
            if s.keys.get(key).map(|v| v.1) != Some(revision) {
                return Ok(false);
            }
        }
        self.write(key, value, lease)?;
        Ok(true)
    }

    async fn put(&self, key: &str, value: &str, lease: i64) -> Result<(), NetError> {
        self.write(key, value, lease)
    }

    async fn delete(&self, key: &str) -> Result<(), NetError> {
        let mut s = self.state.lock().unwrap();
        if s.keys.remove(key).is_some() {
            s.revision += 1;
            self.changed.notify_waiters();
        }
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, NetError> {
        let mut s = self.state.lock().unwrap();
        let before = s.keys.len();
        s.keys.retain(|k, _| !k.starts_with(prefix));
        let n = (before - s.keys.len()) as u64;
        if n > 0 {
            s.revision += 1;
            self.changed.notify_waiters();
        }
        Ok(n)
    }

    async fn grant(&self, _ttl: Duration) -> Result<i64, NetError> {
        let mut s = self.state.lock().unwrap();
        s.next_lease += 1;
        let id = s.next_lease;
        s.leases.insert(id, ());
        Ok(id)
    }

    async fn keep_alive(&self, lease: i64) -> Result<bool, NetError> {
        Ok(self.state.lock().unwrap().leases.contains_key(&lease))
    }

    async fn revoke(&self, lease: i64) -> Result<(), NetError> {
        self.expire(lease);
        Ok(())
    }

    async fn wait_change(
        &self,
        _prefix: &str,
        revision: i64,
        max_wait: Duration,
    ) -> Result<(), NetError> {
        let notified = self.changed.notified();
        if self.state.lock().unwrap().revision > revision {
            return Ok(());
        }
        let _ = tokio::time::timeout(max_wait, notified).await;
        Ok(())
    }
}
