//! `zk://host:port[,host:port...][/chroot]`: ZooKeeper, through the
//! zookeeper-client crate (its own protocol, tokio), as the discovery
//! backend does.
//!
//! How the [`Kv`] contract maps onto znodes:
//!
//! - A key `/a/b/c` is the znode `<chroot>/a/b/c`; keys must start with `/`
//!   (every key of [`crate::layout`] does). Its parents are plain persistent
//!   znodes with no data, made on demand. A key's data is `<lease>:<value>`,
//!   so an empty value is still told apart from a parent (whose data is
//!   empty). A path can be a key and a parent at once only while it is not
//!   leased (ZooKeeper gives ephemeral znodes no children); the overlay's
//!   keys never are both.
//! - Leases are sessions. `grant(ttl)` opens a session whose timeout is the
//!   ttl (bounded by the server's min/max session timeout, 4 s-40 s by
//!   default) and returns its session id; keys on it are ephemeral znodes of
//!   that session, and their `lease` is their owner. The client keeps the
//!   session alive by itself while the process lives; it expires when the
//!   host dies or is cut off for the timeout, and ZooKeeper deletes its keys,
//!   which is the point. `keep_alive` says whether the session still lives;
//!   `revoke` deletes the session's znodes and closes it, and deletes the
//!   keys other processes wrote on it that were not claimed yet (below).
//! - A key written on a lease that is another process's session (`shoal cni`
//!   writes on its agent's lease) cannot be that session's ephemeral znode:
//!   it is written persistent with the lease in its data, and the process
//!   owning the session turns it into an ephemeral znode of it as soon as
//!   its watch reports the write (delete + create in one multi, guarded by
//!   the version).
//! - `create` is a create (`NodeExists`: false). `mod_revision` is the
//!   znode's `mzxid`; `compare_and_swap` reads the stat, compares `mzxid`
//!   and writes with the stat's data version (`BadVersion`: false); moving a
//!   key to another lease (or off one) is a multi of delete(version) +
//!   create.
//! - Revisions: one persistent recursive watch on the chroot counts every
//!   change (and every connection loss, when changes may have been missed).
//!   `list` returns that count as read before it reads, and `wait_change`
//!   returns once the count is past the revision it is given. So a change
//!   made after a list's reads always wakes the next wait; a change anywhere
//!   under the chroot wakes every wait (callers re-read, which is harmless).
//! - `delete_prefix` deletes the keys, then the parents it emptied.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::watch;
use zookeeper_client as zk;

use super::{Kv, KvEntry};
use crate::NetError;

/// Session timeout of the session used for reads, plain writes and the watch.
const MAIN_SESSION: Duration = Duration::from_secs(10);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How many times a write retries when the znode changes under it.
const RETRIES: usize = 10;

/// A client of one ZooKeeper ensemble.
#[derive(Clone, Debug)]
pub struct ZkKv {
    inner: Arc<Inner>,
}

struct Inner {
    /// `host:port,host:port`
    cluster: String,
    /// The chroot, `""` or `/path` (no trailing slash).
    root: String,
    /// The session for reads, plain writes and the watch.
    main: tokio::sync::Mutex<Option<zk::Client>>,
    /// Our leases: session id → the session.
    leases: Mutex<HashMap<i64, zk::Client>>,
    /// How many changes the watch has seen.
    changes: watch::Sender<i64>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkKv")
            .field("cluster", &self.cluster)
            .field("root", &self.root)
            .finish()
    }
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

fn ephemeral() -> zk::CreateOptions<'static> {
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all())
}

/// A key's data: `<lease>:<value>`.
fn encode(lease: i64, value: &str) -> Vec<u8> {
    format!("{lease}:{value}").into_bytes()
}

/// The lease and value of a key's data; None for a parent (no data).
fn decode(data: &[u8]) -> Option<(i64, String)> {
    if data.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(data);
    match text.split_once(':') {
        Some((lease, value)) if lease.parse::<i64>().is_ok() => {
            Some((lease.parse().unwrap_or(0), value.to_string()))
        }
        // Not written by us: all value.
        _ => Some((0, text.into_owned())),
    }
}

fn parent(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((p, _)) => p,
    }
}

