//! One engine: its identity, health and cached state.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use shoal_api_types::event::EventNode;
use shoal_api_types::{Info, NodeStatus, Version};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::cache::{CachedContainer, EngineCache, RunState};
use crate::changes::ChangeLog;
use crate::client::Client;
use crate::endpoint::Endpoint;
use crate::error::EngineError;
use crate::hub::EventHub;
use crate::journal::{Changes, Journal};
use crate::refresh_queue::RefreshQueue;

/// Settings of the engine lifecycle (the `shoal manage` flags).
#[derive(Debug, Clone)]
pub struct EngineOpts {
    pub refresh_min: Duration,
    pub refresh_max: Duration,
    /// Failures in a row that make a healthy engine unhealthy.
    pub failure_retry: u32,
    pub connect_timeout: Duration,
    /// Bound on typed calls (info, lists, inspect) made by the manager itself.
    pub request_timeout: Duration,
    /// TLS to the engine (`manage --tls`/`--tlsverify`), else plain TCP.
    pub tls: Option<crate::tls::ClientTls>,
    /// Where refreshes after events wait for their time: one queue for
    /// all the engines made with clones of these options.
    pub refreshes: Arc<RefreshQueue>,
}

impl Default for EngineOpts {
    fn default() -> Self {
        Self {
            refresh_min: Duration::from_secs(30),
            refresh_max: Duration::from_secs(60),
            failure_retry: 3,
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            tls: None,
            refreshes: Arc::default(),
        }
    }
}

/// Mutable state, behind a lock never held across I/O.
#[derive(Debug, Clone)]
pub(crate) struct EngineState {
    pub status: NodeStatus,
    pub failures: u32,
    pub info: Arc<Info>,
    /// `info.node_labels()`, kept with it.
    pub labels: BTreeMap<String, String>,
    pub version: Version,
    pub updated_at: i64,
    pub error: String,
    pub cache: EngineCache,
    pub connected_once: bool,
    /// When each container recently removed from the cache went: a refresh
    /// that began before a removal must not bring the container back.
    pub removed: std::collections::HashMap<String, std::time::Instant>,
    /// Which containers changed since the cluster last read the cache.
    pub journal: Journal,
    /// The node as events show it, shared by all of them (follows `info`).
    pub node: Arc<EventNode>,
}

impl EngineState {
    pub fn set_info(&mut self, info: Info) {
        let labels = info.node_labels();
        let old = &self.info;
        // what a node's view holds of the engine itself
        if labels != self.labels
            || info.id != old.id
            || info.name != old.name
            || info.ncpu != old.ncpu
            || info.mem_total != old.mem_total
        {
            self.journal.invalidate();
        }
        let name = if info.name.is_empty() {
            &self.node.addr
        } else {
            &info.name
        };
        if info.id != self.node.id || *name != self.node.name {
            self.node = Arc::new(EventNode {
                id: info.id.clone(),
                name: name.clone(),
                addr: self.node.addr.clone(),
                ip: self.node.ip.clone(),
            });
        }
        self.labels = labels;
        self.info = Arc::new(info);
    }

    /// Stores a container record (filed in the journal).
    pub fn put_container(&mut self, c: CachedContainer) {
        self.journal.touch(c.id());
        self.cache.containers.insert(c.id().to_string(), c);
    }

    /// Drops a container record (filed in the journal when there was one).
    pub fn drop_container(&mut self, id: &str) -> Option<CachedContainer> {
        let gone = self.cache.containers.remove(id);
        if gone.is_some() {
            self.journal.touch(id);
        }
        gone
    }

    /// Sets the images (the journal says all when they differ).
    pub fn set_images(&mut self, images: Vec<shoal_api_types::ImageSummary>) {
        if images != self.cache.images {
            self.journal.invalidate();
            self.cache.images = images;
        }
    }

    /// Whether `id` was removed after `since` (so what a refresh started at
    /// `since` saw of it is stale).
    pub fn removed_since(&self, id: &str, since: std::time::Instant) -> bool {
        self.removed.get(id).is_some_and(|t| *t >= since)
    }
}

/// A copy of what `docker info` and the scheduler need about an engine.
#[derive(Debug, Clone)]
pub struct EngineSnapshot {
    pub addr: String,
    pub id: String,
    pub name: String,
    pub status: NodeStatus,
    pub failures: u32,
    pub cpus: i64,
    pub memory: i64,
    pub labels: BTreeMap<String, String>,
    pub updated_at: i64,
    pub error: String,
    pub server_version: String,
    pub info: Arc<Info>,
}

