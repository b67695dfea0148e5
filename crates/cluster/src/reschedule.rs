//! Rescheduling on node failure, as classic Swarm's watchdog did.
//!
//! A container whose `com.docker.swarm.reschedule-policies` label (set from
//! `-e reschedule:on-node-failure`) holds `on-node-failure` is created again
//! on another node when its node turns Unhealthy: the same name, config and
//! labels (so the same `com.docker.swarm.id` and constraints), from the
//! body the manager created it with (or its inspect object, read while its
//! node was up), and started if it was running. The old copy leaves the dead node's cache at once, so the name
//! is free and `docker ps -a` shows one copy. When a node turns Healthy
//! (back again, or first seen after a manager restart), the copies of one
//! swarm ID on several nodes are reduced to one (the copy the manager made
//! last, else the newest): the stale one is removed from its engine.
//!
//! The intent (the create body, the copy's engine) lives in the managers'
//! memory (replicas learn it too, only the primary acts) and, with etcd or
//! ZooKeeper discovery, in the store ([`crate::intent_store`]): a manager
//! started while a node is down reschedules that node's containers from
//! there, once the node failed `engine-failure-retry` checks. With other discovery
//! backends a manager restarted during the failure does not reschedule.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{json, Value};
use shoal_api_types::{ContainerInspect, CreateBody, NodeStatus};
use shoal_engine::{CachedContainer, Engine, RunState};
use shoal_scheduler::request::RESCHEDULE_POLICIES_LABEL;

use crate::cluster::Cluster;
use crate::error::ClusterError;
use crate::intent_store::IntentStore;

mod engine_memo;
pub(crate) use engine_memo::EngineMemo;

/// The policy that asks for rescheduling.
pub const ON_NODE_FAILURE: &str = "on-node-failure";

/// How long a failed rescheduling waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub(crate) struct RescheduleState {
    /// What the last pass saw of each engine.
    seen: EngineMemo<Scanned>,
    /// Every engine is to be seen afresh at the next pass (the watchdog
    /// resumes after a pause).
    afresh: bool,
    /// Swarm ID -> how to make the container again, read from its engine
    /// while that engine was healthy.
    intents: HashMap<String, Intent>,
    /// Swarm IDs being rescheduled now.
    in_flight: HashSet<String>,
    /// Swarm ID -> when its rescheduling last failed.
    failed: HashMap<String, Instant>,
    passes: u64,
    /// A replica manager: the primary alone reschedules.
    paused: bool,
    /// Where intents outlive the manager (etcd discovery).
    store: Option<Arc<IntentStore>>,
    /// Whether the stored intents were read since the start.
    loaded: bool,
    /// Engine serial -> the generation at which none of its containers
    /// that carry a rescheduling policy label asked for rescheduling on
    /// node failure: not read again until the engine changes.
    no_policy: HashMap<u64, u64>,
}

/// What a pass saw of one engine: a later pass that finds the generation
/// unmoved knows the status (and containers) are the same, without reading
/// them.
#[derive(Debug, Clone, Copy)]
struct Scanned {
    status: NodeStatus,
    /// Some container carries a rescheduling policy label (counted by the
    /// engine's cache).
    policy: bool,
}

/// What one pass found to do.
struct Scan {
    /// Engines that turned Healthy since the last pass.
    back: Vec<Arc<Engine>>,
    unhealthy: Vec<Arc<Engine>>,
    /// Healthy engines whose containers may need learning (not known free
    /// of policy containers at their generation).
    learn: Vec<Arc<Engine>>,
    /// Whether this pass forgets the intents of gone containers.
    purge: bool,
}

/// A container that asked for rescheduling: its current copy and its
/// create body.
#[derive(Debug, Clone)]
struct Intent {
    id: String,
    body: Value,
    /// The engine (address) of the current copy.
    addr: String,
    name: String,
    running: bool,
}

impl Intent {
    fn to_json(&self) -> Value {
        json!({"Id": self.id, "Engine": self.addr, "Name": self.name,
               "Running": self.running, "Body": self.body})
    }

    fn from_json(v: &Value) -> Option<Self> {
        Some(Intent {
            id: v.get("Id")?.as_str()?.to_string(),
            addr: v.get("Engine")?.as_str()?.to_string(),
            name: v.get("Name")?.as_str()?.to_string(),
            running: v.get("Running").and_then(Value::as_bool).unwrap_or(true),
            body: v.get("Body")?.clone(),
        })
    }
}