impl ZkKv {
    /// A client for `cluster` (`host:port,host:port`) keeping its keys under
    /// `root` (`""` or `/path`); contacts nothing yet.
    pub fn new(cluster: &str, root: &str) -> Result<Self, NetError> {
        let url = format!("zk://{cluster}{root}");
        if cluster.is_empty() || cluster.split(',').any(|h| h.trim().is_empty()) {
            return Err(NetError::invalid("store url", url, "no host"));
        }
        let root = root.trim_end_matches('/');
        if !root.is_empty() && (!root.starts_with('/') || root.contains("//")) {
            return Err(NetError::invalid("store url", url, "bad chroot path"));
        }
        Ok(ZkKv {
            inner: Arc::new(Inner {
                cluster: cluster.to_string(),
                root: root.to_string(),
                main: tokio::sync::Mutex::new(None),
                leases: Mutex::new(HashMap::new()),
                changes: watch::channel(0).0,
            }),
        })
    }

    fn err(&self, what: impl std::fmt::Display, e: impl std::fmt::Display) -> NetError {
        NetError::Store {
            endpoint: format!("zk://{}{}", self.inner.cluster, self.inner.root),
            reason: format!("{what}: {e}"),
        }
    }

    /// The znode of `key`.
    fn path(&self, key: &str) -> Result<String, NetError> {
        if !key.starts_with('/') || key.ends_with('/') || key.contains("//") {
            return Err(NetError::invalid(
                "store key",
                key,
                "must start with / and have no empty segment",
            ));
        }
        Ok(format!("{}{key}", self.inner.root))
    }