/// What `docker info` shows of one engine's cache, computed once per
/// generation.
#[derive(Debug, Clone, Default)]
pub struct EngineStats {
    pub containers: i64,
    pub running: i64,
    pub paused: i64,
    pub stopped: i64,
    pub reserved_cpus: i64,
    pub reserved_memory: i64,
    pub images: i64,
}

/// The cache as [`Engine::read_changes`] reads it, with what changed.
pub struct CacheRead<'a> {
    /// The generation the cache is at.
    pub generation: u64,
    /// What changed since the reader's last read.
    pub changes: Changes,
    pub cache: &'a EngineCache,
    /// CPUs of the engine (reservations of CPU shares depend on it).
    pub ncpu: i64,
    pub status: NodeStatus,
    pub failures: u32,
}

/// How long events about one container are gathered before it is
/// refreshed once for all of them.
const COALESCE: Duration = Duration::from_millis(100);

/// One engine of the cluster.
pub struct Engine {
    pub(crate) addr: String,
    pub(crate) client: Client,
    pub(crate) opts: EngineOpts,
    pub(crate) state: RwLock<EngineState>,
    pub(crate) hub: Arc<EventHub>,
    generation: AtomicU64,
    pub(crate) kick: Notify,
    pub(crate) last_event_nano: AtomicI64,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Counts every container put into the cache (see `inserted`).
    pub(crate) inserts: AtomicU64,
    /// Containers an event said changed (with the last such event's
    /// action), each refreshed once per burst.
    pub(crate) dirty: Mutex<HashMap<String, String>>,
    /// The event stream broke (or never ran) since the last full refresh.
    pub(crate) needs_full: AtomicBool,
    stats: Mutex<Option<(u64, EngineStats)>>,
    /// Unique among the engines of this process: names the engine in a
    /// [`ChangeLog`].
    serial: u64,
    /// Where a move of the generation is reported, if anywhere.
    changes: OnceLock<Arc<ChangeLog>>,
    /// In the change log already (and not yet cleared by its reader).
    change_marked: AtomicBool,
}

/// The next engine serial.
static SERIALS: AtomicU64 = AtomicU64::new(1);

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("addr", &self.addr)
            .field("status", &self.status())
            .finish()
    }
}

impl Engine {
    /// A pending engine at `addr` (not started: call [`Engine::start`]).
    pub fn new(addr: &str, opts: EngineOpts, hub: Arc<EventHub>) -> Result<Arc<Self>, EngineError> {
        let endpoint = Endpoint::parse(addr)?;
        let client = Client::new(endpoint.clone(), opts.connect_timeout, opts.request_timeout)
            .with_tls(opts.tls.clone());
        let addr = endpoint.display();
        let node = Arc::new(EventNode {
            id: String::new(),
            name: addr.clone(),
            addr: addr.clone(),
            ip: endpoint.host(),
        });
        Ok(Arc::new(Self {
            addr,
            client,
            opts,
            state: RwLock::new(EngineState {
                status: NodeStatus::Pending,
                failures: 0,
                info: Arc::default(),
                labels: BTreeMap::new(),
                version: Version::default(),
                updated_at: 0,
                error: String::new(),
                cache: EngineCache::default(),
                connected_once: false,
                removed: Default::default(),
                journal: Journal::default(),
                node,
            }),
            hub,
            generation: AtomicU64::new(0),
            kick: Notify::new(),
            last_event_nano: AtomicI64::new(0),
            tasks: Mutex::new(Vec::new()),
            inserts: AtomicU64::new(0),
            dirty: Mutex::new(HashMap::new()),
            needs_full: AtomicBool::new(true),
            stats: Mutex::new(None),
            serial: SERIALS.fetch_add(1, Ordering::Relaxed),
            changes: OnceLock::new(),
            change_marked: AtomicBool::new(false),
        }))
    }

    /// Starts the lifecycle: validation, event watching, periodic refresh.
    pub fn start(self: &Arc<Self>) {
        let handle = tokio::spawn(crate::lifecycle::supervise(self.clone()));
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(handle);
    }

    pub(crate) fn add_task(&self, h: JoinHandle<()>) {
        let mut t = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        t.retain(|h| !h.is_finished());
        t.push(h);
    }