/// How many containers one pass inspects to learn their config.
const LEARN_PER_PASS: usize = 64;

fn policy_label_wants(value: Option<&str>) -> bool {
    value
        .and_then(|v| serde_json::from_str::<Vec<String>>(v).ok())
        .is_some_and(|p| p.iter().any(|p| p == ON_NODE_FAILURE))
}

fn as_str<S: AsRef<str> + ?Sized>(s: &S) -> &str {
    s.as_ref()
}

/// Whether the container asked to be rescheduled when its node fails.
pub fn wants_rescheduling(c: &CachedContainer) -> bool {
    policy_label_wants(c.labels().get(RESCHEDULE_POLICIES_LABEL).map(as_str))
}

/// The create body that makes the container again: its `Config`, its
/// `HostConfig` (a CPU count given as `-c N` read back from the engine's
/// shares, so the create converts it again for the new node), and its
/// user network with the aliases the user gave.
pub fn create_body(i: &ContainerInspect, old_ncpu: i64) -> Value {
    let mut body = serde_json::to_value(&i.config).unwrap_or_else(|_| json!({}));
    let short_id: String = i.id.chars().take(12).collect();
    if body.get("Hostname").and_then(Value::as_str) == Some(short_id.as_str()) {
        if let Some(o) = body.as_object_mut() {
            o.remove("Hostname");
        }
    }
    let mut host = serde_json::to_value(&i.host_config).unwrap_or_else(|_| json!({}));
    let shares = i.host_config.cpu_shares;
    if i.host_config.nano_cpus == 0 && shares > 0 && shares < 1024 {
        host["CpuShares"] = Value::from(i.reserved_cpus(old_ncpu).max(1));
    }
    body["HostConfig"] = host;
    let mode = i.host_config.network_mode.clone();
    let endpoint = i
        .extra
        .get("NetworkSettings")
        .and_then(|n| n.get("Networks"))
        .and_then(|n| n.get(&mode));
    if let Some(ep) = endpoint {
        let aliases: Vec<Value> = ep
            .get("Aliases")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|x| x.as_str() != Some(short_id.as_str()))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let mut config = json!({ "Aliases": aliases });
        if let Some(ipam) = ep.get("IPAMConfig").filter(|v| !v.is_null()) {
            config["IPAMConfig"] = ipam.clone();
        }
        body["NetworkingConfig"] = json!({ "EndpointsConfig": { mode: config } });
    }
    body
}

/// An inspect's creation time, comparable (seconds, nanoseconds).
fn created_at(i: &ContainerInspect) -> (i64, u32) {
    let secs = shoal_api_types::container::parse_time(&i.created).unwrap_or(0);
    let nanos = i
        .created
        .split_once('.')
        .map(|(_, f)| {
            let digits: String = f.chars().take_while(char::is_ascii_digit).take(9).collect();
            format!("{digits:0<9}").parse().unwrap_or(0)
        })
        .unwrap_or(0);
    (secs, nanos)
}

/// (container ID, name, swarm ID, running) of the containers of `e` that
/// asked for rescheduling.
fn policy_containers(e: &Engine) -> Vec<(String, String, String, bool)> {
    e.with_cache(|c| {
        if c.containers.with_reschedule_policy() == 0 {
            return Vec::new();
        }
        c.containers
            .values()
            .filter(|c| wants_rescheduling(c))
            .filter_map(|c| {
                Some((
                    c.id().to_string(),
                    c.name().to_string(),
                    c.swarm_id()?.to_string(),
                    c.is_running(),
                ))
            })
            .collect()
    })
}

/// Whether the container is still in the `created` state.
fn never_started(e: &Engine, id: &str) -> bool {
    e.with_cache(|c| {
        c.containers
            .get(id)
            .is_some_and(|c| c.state() == RunState::Created)
    })
}

impl Cluster {
    /// Pauses (or resumes) the watchdog: rescheduling and the `shoal`
    /// networks' upkeep. A replica manager pauses it; only the primary
    /// acts, as in classic Swarm.
    pub fn set_watchdog_paused(&self, paused: bool) {
        self.resched().paused = paused;
    }