    /// The key of a znode.
    fn key<'a>(&self, path: &'a str) -> &'a str {
        &path[self.inner.root.len()..]
    }

    /// The znode the watch is on.
    fn watch_root(&self) -> &str {
        if self.inner.root.is_empty() {
            "/"
        } else {
            &self.inner.root
        }
    }

    async fn connect(&self, session: Duration) -> Result<zk::Client, NetError> {
        let connecting = zk::Client::connector()
            .with_session_timeout(session)
            .with_connection_timeout(CONNECT_TIMEOUT)
            .with_fail_eagerly()
            .connect(&self.inner.cluster);
        match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(self.err("connect", e)),
            Err(_) => Err(self.err("connect", "timed out")),
        }
    }

    fn bump(&self) {
        self.inner.changes.send_modify(|c| *c += 1);
    }

    /// The main session, connected (with its watch) if it is not.
    async fn main(&self) -> Result<zk::Client, NetError> {
        let mut guard = self.inner.main.lock().await;
        if let Some(c) = guard.as_ref() {
            if !c.state().is_terminated() {
                return Ok(c.clone());
            }
        }
        let client = self.connect(MAIN_SESSION).await?;
        let root = self.watch_root().to_string();
        if root != "/" {
            client
                .mkdir(&root, &persistent())
                .await
                .map_err(|e| self.err(format!("creating {root}"), e))?;
        }
        let watcher = client
            .watch(&root, zk::AddWatchMode::PersistentRecursive)
            .await
            .map_err(|e| self.err(format!("watching {root}"), e))?;
        tokio::spawn(watch_loop(Arc::downgrade(&self.inner), watcher));
        // Changes may have been missed while no session watched.
        self.bump();
        *guard = Some(client.clone());
        Ok(client)
    }

    /// The session of `lease` when it is ours.
    fn owned(&self, lease: i64) -> Result<Option<zk::Client>, NetError> {
        if lease == 0 {
            return Ok(None);
        }
        match self.inner.leases.lock().unwrap().get(&lease) {
            Some(c) if c.state().is_terminated() => {
                Err(self.err(format!("lease {lease}"), "session expired"))
            }
            Some(c) => Ok(Some(c.clone())),
            None => Ok(None),
        }
    }

    /// The session to write a key of `lease` with, and how.
    async fn writer(
        &self,
        lease: i64,
    ) -> Result<(zk::Client, zk::CreateOptions<'static>, i64), NetError> {
        Ok(match self.owned(lease)? {
            Some(c) => {
                let id = c.session_id().0;
                (c, ephemeral(), id)
            }
            None => (self.main().await?, persistent(), 0),
        })
    }

    async fn mkdir_parent(&self, client: &zk::Client, path: &str) -> Result<(), NetError> {
        let dir = parent(path);
        match client.mkdir(dir, &persistent()).await {
            Ok(()) => Ok(()),
            Err(zk::Error::NoChildrenForEphemerals) => Err(self.err(
                format!("creating {dir}"),
                "a leased key cannot be a prefix of other keys",
            )),
            Err(e) => Err(self.err(format!("creating {dir}"), e)),
        }
    }

    /// Creates `path`; false when a key is there already.
    async fn create_at(&self, path: &str, value: &str, lease: i64) -> Result<bool, NetError> {
        let (client, opts, owner) = self.writer(lease).await?;
        let data = encode(lease, value);
        for _ in 0..RETRIES {
            match client.create(path, &data, &opts).await {
                Ok(_) => return Ok(true),
                Err(zk::Error::NoNode) => self.mkdir_parent(&client, path).await?,
                Err(zk::Error::NodeExists) => match client.get_data(path).await {
                    // A parent only: it becomes a key too.
                    Ok((d, stat)) if d.is_empty() => {
                        if owner != 0 {
                            return Err(self.err(
                                format!("creating {path}"),
                                "a prefix of other keys cannot be leased",
                            ));
                        }
                        match client.set_data(path, &data, Some(stat.version)).await {
                            Ok(_) => return Ok(true),
                            Err(zk::Error::BadVersion | zk::Error::NoNode) => continue,
                            Err(e) => return Err(self.err(format!("writing {path}"), e)),
                        }
                    }
                    Ok(_) => return Ok(false),
                    Err(zk::Error::NoNode) => continue,
                    Err(e) => return Err(self.err(format!("reading {path}"), e)),
                },
                Err(zk::Error::NoChildrenForEphemerals) => {
                    return Err(self.err(
                        format!("creating {path}"),
                        "a leased key cannot be a prefix of other keys",
                    ))
                }
                Err(e) => return Err(self.err(format!("creating {path}"), e)),
            }
        }
        Err(NetError::Contention {
            what: format!("creating {path}"),
        })
    }

    /// Replaces the key at `path`, last seen with `stat`; false when it
    /// changed or went meanwhile.
    async fn replace(
        &self,
        path: &str,
        stat: &zk::Stat,
        value: &str,
        lease: i64,
    ) -> Result<bool, NetError> {
        let (client, opts, owner) = self.writer(lease).await?;
        let data = encode(lease, value);
        let result = if stat.ephemeral_owner == owner {
            client
                .set_data(path, &data, Some(stat.version))
                .await
                .map(drop)
        } else {
            // Another owner: delete and create in one transaction.
            let mut multi = client.new_multi_writer();
            multi
                .add_delete(path, Some(stat.version))
                .and_then(|_| multi.add_create(path, &data, &opts))
                .map_err(|e| self.err(format!("writing {path}"), e))?;
            multi.commit().await.map(drop).map_err(zk::Error::from)
        };
        match result {
            Ok(()) => Ok(true),
            Err(zk::Error::BadVersion | zk::Error::NoNode) => Ok(false),
            Err(zk::Error::NotEmpty) => Err(self.err(
                format!("writing {path}"),
                "a prefix of other keys cannot be leased",
            )),
            Err(e) => Err(self.err(format!("writing {path}"), e)),
        }
    }

    /// Every key under `prefix` and every parent znode visited (deepest
    /// last), read with `client`.
    async fn walk(
        &self,
        client: &zk::Client,
        prefix: &str,
    ) -> Result<(Vec<KvEntry>, Vec<String>), NetError> {
        if !prefix.starts_with('/') {
            return Err(NetError::invalid(
                "store prefix",
                prefix,
                "must start with /",
            ));
        }
        let full = format!("{}{prefix}", self.inner.root);
        let (dir, name_prefix) = full.rsplit_once('/').unwrap_or(("", ""));
        let dir = if dir.is_empty() { "/" } else { dir };
        let join = |d: &str, name: &str| {
            if d == "/" {
                format!("/{name}")
            } else {
                format!("{d}/{name}")
            }
        };
        let first = match client.list_children(dir).await {
            Ok(names) => names,
            Err(zk::Error::NoNode) => return Ok((Vec::new(), Vec::new())),
            Err(e) => return Err(self.err(format!("listing {dir}"), e)),
        };
        let mut dirs = Vec::new();
        if name_prefix.is_empty() && dir != self.watch_root() {
            dirs.push(dir.to_string());
        }
        let mut frontier: Vec<String> = first
            .iter()
            .filter(|n| n.starts_with(name_prefix))
            .map(|n| join(dir, n))
            .filter(|p| p != "/zookeeper")
            .collect();
        let mut entries = Vec::new();
        while !frontier.is_empty() {
            let reads = join_all(frontier.iter().map(|p| client.get_data(p))).await;
            let mut parents = Vec::new();
            for (path, read) in frontier.iter().zip(reads) {
                let (data, stat) = match read {
                    Ok(r) => r,
                    Err(zk::Error::NoNode) => continue,
                    Err(e) => return Err(self.err(format!("reading {path}"), e)),
                };
                if let Some((lease, value)) = decode(&data) {
                    entries.push(KvEntry {
                        key: self.key(path).to_string(),
                        value,
                        mod_revision: stat.mzxid,
                        lease: if stat.ephemeral_owner != 0 {
                            stat.ephemeral_owner
                        } else {
                            lease
                        },
                    });
                }
                if data.is_empty() || stat.num_children > 0 {
                    parents.push(path.clone());
                }
            }
            let lists = join_all(parents.iter().map(|p| client.list_children(p))).await;
            frontier = Vec::new();
            for (path, list) in parents.iter().zip(lists) {
                match list {
                    Ok(names) => frontier.extend(names.iter().map(|n| join(path, n))),
                    Err(zk::Error::NoNode) => {}
                    Err(e) => return Err(self.err(format!("listing {path}"), e)),
                }
            }
            dirs.extend(parents);
        }
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok((entries, dirs))
    }

    /// Makes the key at `path`, written persistent on one of our leases by
    /// another process, an ephemeral znode of that lease's session.
    async fn claim(&self, path: &str) {
        let Some(main) = self.inner.main.lock().await.clone() else {
            return;
        };
        let Ok((data, stat)) = main.get_data(path).await else {
            return;
        };
        let Some((lease, _)) = decode(&data) else {
            return;
        };
        if stat.ephemeral_owner != 0 || lease == 0 {
            return;
        }
        let Ok(Some(owner)) = self.owned(lease) else {
            return;
        };
        let mut multi = owner.new_multi_writer();
        if multi.add_delete(path, Some(stat.version)).is_err()
            || multi.add_create(path, &data, &ephemeral()).is_err()
        {
            return;
        }
        // A failure means it changed: that change comes as an event too.
        match multi.commit().await {
            Ok(_) => tracing::debug!(path, lease, "key moved onto its lease's session"),
            Err(e) => tracing::debug!(path, lease, "key not moved onto its lease: {e}"),
        }
    }
}