    /// Stops every task of this engine (it was removed from the cluster).
    pub fn stop(&self) {
        for h in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            h.abort();
        }
    }

    /// `host:port` (or `unix://path`), as discovery gave it.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, EngineState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, EngineState> {
        // bumped under the lock: a reader that loads the generation while
        // holding the read lock gets the one matching what it reads
        let guard = self.state.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.mark_changed();
        guard
    }

    /// Puts the engine in its change log unless it is there already (see
    /// [`crate::changes`] for why the orderings are sequentially
    /// consistent: the generation is moved before the mark is tested).
    fn mark_changed(&self) {
        if let Some(log) = self.changes.get() {
            if !self.change_marked.swap(true, Ordering::SeqCst) {
                log.push(self.serial);
            }
        }
    }

    /// Reports every later move of the generation to `log` (once per
    /// engine until its reader clears the mark); the first call wins. The
    /// engine is logged at once, as a change.
    pub fn report_changes_to(&self, log: Arc<ChangeLog>) {
        if self.changes.set(log).is_ok() {
            self.mark_changed();
        }
    }

    /// Unique among the engines of this process (the name a change log
    /// gives the engine).
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// Lets the next move of the generation log the engine again: the
    /// reader of the log calls it before it reads the generation.
    pub fn clear_change_mark(&self) {
        self.change_marked.store(false, Ordering::SeqCst);
    }

    /// Bumped on every change of state or cache: lets callers rebuild
    /// derived views only when something changed.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Container counts, reservations and image count, recounted only when
    /// the cache changed since the last call.
    pub fn stats(&self) -> EngineStats {
        let mut memo = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let s = self.read();
        let generation = self.generation();
        if let Some((g, st)) = memo.as_ref() {
            if *g == generation {
                return st.clone();
            }
        }
        let (total, running, paused, stopped) = s.cache.counts();
        let (cpus, memory) = s.cache.reserved(s.info.ncpu);
        let st = EngineStats {
            containers: total,
            running,
            paused,
            stopped,
            reserved_cpus: cpus,
            reserved_memory: memory,
            images: s.cache.images.len() as i64,
        };
        *memo = Some((generation, st.clone()));
        st
    }

    pub fn status(&self) -> NodeStatus {
        self.read().status
    }

    pub fn is_healthy(&self) -> bool {
        self.status() == NodeStatus::Healthy
    }

    /// The engine's name (its hostname), or its address before validation.
    pub fn name(&self) -> String {
        let s = self.read();
        if s.info.name.is_empty() {
            self.addr.clone()
        } else {
            s.info.name.clone()
        }
    }

    pub fn id(&self) -> String {
        self.read().info.id.clone()
    }

    /// Reads the cache under the lock (keep `f` short and free of I/O).
    pub fn with_cache<R>(&self, f: impl FnOnce(&EngineCache) -> R) -> R {
        f(&self.read().cache)
    }

    /// Reads the cache with what changed in it since the last call, which
    /// was made at generation `seen` (`None`: the reader holds nothing of
    /// this engine yet); the next call is answered from now. One reader
    /// only (the cluster's node cache): a second one, or a reader that
    /// skipped a generation it read elsewhere, gets [`Changes::All`].
    /// Keep `f` short and free of I/O (other readers wait).
    pub fn read_changes<R>(&self, seen: Option<u64>, f: impl FnOnce(CacheRead<'_>) -> R) -> R {
        // written, not read: the journal is taken; the generation does not
        // move (nothing a reader sees changes)
        let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
        let generation = self.generation();
        let changes = s.journal.take(seen, generation);
        f(CacheRead {
            generation,
            changes,
            cache: &s.cache,
            ncpu: s.info.ncpu,
            status: s.status,
            failures: s.failures,
        })
    }

    pub fn snapshot(&self) -> EngineSnapshot {
        let s = self.read();
        EngineSnapshot {
            addr: self.addr.clone(),
            id: s.info.id.clone(),
            name: if s.info.name.is_empty() {
                self.addr.clone()
            } else {
                s.info.name.clone()
            },
            status: s.status,
            failures: s.failures,
            cpus: s.info.ncpu,
            memory: s.info.mem_total,
            labels: s.labels.clone(),
            updated_at: s.updated_at,
            error: s.error.clone(),
            server_version: s.version.version.clone(),
            info: s.info.clone(),
        }
    }

    pub fn version(&self) -> Version {
        self.read().version.clone()
    }

    /// The node as events and inspect answers show it.
    pub fn event_node(&self) -> EventNode {
        self.event_node_of(&self.read())
    }

    /// [`Engine::event_node`] from state already locked.
    pub(crate) fn event_node_of(&self, s: &EngineState) -> EventNode {
        EventNode::clone(&s.node)
    }

    /// [`Engine::event_node`], shared (nothing copied).
    pub(crate) fn shared_node(&self) -> Arc<EventNode> {
        self.read().node.clone()
    }

    /// Fetches one container again (its inspect alone) and stores it; its
    /// full ID, or `None` (and removed from the cache) when the engine no
    /// longer has it.
    pub async fn refresh_container(&self, id: &str) -> Result<Option<String>, EngineError> {
        let started = Instant::now();
        // this fetch's place among all stores: an answer that comes back
        // after that of a later fetch must not overwrite it
        let seq = self.inserts.fetch_add(1, Ordering::AcqRel) + 1;
        // what this inspect sees is at least as new as any event so far
        self.dirty
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        let mut record = match self.client.inspect_record(id).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => {
                self.forget_container(id);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let full_id = record.id().to_string();
        let mut s = self.write();
        if s.removed_since(&full_id, started) {
            // destroyed while we asked: what we heard is already stale
            return Ok(None);
        }
        let newer = s
            .cache
            .containers
            .get(&full_id)
            .is_some_and(|c| c.stamp > seq);
        if !newer {
            record.stamp = seq;
            s.put_container(record);
        }
        Ok(Some(full_id))
    }

    /// Puts a container into the cache as given (e.g. right after a create).
    pub fn insert_container(&self, c: CachedContainer) {
        let mut s = self.write();
        self.inserted(&mut s, c);
    }

    /// Stores `c`, stamped with the insert count (a full refresh keeps what
    /// was stored after it began listing).
    pub(crate) fn inserted(&self, s: &mut EngineState, mut c: CachedContainer) {
        c.stamp = self.inserts.fetch_add(1, Ordering::AcqRel) + 1;
        s.put_container(c);
    }

    /// Sets a cached container's state after a change the manager made and
    /// saw succeed (start, stop, pause, ...), before any inspect confirms it.
    /// Not filed in the journal: a node's view of a container holds nothing
    /// of its state (what starting changes there, published ports, comes
    /// with the inspect that follows).
    pub fn set_container_state(&self, id: &str, state: RunState) {
        let now = now_secs();
        let mut s = self.write();
        if let Some(c) = s.cache.containers.get_mut(id) {
            c.set_state(state, now);
        }
    }

    /// Whether the cache already shows what a container event `action`
    /// leads to (so refreshing it would tell nothing new).
    pub(crate) fn already_shows(&self, id: &str, action: &str) -> bool {
        let s = self.read();
        let Some(c) = s.cache.containers.get(id) else {
            return false;
        };
        if !c.is_inspected() {
            return false;
        }
        match action {
            "create" => true,
            "start" | "unpause" => c.state() == RunState::Running,
            "pause" => c.is_paused(),
            "die" | "stop" | "kill" => !c.is_running(),
            _ => false,
        }
    }

    /// Refreshes container `id` after a short wait, once for however many
    /// events (`action`, the last) come in the meantime, and not at all when
    /// by then the cache shows what the last one leads to (the manager's
    /// own create or start, whose answer it has just stored).
    pub(crate) fn refresh_soon(self: &Arc<Self>, id: String, action: &str) {
        {
            let mut d = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(last) = d.get_mut(&id) {
                // already waiting: its refresh will see this one too
                action.clone_into(last);
                return;
            }
            d.insert(id.clone(), action.to_string());
        }
        self.opts
            .refreshes
            .push(self, id, Instant::now() + COALESCE);
    }

    /// The wait of [`Engine::refresh_soon`] for `id` is over: refresh it
    /// unless an inspect began since (the manager's own, after its create
    /// or start, which sees at least what the events said) or the cache
    /// already shows what the last event leads to.
    pub(crate) fn refresh_due(self: &Arc<Self>, id: String) {
        let action = self
            .dirty
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        let Some(action) = action else { return };
        if self.already_shows(&id, &action) {
            return;
        }
        let e = self.clone();
        let h = tokio::spawn(async move {
            if let Err(err) = e.refresh_container(&id).await {
                tracing::debug!(engine = %e.addr, "refresh after event failed: {err}");
            }
        });
        self.add_task(h);
    }

    /// Drops a container (by ID or a 12+ character ID prefix) and leaves a
    /// tombstone for its full ID. A query that names nothing cached and is
    /// no full ID (a lookup probing engines by name) changes nothing, so it
    /// does not bump the generation of every engine probed.
    pub fn forget_container(&self, id: &str) {
        let now = std::time::Instant::now();
        let matches = |k: &String| k.as_str() == id || (id.len() >= 12 && k.starts_with(id));
        let cached = self.read().cache.containers.keys().any(matches);
        if !cached && !is_full_id(id) {
            return;
        }
        let mut s = self.write();
        let full = s
            .cache
            .containers
            .keys()
            .find(|k| matches(k))
            .cloned()
            .unwrap_or_else(|| id.to_string());
        s.drop_container(&full);
        s.removed
            .retain(|_, t| now.duration_since(*t) < Duration::from_secs(120));
        s.removed.insert(full, now);
    }

    pub async fn refresh_images(&self) -> Result<(), EngineError> {
        let images = self.client.images().await?;
        self.write().set_images(images);
        Ok(())
    }

    pub async fn refresh_networks(&self) -> Result<(), EngineError> {
        let n = self.client.networks().await?;
        self.write().cache.networks = n;
        Ok(())
    }

    pub async fn refresh_volumes(&self) -> Result<(), EngineError> {
        let v = self.client.volumes().await?;
        self.write().cache.volumes = v;
        Ok(())
    }

    /// Sets the engine's state by hand, without talking to it: for tests of
    /// what is built on engines (the cluster), behind the `test-util` feature.
    #[cfg(feature = "test-util")]
    pub fn seed_for_tests(&self, info: Info, status: NodeStatus, cache: EngineCache) {
        let mut s = self.write();
        s.set_info(info);
        s.status = status;
        s.cache = cache;
        s.journal.invalidate();
        s.connected_once = true;
    }

    /// Asks the lifecycle to check the engine now (e.g. a call to it failed).
    pub fn check_soon(&self) {
        self.kick.notify_one();
    }
}

/// 64 hexadecimal digits: how engines name containers.
fn is_full_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Unix seconds now (0 if the clock is before 1970).
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(crate) fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgetting_what_is_not_there() {
        let e = Engine::new(
            "127.0.0.1:9",
            EngineOpts::default(),
            Arc::new(EventHub::new(4)),
        )
        .unwrap();
        let before = e.generation();
        // a lookup probing by name: nothing cached, nothing to remember
        e.forget_container("web");
        assert_eq!(e.generation(), before);
        // a full ID: its tombstone keeps a refresh from bringing it back
        let id = "ab".repeat(32);
        let t0 = Instant::now();
        e.forget_container(&id);
        assert!(e.generation() > before);
        assert!(e.read().removed_since(&id, t0));
    }

    /// Events share one node per engine, made again only when the engine's
    /// name or ID changes.
    #[test]
    fn the_event_node_follows_info() {
        let e = Engine::new(
            "127.0.0.1:9",
            EngineOpts::default(),
            Arc::new(EventHub::new(4)),
        )
        .unwrap();
        let before = e.shared_node();
        assert_eq!(
            (
                before.name.as_str(),
                before.addr.as_str(),
                before.ip.as_str()
            ),
            ("127.0.0.1:9", "127.0.0.1:9", "127.0.0.1")
        );
        let info = Info {
            id: "X".into(),
            name: "n1".into(),
            ncpu: 2,
            ..Default::default()
        };
        e.write().set_info(info.clone());
        let named = e.shared_node();
        assert_eq!((named.id.as_str(), named.name.as_str()), ("X", "n1"));
        assert_eq!(named.ip, "127.0.0.1");
        assert_eq!(e.event_node(), *named);
        // the same name and ID: the same node
        e.write().set_info(Info { ncpu: 4, ..info });
        assert!(Arc::ptr_eq(&named, &e.shared_node()));
    }

    /// A change log holds each changed engine once until its reader clears
    /// the mark, and a change after the clear logs the engine again.
    #[test]
    fn changes_are_logged_once_until_read() {
        let hub = Arc::new(EventHub::new(4));
        let a = Engine::new("127.0.0.1:9", EngineOpts::default(), hub.clone()).unwrap();
        let b = Engine::new("127.0.0.1:10", EngineOpts::default(), hub).unwrap();
        assert_ne!(a.serial(), b.serial());
        let log = Arc::new(ChangeLog::new());
        a.report_changes_to(log.clone());
        b.report_changes_to(log.clone());
        // logged at once, as a change
        assert_eq!(log.drain(), vec![a.serial(), b.serial()]);
        // not read yet: changes do not log it again
        a.forget_container(&"ab".repeat(32));
        assert!(log.drain().is_empty());
        a.clear_change_mark();
        b.clear_change_mark();
        let seen = a.generation();
        a.forget_container(&"cd".repeat(32));
        a.forget_container(&"ef".repeat(32));
        assert_eq!(log.drain(), vec![a.serial()]);
        assert!(a.generation() > seen);
        assert!(log.drain().is_empty());
    }
}