    /// Keeps rescheduling intents in the discovery store too, when it is
    /// etcd (`etcd://h1,h2/prefix`); says whether it is.
    pub fn keep_intents_in(&self, discovery_url: &str) -> bool {
        let store = IntentStore::from_discovery(discovery_url).map(Arc::new);
        let some = store.is_some();
        self.resched().store = store;
        some
    }

    fn intent_store(&self) -> Option<Arc<IntentStore>> {
        self.resched().store.clone()
    }

    async fn save_intent(&self, swarm_id: &str, intent: &Intent) {
        if let Some(store) = self.intent_store() {
            if let Err(e) = store.put(swarm_id, &intent.to_json()).await {
                tracing::warn!(container = %intent.name, "cannot keep the rescheduling intent in the store: {e}");
            }
        }
    }

    /// A container just created through the manager: when it asked for
    /// rescheduling, its intent is known at once (from the body the engine
    /// got, `-c N` read back from its shares), before any watchdog pass.
    pub(crate) async fn note_created(
        &self,
        engine: &Engine,
        id: &str,
        name: Option<&str>,
        body: &CreateBody,
        labels: &BTreeMap<String, String>,
    ) {
        let policy = labels.get(RESCHEDULE_POLICIES_LABEL).map(String::as_str);
        let swarm_id = labels.get(shoal_api_types::SWARM_ID_LABEL);
        let (true, Some(swarm_id)) = (policy_label_wants(policy), swarm_id) else {
            return;
        };
        let name = match name {
            Some(n) => n.to_string(),
            None => engine
                .with_cache(|c| c.containers.get(id).map(|c| c.name().to_string()))
                .unwrap_or_default(),
        };
        let mut body = body.to_value();
        let ncpu = engine.snapshot().cpus;
        if let Some(host) = body.get_mut("HostConfig").and_then(Value::as_object_mut) {
            let nano = host.get("NanoCpus").and_then(Value::as_i64).unwrap_or(0);
            let shares = host.get("CpuShares").and_then(Value::as_i64).unwrap_or(0);
            if nano == 0 && shares > 0 && shares < 1024 {
                host.insert(
                    "CpuShares".into(),
                    Value::from((shares * ncpu / 1024).max(1)),
                );
            }
        }
        let intent = Intent {
            id: id.to_string(),
            body,
            addr: engine.addr().to_string(),
            name,
            // `docker run` starts it next; the next pass reads the truth
            running: true,
        };
        self.resched()
            .intents
            .insert(swarm_id.to_string(), intent.clone());
        self.save_intent(swarm_id, &intent).await;
    }

    /// Reads the stored intents once (again at the next pass on failure).
    async fn load_intents(&self) {
        let Some(store) = self.intent_store() else {
            return;
        };
        if self.resched().loaded {
            return;
        }
        match store.list().await {
            Ok(list) => {
                let mut st = self.resched();
                for (swarm_id, v) in list {
                    if let Some(i) = Intent::from_json(&v) {
                        st.intents.entry(swarm_id).or_insert(i);
                    }
                }
                st.loaded = true;
                tracing::info!(
                    intents = st.intents.len(),
                    "rescheduling intents read from the store"
                );
            }
            Err(e) => tracing::warn!("cannot read the rescheduling intents from the store: {e}"),
        }
    }

    fn resched(&self) -> std::sync::MutexGuard<'_, crate::reschedule::RescheduleState> {
        self.reschedule.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One pass of the watchdog: learns the config of new containers that
    /// asked for rescheduling, reschedules them off every Unhealthy node,
    /// then removes stale copies after a node turned Healthy.
    pub(crate) async fn reschedule_pass(&self) {
        let scan = self.scan(false);
        self.load_intents().await;
        self.learn_intents(&scan.learn).await;
        for e in scan.unhealthy {
            for (id, name, swarm_id, running) in policy_containers(&e) {
                self.reschedule_one(&e, &id, &name, &swarm_id, running)
                    .await;
            }
        }
        // the engine list is copied only when there are intents to judge
        if !self.resched().intents.is_empty() {
            self.reschedule_unseen(&self.engines()).await;
        }
        for e in scan.back {
            self.remove_stale_copies(&e).await;
        }
        if scan.purge {
            self.purge_intents().await;
        }
    }