/// Counts the changes the watch reports; writes on our leases by other
/// processes are claimed. Ends with the session.
async fn watch_loop(inner: Weak<Inner>, mut watcher: zk::PersistentWatcher) {
    loop {
        let ev = watcher.changed().await;
        let Some(inner) = inner.upgrade() else { return };
        let kv = ZkKv { inner };
        kv.bump();
        match ev.event_type {
            zk::EventType::Session if ev.session_state.is_terminated() => return,
            zk::EventType::NodeCreated | zk::EventType::NodeDataChanged => {
                let owns = !kv.inner.leases.lock().unwrap().is_empty();
                if owns {
                    let path = ev.path.clone();
                    tokio::spawn(async move { kv.claim(&path).await });
                }
            }
            _ => {}
        }
    }
}

#[async_trait::async_trait]
impl Kv for ZkKv {
    async fn get(&self, key: &str) -> Result<Option<KvEntry>, NetError> {
        let path = self.path(key)?;
        let client = self.main().await?;
        match client.get_data(&path).await {
            Ok((data, stat)) => Ok(decode(&data).map(|(lease, value)| KvEntry {
                key: key.to_string(),
                value,
                mod_revision: stat.mzxid,
                lease: if stat.ephemeral_owner != 0 {
                    stat.ephemeral_owner
                } else {
                    lease
                },
            })),
            Err(zk::Error::NoNode) => Ok(None),
            Err(e) => Err(self.err(format!("reading {path}"), e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<(Vec<KvEntry>, i64), NetError> {
        let client = self.main().await?;
        let revision = *self.inner.changes.borrow();
        let (entries, _) = self.walk(&client, prefix).await?;
        Ok((entries, revision))
    }

    async fn create(&self, key: &str, value: &str, lease: i64) -> Result<bool, NetError> {
        let path = self.path(key)?;
        self.create_at(&path, value, lease).await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        revision: i64,
        value: &str,
        lease: i64,
    ) -> Result<bool, NetError> {
        let path = self.path(key)?;
        let client = self.main().await?;
        match client.check_stat(&path).await {
            Ok(Some(stat)) if stat.mzxid == revision => {
                self.replace(&path, &stat, value, lease).await
            }
            Ok(_) => Ok(false),
            Err(e) => Err(self.err(format!("reading {path}"), e)),
        }
    }

    async fn put(&self, key: &str, value: &str, lease: i64) -> Result<(), NetError> {
        let path = self.path(key)?;
        let client = self.main().await?;
        for _ in 0..RETRIES {
            let done = match client.check_stat(&path).await {
                Ok(None) => self.create_at(&path, value, lease).await?,
                Ok(Some(stat)) => self.replace(&path, &stat, value, lease).await?,
                Err(e) => return Err(self.err(format!("reading {path}"), e)),
            };
            if done {
                return Ok(());
            }
        }
        Err(NetError::Contention {
            what: format!("writing {path}"),
        })
    }

    async fn delete(&self, key: &str) -> Result<(), NetError> {
        let path = self.path(key)?;
        let client = self.main().await?;
        match client.delete(&path, None).await {
            Ok(()) | Err(zk::Error::NoNode) => Ok(()),
            // A key that is also a parent: it stays a parent only.
            Err(zk::Error::NotEmpty) => match client.set_data(&path, b"", None).await {
                Ok(_) | Err(zk::Error::NoNode) => Ok(()),
                Err(e) => Err(self.err(format!("deleting {path}"), e)),
            },
            Err(e) => Err(self.err(format!("deleting {path}"), e)),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, NetError> {
        let client = self.main().await?;
        let (entries, mut dirs) = self.walk(&client, prefix).await?;
        let mut deleted = 0;
        for e in &entries {
            let path = format!("{}{}", self.inner.root, e.key);
            match client.delete(&path, None).await {
                Ok(()) => deleted += 1,
                Err(zk::Error::NoNode | zk::Error::NotEmpty) => {}
                Err(e) => return Err(self.err(format!("deleting {path}"), e)),
            }
        }
        // Parents left empty, deepest first; one still in use stays.
        dirs.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
        for d in dirs {
            let _ = client.delete(&d, None).await;
        }
        Ok(deleted)
    }

    async fn grant(&self, ttl: Duration) -> Result<i64, NetError> {
        // The watch must run to claim keys other processes write on it.
        self.main().await?;
        let client = self.connect(ttl.max(Duration::from_secs(1))).await?;
        let id = client.session_id().0;
        tracing::debug!(
            lease = id,
            timeout = ?client.session_timeout(),
            "zookeeper session as lease"
        );
        self.inner.leases.lock().unwrap().insert(id, client);
        Ok(id)
    }

    async fn keep_alive(&self, lease: i64) -> Result<bool, NetError> {
        let mut leases = self.inner.leases.lock().unwrap();
        match leases.get(&lease) {
            Some(c) if !c.state().is_terminated() => Ok(true),
            Some(_) => {
                leases.remove(&lease);
                Ok(false)
            }
            None => Ok(false),
        }
    }

    async fn revoke(&self, lease: i64) -> Result<(), NetError> {
        let client = self.inner.leases.lock().unwrap().remove(&lease);
        let Some(client) = client else { return Ok(()) };
        if client.state().is_terminated() {
            return Ok(());
        }
        // Its znodes go now; dropping the last handle closes the session.
        let paths = client
            .list_ephemerals("/")
            .await
            .map_err(|e| self.err(format!("revoking lease {lease}"), e))?;
        for path in paths {
            match client.delete(&path, None).await {
                Ok(()) | Err(zk::Error::NoNode) => {}
                Err(e) => return Err(self.err(format!("revoking lease {lease}"), e)),
            }
        }
        drop(client);
        // Keys other processes wrote on it and the watch has not claimed yet.
        let main = self.main().await?;
        let (entries, _) = self.walk(&main, "/").await?;
        for e in entries.iter().filter(|e| e.lease == lease) {
            let path = format!("{}{}", self.inner.root, e.key);
            match main.delete(&path, None).await {
                Ok(()) | Err(zk::Error::NoNode) => {}
                Err(e) => return Err(self.err(format!("revoking lease {lease}"), e)),
            }
        }
        Ok(())
    }

    async fn wait_change(
        &self,
        _prefix: &str,
        revision: i64,
        max_wait: Duration,
    ) -> Result<(), NetError> {
        self.main().await?;
        let mut rx = self.inner.changes.subscribe();
        let _ = tokio::time::timeout(max_wait, rx.wait_for(|c| *c > revision)).await;
        Ok(())
    }
}
