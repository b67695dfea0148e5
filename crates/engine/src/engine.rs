//! One engine: its identity, health and cached state.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use shoal_api_types::event::EventNode;
use shoal_api_types::{ContainerInspect, Info, NodeStatus, Version};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::cache::{CachedContainer, EngineCache};
use crate::client::Client;
use crate::endpoint::Endpoint;
use crate::error::EngineError;
use crate::hub::EventHub;

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
}

impl Default for EngineOpts {
    fn default() -> Self {
        Self {
            refresh_min: Duration::from_secs(30),
            refresh_max: Duration::from_secs(60),
            failure_retry: 3,
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Mutable state, behind a lock never held across I/O.
#[derive(Debug, Clone)]
pub(crate) struct EngineState {
    pub status: NodeStatus,
    pub failures: u32,
    pub info: Info,
    pub version: Version,
    pub updated_at: i64,
    pub error: String,
    pub cache: EngineCache,
    pub connected_once: bool,
    /// When each container recently removed from the cache went: a refresh
    /// that began before a removal must not bring the container back.
    pub removed: std::collections::HashMap<String, std::time::Instant>,
}

impl EngineState {
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
    pub info: Info,
}

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
}

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
        let client = Client::new(endpoint.clone(), opts.connect_timeout, opts.request_timeout);
        Ok(Arc::new(Self {
            addr: endpoint.display(),
            client,
            opts,
            state: RwLock::new(EngineState {
                status: NodeStatus::Pending,
                failures: 0,
                info: Info::default(),
                version: Version::default(),
                updated_at: 0,
                error: String::new(),
                cache: EngineCache::default(),
                connected_once: false,
                removed: Default::default(),
            }),
            hub,
            generation: AtomicU64::new(0),
            kick: Notify::new(),
            last_event_nano: AtomicI64::new(0),
            tasks: Mutex::new(Vec::new()),
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
        self.generation.fetch_add(1, Ordering::Relaxed);
        guard
    }

    /// Bumped on every change of state or cache: lets callers rebuild
    /// derived views only when something changed.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
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
            labels: s.info.node_labels(),
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
        EventNode {
            id: s.info.id.clone(),
            name: if s.info.name.is_empty() {
                self.addr.clone()
            } else {
                s.info.name.clone()
            },
            addr: self.addr.clone(),
            ip: self.client.endpoint().host(),
        }
    }

    /// Fetches one container again and stores it; `None` (and removed from
    /// the cache) when the engine no longer has it.
    pub async fn refresh_container(
        &self,
        id: &str,
    ) -> Result<Option<ContainerInspect>, EngineError> {
        let started = std::time::Instant::now();
        let inspect = match self.client.inspect(id).await {
            Ok(i) => i,
            Err(e) if e.is_not_found() => {
                self.forget_container(id);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let summary = match self.client.container_summary(&inspect.id).await {
            Ok(Some(s)) => s,
            _ => inspect.to_summary(now_secs()),
        };
        let mut s = self.write();
        if s.removed_since(&inspect.id, started) {
            // destroyed while we asked: what we heard is already stale
            return Ok(None);
        }
        s.cache.containers.insert(
            inspect.id.clone(),
            CachedContainer {
                summary,
                inspect: Some(inspect.clone()),
            },
        );
        Ok(Some(inspect))
    }

    /// Puts a container into the cache as given (e.g. right after a create).
    pub fn insert_container(&self, c: CachedContainer) {
        self.write()
            .cache
            .containers
            .insert(c.summary.id.clone(), c);
    }

    pub fn forget_container(&self, id: &str) {
        let now = std::time::Instant::now();
        let mut s = self.write();
        let full = s
            .cache
            .containers
            .keys()
            .find(|k| k.as_str() == id || (id.len() >= 12 && k.starts_with(id)))
            .cloned()
            .unwrap_or_else(|| id.to_string());
        s.cache.containers.remove(&full);
        s.removed
            .retain(|_, t| now.duration_since(*t) < Duration::from_secs(120));
        s.removed.insert(full, now);
    }

    pub async fn refresh_images(&self) -> Result<(), EngineError> {
        let images = self.client.images().await?;
        self.write().cache.images = images;
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
        s.info = info;
        s.status = status;
        s.cache = cache;
        s.connected_once = true;
    }

    /// Asks the lifecycle to check the engine now (e.g. a call to it failed).
    pub fn check_soon(&self) {
        self.kick.notify_one();
    }
}

pub(crate) fn now_secs() -> i64 {
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