    /// A paused watchdog's pass (a replica): it still learns the configs
    /// (reads only), so that after a failover it can reschedule the
    /// containers of a node that died before; statuses are seen afresh
    /// when it resumes.
    async fn paused_pass(&self) {
        let scan = self.scan(true);
        self.learn_intents(&scan.learn).await;
    }

    /// The status part of a pass, at the cost of the engines that changed
    /// since the last one (an unchanged engine costs a generation load).
    /// The first pass after `paused` ones sees every engine afresh (every
    /// healthy one is back).
    fn scan(&self, paused: bool) -> Scan {
        let mut back = Vec::new();
        let mut guard = self.resched();
        let st = &mut *guard;
        st.passes += 1;
        if paused {
            st.afresh = true;
        } else if std::mem::take(&mut st.afresh) {
            st.seen.forget_all();
        }
        st.seen.update(self, |e, before| {
            let status = e.status();
            let policy = e.with_cache(|c| c.containers.with_reschedule_policy() > 0);
            if status == NodeStatus::Healthy && before.map(|b| b.status) != Some(status) {
                back.push(e.clone());
            }
            Scanned { status, policy }
        });
        let (mut unhealthy, mut learn) = (Vec::new(), Vec::new());
        for slot in st.seen.slots() {
            let Some(seen) = slot.seen else { continue };
            match seen.status {
                NodeStatus::Unhealthy => unhealthy.push(slot.engine.clone()),
                NodeStatus::Healthy
                    if seen.policy
                        && st.no_policy.get(&slot.engine.serial())
                            != Some(&slot.engine.generation()) =>
                {
                    learn.push(slot.engine.clone())
                }
                _ => {}
            }
        }
        if st.no_policy.len() > st.seen.slots().len() {
            let serials: HashSet<u64> = st.seen.slots().iter().map(|s| s.engine.serial()).collect();
            st.no_policy.retain(|serial, _| serials.contains(serial));
        }
        Scan {
            back,
            unhealthy,
            learn,
            purge: st.passes.is_multiple_of(10),
        }
    }

