//! The node registry and what the cluster holds beside it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use shoal_api_types::Event;
use shoal_engine::{ChangeLog, Engine, EngineOpts, EventHub};
use shoal_scheduler::Scheduler;

use crate::create::Pending;

/// Settings of the cluster (from `shoal manage` flags and `--cluster-opt`).
#[derive(Debug, Clone)]
pub struct ClusterOpts {
    pub engine: EngineOpts,
    /// `swarm.createretry`: how many other nodes to try when a create fails.
    pub create_retry: u32,
    /// How many past events `GET /events?since=` can replay.
    pub event_history: usize,
}

impl Default for ClusterOpts {
    fn default() -> Self {
        Self {
            engine: EngineOpts::default(),
            create_retry: 0,
            event_history: 4096,
        }
    }
}

/// Every engine of the cluster, and the state shared between requests.
pub struct Cluster {
    engines: RwLock<BTreeMap<String, Arc<Engine>>>,
    /// Moved (under the registry's write lock) whenever engines are added
    /// or removed.
    registry_version: AtomicU64,
    /// Where the engines say their cache or state changed.
    changes: Arc<ChangeLog>,
    hub: Arc<EventHub>,
    scheduler: Scheduler,
    opts: ClusterOpts,
    pub(crate) pending: Mutex<Pending>,
    /// Per engine, its node as placements and lookups see it (rebuilt when
    /// the engine changed), and the cluster-wide container index.
    pub(crate) node_cache: Mutex<crate::nodes::NodeCache>,
    execs: Mutex<HashMap<String, String>>,
    pub(crate) shoal_nets: Mutex<crate::shoal_networks::ShoalNetState>,
    pub(crate) reschedule: Mutex<crate::reschedule::RescheduleState>,
}

impl Cluster {
    pub fn new(scheduler: Scheduler, opts: ClusterOpts) -> Arc<Self> {
        let cluster = Arc::new(Self {
            engines: RwLock::new(BTreeMap::new()),
            registry_version: AtomicU64::new(0),
            changes: Arc::new(ChangeLog::new()),
            hub: Arc::new(EventHub::new(opts.event_history.max(16))),
            scheduler,
            opts,
            pending: Mutex::new(Pending::default()),
            node_cache: Mutex::default(),
            execs: Mutex::new(HashMap::new()),
            shoal_nets: Mutex::default(),
            reschedule: Mutex::default(),
        });
        crate::reschedule::spawn_watchdog(&cluster);
        cluster
    }

    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    pub fn opts(&self) -> &ClusterOpts {
        &self.opts
    }

    pub fn hub(&self) -> &Arc<EventHub> {
        &self.hub
    }

    /// Makes the registry hold exactly `addrs` (a discovery update): new
    /// engines are added pending and started, missing ones stopped.
    /// Addresses that do not parse are skipped with a warning.
    pub fn set_engines(&self, addrs: &[String]) {
        let mut removed = Vec::new();
        {
            let mut engines = self.engines.write().unwrap_or_else(|p| p.into_inner());
            let before = engines.len();
            let wanted: Vec<String> = addrs.iter().map(|a| normalize_addr(a)).collect();
            // a set: a scan of the list per engine is O(N²) on every heartbeat
            let wanted_set: std::collections::HashSet<&str> =
                wanted.iter().map(String::as_str).collect();
            engines.retain(|addr, e| {
                let keep = wanted_set.contains(addr.as_str());
                if !keep {
                    removed.push(e.clone());
                }
                keep
            });
            for addr in wanted {
                if engines.contains_key(&addr) {
                    continue;
                }
                match Engine::new(&addr, self.opts.engine.clone(), self.hub.clone()) {
                    Ok(engine) => {
                        tracing::info!(engine = %addr, "engine added");
                        engine.report_changes_to(self.changes.clone());
                        engine.start();
                        engines.insert(addr, engine);
                    }
                    Err(e) => tracing::warn!("discovery gave a bad address: {e}"),
                }
            }
            if !removed.is_empty() || engines.len() != before {
                self.registry_version.fetch_add(1, Ordering::SeqCst);
            }
        }
        for e in removed {
            tracing::info!(engine = %e.addr(), "engine removed");
            let was_healthy = e.is_healthy();
            e.stop();
            if was_healthy {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as i64)
                    .unwrap_or(0);
                self.hub
                    .publish(Event::engine("engine_disconnect", &e.event_node(), now));
            }
        }
    }

    /// Puts an engine built elsewhere into the registry (tests).
    #[cfg(test)]
    pub(crate) fn insert_engine(&self, e: Arc<Engine>) {
        e.report_changes_to(self.changes.clone());
        let mut engines = self.engines.write().unwrap_or_else(|p| p.into_inner());
        engines.insert(e.addr().to_string(), e);
        self.registry_version.fetch_add(1, Ordering::SeqCst);
    }

    /// Moved whenever engines are added or removed (read it under the
    /// registry lock to know which registry it goes with).
    pub(crate) fn registry_version(&self) -> u64 {
        self.registry_version.load(Ordering::SeqCst)
    }

    /// The log the engines report their changes to.
    pub(crate) fn changes(&self) -> &ChangeLog {
        &self.changes
    }

    /// The registry, read-locked (keep it short).
    pub(crate) fn registry(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Engine>>> {
        self.engines.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Every engine, sorted by address.
    pub fn engines(&self) -> Vec<Arc<Engine>> {
        self.engines
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Healthy engines only.
    pub fn healthy_engines(&self) -> Vec<Arc<Engine>> {
        self.engines()
            .into_iter()
            .filter(|e| e.is_healthy())
            .collect()
    }

    /// The engine whose node name (or ID, or address) is `node`.
    pub fn engine_by_node(&self, node: &str) -> Option<Arc<Engine>> {
        let engines = self.engines();
        engines
            .iter()
            .find(|e| e.name() == node)
            .or_else(|| engines.iter().find(|e| e.id() == node || e.addr() == node))
            .cloned()
    }

    /// Remembers which engine runs exec `id`.
    pub fn remember_exec(&self, id: &str, engine: &Engine) {
        let mut m = self.execs.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 10_000 {
            m.clear();
        }
        m.insert(id.to_string(), engine.addr().to_string());
    }

    /// The engine running exec `id`: from memory, else by asking engines.
    pub async fn find_exec(&self, id: &str) -> Result<Arc<Engine>, crate::ClusterError> {
        let known = self
            .execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned();
        let engines = self.engines();
        if let Some(addr) = known {
            if let Some(e) = engines.iter().find(|e| e.addr() == addr) {
                return Ok(e.clone());
            }
        }
        let path = format!("/exec/{}/json", shoal_engine::client::encode(id));
        let probes = engines.iter().filter(|e| e.is_healthy()).map(|e| {
            let path = path.clone();
            async move {
                tokio::time::timeout(
                    crate::PROBE_TIMEOUT,
                    e.client().call(hyper::Method::GET, &path, None),
                )
                .await
                .ok()
                .and_then(Result::ok)
                .map(|_| e.clone())
            }
        });
        let found = futures_util::future::join_all(probes)
            .await
            .into_iter()
            .flatten()
            .next();
        match found {
            Some(e) => {
                self.remember_exec(id, &e);
                Ok(e)
            }
            None => Err(crate::ClusterError::NoSuchExec(id.to_string())),
        }
    }
}

/// `tcp://h:p` and `h:p` are the same engine.
fn normalize_addr(a: &str) -> String {
    let a = a.trim();
    a.strip_prefix("tcp://").unwrap_or(a).to_string()
}