    /// Forgets (and deletes from the store) the intents of containers that
    /// are gone: their engine is healthy and no healthy engine has them.
    async fn purge_intents(&self) {
        // only the intents known now are judged (a later one may be for a
        // container the caches read below did not show yet); only their
        // Swarm IDs are gathered from the caches, not every container's
        let known: HashSet<String> = self.resched().intents.keys().cloned().collect();
        if known.is_empty() {
            return;
        }
        let engines = self.engines();
        let healthy: Vec<&Arc<Engine>> = engines.iter().filter(|e| e.is_healthy()).collect();
        let live: HashSet<String> = healthy
            .iter()
            .flat_map(|e| {
                e.with_cache(|c| {
                    c.containers
                        .values()
                        .filter_map(|c| c.swarm_id().filter(|s| known.contains(*s)))
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let gone: Vec<String> = {
            let mut st = self.resched();
            let in_flight = st.in_flight.clone();
            let gone: Vec<String> = st
                .intents
                .iter()
                .filter(|(id, i)| {
                    known.contains(*id)
                        && !live.contains(*id)
                        && !in_flight.contains(*id)
                        && healthy.iter().any(|e| e.addr() == i.addr)
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in &gone {
                st.intents.remove(id);
            }
            gone
        };
        if let Some(store) = self.intent_store() {
            for id in gone {
                if let Err(e) = store.delete(&id).await {
                    tracing::warn!(swarm_id = %id, "cannot delete a rescheduling intent from the store: {e}");
                }
            }
        }
    }

    /// Intents read from the store whose container no engine shows (a
    /// manager that started while the node was down): rescheduled once the
    /// node counts as failed (Unhealthy, or never reached in
    /// `engine-failure-retry` tries).
    async fn reschedule_unseen(&self, engines: &[Arc<Engine>]) {
        let retry = self.opts().engine.failure_retry.max(1);
        let candidates: Vec<(Arc<Engine>, String, Intent)> = {
            let st = self.resched();
            st.intents
                .iter()
                .filter_map(|(id, i)| {
                    let e = engines.iter().find(|e| e.addr() == i.addr)?;
                    let failed = match e.status() {
                        NodeStatus::Unhealthy => true,
                        NodeStatus::Pending => e.snapshot().failures >= retry,
                        _ => false,
                    };
                    (failed && !e.with_cache(|c| c.containers.contains_key(&i.id)))
                        .then(|| (e.clone(), id.clone(), i.clone()))
                })
                .collect()
        };
        for (e, swarm_id, i) in candidates {
            let seen = engines.iter().any(|x| {
                x.with_cache(|c| {
                    c.containers
                        .values()
                        .any(|c| c.swarm_id() == Some(swarm_id.as_str()))
                })
            });
            if !seen {
                self.reschedule_one(&e, &i.id, &i.name, &swarm_id, i.running)
                    .await;
            }
        }
    }

    /// Reads (live) the config of containers on healthy engines that asked
    /// for rescheduling and whose config is not known yet.
    async fn learn_intents(&self, engines: &[Arc<Engine>]) {
        let mut todo = Vec::new();
        let mut changed = Vec::new();
        {
            let mut guard = self.resched();
            let st = &mut *guard;
            for e in engines.iter().filter(|e| e.is_healthy()) {
                // read before the containers: a change meanwhile makes the
                // next pass read them again
                let generation = e.generation();
                if st.no_policy.get(&e.serial()) == Some(&generation) {
                    continue;
                }
                let wanting = policy_containers(e);
                if wanting.is_empty() {
                    st.no_policy.insert(e.serial(), generation);
                } else {
                    st.no_policy.remove(&e.serial());
                }
                for (id, _, swarm_id, running) in wanting {
                    match st.intents.get_mut(&swarm_id) {
                        None if !st.in_flight.contains(&swarm_id) => {
                            todo.push((e.clone(), id, swarm_id))
                        }
                        // started or stopped since: rescheduled the same
                        // way (a container not started yet is about to be:
                        // `docker run` creates, then starts)
                        Some(i)
                            if i.id == id
                                && i.running != running
                                && (running || !never_started(e, &id)) =>
                        {
                            i.running = running;
                            changed.push((swarm_id, i.clone()));
                        }
                        _ => {}
                    }
                }
                if todo.len() >= LEARN_PER_PASS {
                    break;
                }
            }
        }
        todo.truncate(LEARN_PER_PASS);
        for (swarm_id, intent) in changed {
            self.save_intent(&swarm_id, &intent).await;
        }
        let reads = todo.into_iter().map(|(e, id, swarm_id)| async move {
            let r = e.client().inspect(&id).await;
            (e, id, swarm_id, r)
        });
        for (e, id, swarm_id, r) in futures_util::future::join_all(reads).await {
            match r {
                Ok(i) => {
                    let intent = Intent {
                        id,
                        body: create_body(&i, e.snapshot().cpus),
                        addr: e.addr().to_string(),
                        name: i.short_name().to_string(),
                        running: i.state.running,
                    };
                    let fresh = {
                        let mut st = self.resched();
                        let fresh = !st.intents.contains_key(&swarm_id);
                        st.intents
                            .entry(swarm_id.clone())
                            .or_insert_with(|| intent.clone());
                        fresh
                    };
                    if fresh {
                        self.save_intent(&swarm_id, &intent).await;
                    }
                }
                Err(err) => {
                    tracing::debug!(engine = %e.addr(), container = %id, "cannot read the config of a reschedulable container: {err}")
                }
            }
        }
    }

    /// Creates the container `id` (on the Unhealthy `from`) again on
    /// another node, once.
    async fn reschedule_one(
        &self,
        from: &Arc<Engine>,
        id: &str,
        name: &str,
        swarm_id: &str,
        was_running: bool,
    ) {
        let intent = {
            let mut st = self.resched();
            if st.in_flight.contains(swarm_id)
                || st
                    .failed
                    .get(swarm_id)
                    .is_some_and(|t| t.elapsed() < RETRY_AFTER)
            {
                return;
            }
            st.in_flight.insert(swarm_id.to_string());
            st.intents.get(swarm_id).cloned()
        };
        let done = || {
            self.resched().in_flight.remove(swarm_id);
        };
        // Already elsewhere (an earlier pass, or before a manager restart):
        // this copy is the stale one.
        let elsewhere = self.healthy_engines().iter().any(|e| {
            e.addr() != from.addr()
                && e.with_cache(|cache| {
                    cache
                        .containers
                        .values()
                        .any(|x| x.swarm_id() == Some(swarm_id))
                })
        });
        if elsewhere {
            from.forget_container(id);
            done();
            return;
        }
        let Some(intent) = intent else {
            tracing::warn!(engine = %from.addr(), container = %name, "cannot reschedule: its config was never read while its node was up");
            self.resched()
                .failed
                .insert(swarm_id.to_string(), Instant::now());
            done();
            return;
        };
        let cached = from.with_cache(|c| c.containers.get(id).cloned());
        from.forget_container(id);
        // the body kept as a Value, read once more as a create body
        let created = match CreateBody::from_value(&intent.body) {
            Ok(body) => self.create_container(Some(name), body, None).await,
            Err(e) => Err(ClusterError::BadRequest(e.to_string())),
        };
        match created {
            Ok(created) => {
                let mut started = was_running;
                if was_running {
                    let path = format!(
                        "/containers/{}/start",
                        shoal_engine::client::encode(&created.id)
                    );
                    if let Err(e) = created
                        .engine
                        .client()
                        .call(Method::POST, &path, None)
                        .await
                    {
                        tracing::warn!(engine = %created.engine.addr(), container = %name, "rescheduled container did not start: {e}");
                        started = false;
                    }
                    let _ = created.engine.refresh_container(&created.id).await;
                }
                tracing::info!(
                    container = %name, from = %from.addr(), to = %created.engine.addr(),
                    id = %created.id, started, "rescheduled on node failure"
                );
                let moved = Intent {
                    id: created.id.clone(),
                    addr: created.engine.addr().to_string(),
                    name: name.to_string(),
                    running: was_running,
                    body: intent.body,
                };
                {
                    let mut st = self.resched();
                    st.failed.remove(swarm_id);
                    st.intents.insert(swarm_id.to_string(), moved.clone());
                }
                self.save_intent(swarm_id, &moved).await;
            }
            Err(e) => {
                tracing::warn!(container = %name, from = %from.addr(), "rescheduling failed (tried again in {}s): {e}", RETRY_AFTER.as_secs());
                if let Some(c) = cached.filter(|_| from.status() == NodeStatus::Unhealthy) {
                    from.insert_container(c);
                }
                self.resched()
                    .failed
                    .insert(swarm_id.to_string(), Instant::now());
            }
        }
        done();
    }

    /// After `back` turned Healthy: each swarm ID of a container there that
    /// asked for rescheduling keeps one copy in the cluster: the one the
    /// manager made last, else the newest.
    async fn remove_stale_copies(&self, back: &Arc<Engine>) {
        let ids: HashSet<String> = policy_containers(back)
            .into_iter()
            .map(|(_, _, swarm_id, _)| swarm_id)
            .collect();
        if ids.is_empty() {
            // the common case: nothing there asked for rescheduling (no
            // copy of the engine list per engine back)
            return;
        }
        let engines = self.healthy_engines();
        for swarm_id in ids {
            let mut copies: Vec<(Arc<Engine>, String)> = Vec::new();
            for e in &engines {
                let mine: Vec<String> = e.with_cache(|c| {
                    c.containers
                        .values()
                        .filter(|x| x.swarm_id() == Some(swarm_id.as_str()))
                        .map(|x| x.id().to_string())
                        .collect()
                });
                copies.extend(mine.into_iter().map(|id| (e.clone(), id)));
            }
            if copies.len() < 2 {
                continue;
            }
            let known = self.resched().intents.get(&swarm_id).map(|i| i.id.clone());
            let keep = match known.filter(|k| copies.iter().any(|(_, id)| id == k)) {
                Some(k) => k,
                None => {
                    let reads = copies.iter().map(|(e, id)| async move {
                        e.client().inspect(id).await.map(|i| created_at(&i)).ok()
                    });
                    let times = futures_util::future::join_all(reads).await;
                    let newest = copies
                        .iter()
                        .zip(times)
                        .max_by_key(|(_, t)| *t)
                        .map(|((_, id), _)| id.clone());
                    match newest {
                        Some(k) => k,
                        None => continue,
                    }
                }
            };
            for (e, id) in copies.into_iter().filter(|(_, id)| *id != keep) {
                let path = format!(
                    "/containers/{}?force=1&v=1",
                    shoal_engine::client::encode(&id)
                );
                match e.client().call(Method::DELETE, &path, None).await {
                    Ok(_) => {
                        tracing::info!(engine = %e.addr(), id = %id, kept = %keep, "stale copy of a rescheduled container removed");
                        e.forget_container(&id);
                    }
                    Err(err) if err.is_not_found() => e.forget_container(&id),
                    Err(err) => {
                        tracing::warn!(engine = %e.addr(), id = %id, "cannot remove the stale copy of a rescheduled container: {err}");
                        // tried again at the next pass
                        self.resched().seen.forget(back.serial());
                    }
                }
            }
        }
    }
}

/// Runs the watchdog (rescheduling, `shoal` networks) while the cluster
/// lives, when there is a tokio runtime to run it on.
pub(crate) fn spawn_watchdog(cluster: &Arc<Cluster>) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(cluster);
    rt.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            let Some(cluster) = weak.upgrade() else {
                return;
            };
            if cluster.resched().paused {
                cluster.paused_pass().await;
                continue;
            }
            cluster.reschedule_pass().await;
            if n.is_multiple_of(2) {
                cluster.reconcile_shoal_networks().await;
            }
            n += 1;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspect(v: Value) -> ContainerInspect {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_create_body_is_rebuilt_from_inspect() {
        let i = inspect(json!({
            "Id": "0123456789abcdef", "Name": "/r", "Created": "2026-11-29T20:41:43.5Z",
            "Config": {"Hostname": "0123456789ab", "Image": "busybox", "Cmd": ["sleep", "1000"],
                       "Env": ["A=1"], "Labels": {"com.docker.swarm.id": "s1",
                       "com.docker.swarm.reschedule-policies": "[\"on-node-failure\"]"}},
            "HostConfig": {"NetworkMode": "web", "CpuShares": 512, "Memory": 1024, "RestartPolicy": {"Name": "no"}},
            "NetworkSettings": {"Networks": {"web": {"Aliases": ["0123456789ab", "db"], "IPAMConfig": null}}}
        }));
        let b = create_body(&i, 2);
        assert!(b.get("Hostname").is_none(), "{b}");
        assert_eq!(b["Image"], "busybox");
        assert_eq!(b["Cmd"], json!(["sleep", "1000"]));
        assert_eq!(b["Labels"]["com.docker.swarm.id"], "s1");
        assert_eq!(
            b["HostConfig"]["CpuShares"], 1,
            "512 shares of 2 CPUs: 1 CPU"
        );
        assert_eq!(b["HostConfig"]["Memory"], 1024);
        assert_eq!(b["HostConfig"]["RestartPolicy"]["Name"], "no");
        assert_eq!(
            b["NetworkingConfig"],
            json!({"EndpointsConfig": {"web": {"Aliases": ["db"]}}})
        );
    }

    #[test]
    fn policies_and_creation_times() {
        assert!(policy_label_wants(Some("[\"on-node-failure\"]")));
        assert!(!policy_label_wants(Some("[\"off\"]")));
        assert!(!policy_label_wants(Some("not json")));
        assert!(!policy_label_wants(None));
        let at = |t: &str| created_at(&inspect(json!({"Created": t})));
        // fractions compare as nanoseconds, not as text
        assert!(at("2026-11-29T20:41:43.1Z") < at("2026-11-29T20:41:43.12Z"));
        assert!(at("2026-11-29T20:41:43.9Z") < at("2026-11-29T20:41:44Z"));
    }

    fn seeded(addr: &str, status: NodeStatus, containers: Vec<CachedContainer>) -> Arc<Engine> {
        let mut cache = shoal_engine::EngineCache::default();
        for c in containers {
            cache.containers.insert(c.id().to_string(), c);
        }
        crate::tests::seeded_engine(addr, addr, status, cache)
    }

    fn container(id: &str, labels: Value) -> CachedContainer {
        let summary = serde_json::from_value(json!({
            "Id": id, "Names": [format!("/{id}")], "State": "running", "Labels": labels
        }))
        .unwrap();
        CachedContainer::from_summary(&summary)
    }

    fn addrs(engines: &[Arc<Engine>]) -> Vec<&str> {
        let mut a: Vec<&str> = engines.iter().map(|e| e.addr()).collect();
        a.sort();
        a
    }

    #[tokio::test]
    async fn a_scan_sees_what_changed_and_skips_the_rest() {
        let plain = container("c1", json!({"com.docker.swarm.id": "s1"}));
        let a = seeded("10.0.0.1:2375", NodeStatus::Healthy, vec![plain]);
        let b = seeded("10.0.0.2:2375", NodeStatus::Healthy, vec![]);
        let cluster = Cluster::new(
            shoal_scheduler::Scheduler::new(&shoal_scheduler::SchedulerConfig::default()).unwrap(),
            crate::ClusterOpts::default(),
        );
        cluster.insert_engine(a.clone());
        cluster.insert_engine(b.clone());

        // first seen Healthy: back; no container of either carries a
        // policy: nothing to learn
        let scan = cluster.scan(false);
        assert_eq!(addrs(&scan.back), ["10.0.0.1:2375", "10.0.0.2:2375"]);
        assert!(scan.unhealthy.is_empty());
        assert!(scan.learn.is_empty());

        // nothing moved: nothing to do
        let scan = cluster.scan(false);
        assert!(scan.back.is_empty() && scan.unhealthy.is_empty() && scan.learn.is_empty());

        // a node goes Unhealthy: seen, and again at every pass (retries)
        // while it stays so, though its generation no longer moves
        a.seed_for_tests(
            (*a.snapshot().info).clone(),
            NodeStatus::Unhealthy,
            Default::default(),
        );
        for _ in 0..2 {
            let scan = cluster.scan(false);
            assert_eq!(addrs(&scan.unhealthy), ["10.0.0.1:2375"]);
            assert!(scan.back.is_empty() && scan.learn.is_empty());
        }

        // a policy container appears on the other: its engine is to be
        // learned, at every pass while it holds one (until its intent is
        // known), though nothing else moves
        let policy = container(
            "c2",
            json!({"com.docker.swarm.id": "s2",
                   RESCHEDULE_POLICIES_LABEL: "[\"on-node-failure\"]"}),
        );
        b.insert_container(policy);
        for _ in 0..2 {
            let scan = cluster.scan(false);
            assert_eq!(addrs(&scan.learn), ["10.0.0.2:2375"]);
            assert_eq!(addrs(&scan.unhealthy), ["10.0.0.1:2375"]);
        }
        assert_eq!(policy_containers(&b).len(), 1);

        // a label naming another policy: read once per generation, then
        // known free of containers to learn
        let off = container(
            "c3",
            json!({"com.docker.swarm.id": "s3", RESCHEDULE_POLICIES_LABEL: "[\"off\"]"}),
        );
        b.forget_container("c2");
        b.insert_container(off);
        let scan = cluster.scan(false);
        assert_eq!(addrs(&scan.learn), ["10.0.0.2:2375"]);
        assert!(policy_containers(&b).is_empty());
        cluster.learn_intents(&scan.learn).await;
        assert!(cluster.scan(false).learn.is_empty());

        // the failed node comes back: Healthy again
        a.seed_for_tests(
            (*a.snapshot().info).clone(),
            NodeStatus::Healthy,
            Default::default(),
        );
        let scan = cluster.scan(false);
        assert_eq!(addrs(&scan.back), ["10.0.0.1:2375"]);
        assert!(scan.unhealthy.is_empty());

        // paused passes (a replica) act on no status; the first pass after
        // them sees every healthy engine back
        for _ in 0..2 {
            let scan = cluster.scan(true);
            assert!(scan.back.is_empty() && scan.unhealthy.is_empty());
        }
        let scan = cluster.scan(false);
        assert_eq!(addrs(&scan.back), ["10.0.0.1:2375", "10.0.0.2:2375"]);
        assert!(cluster.scan(false).back.is_empty());

        // a forgotten engine is seen as new (a failed removal of a stale
        // copy is tried again)
        cluster.resched().seen.forget(b.serial());
        assert_eq!(addrs(&cluster.scan(false).back), ["10.0.0.2:2375"]);

        // a removed engine is forgotten
        cluster.set_engines(&[b.addr().to_string()]);
        let scan = cluster.scan(false);
        assert!(scan.back.is_empty());
        let serials: Vec<u64> = cluster
            .resched()
            .seen
            .slots()
            .iter()
            .map(|s| s.engine.serial())
            .collect();
        assert_eq!(serials, [b.serial()]);
    }
}
