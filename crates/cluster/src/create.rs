//! Creating a container: scheduling, reservation, the engine call, retry.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::header::HeaderValue;
use hyper::{Method, Request, StatusCode};
use serde::de::IgnoredAny;
use serde_json::Value;
use shoal_api_types::{CreateBody, SWARM_ID_LABEL};
use shoal_engine::cache::intern;
use shoal_engine::inspect::record_of_create;
use shoal_engine::{body, Engine, EngineError};
use shoal_scheduler::request::RESCHEDULE_POLICIES_LABEL;
use shoal_scheduler::{
    ContainerRequest, ContainerView, NodeIndex, NodeRef, NodeSource, NodeView, Overlay,
    PortBinding, PreparedRequest, SchedulingHints,
};

use crate::cluster::Cluster;
use crate::error::ClusterError;
use crate::nodes::{CachedNode, WantedImage};

/// A container being created: counted on its node until the engine has it.
#[derive(Debug, Clone)]
struct Reservation {
    id: u64,
    /// Where its node was among the cluster's nodes when it was taken.
    slot: usize,
    addr: String,
    name: Option<String>,
    cpus: i64,
    memory: i64,
    view: ContainerView,
}

/// Reservations in flight.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    next: u64,
    items: Vec<Reservation>,
}

/// Drops its reservation when the create is over, however it ended.
pub(crate) struct ReservationGuard<'a> {
    cluster: &'a Cluster,
    id: u64,
}

impl Drop for ReservationGuard<'_> {
    fn drop(&mut self) {
        let mut p = self
            .cluster
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        p.items.retain(|r| r.id != self.id);
    }
}

/// A created container.
#[derive(Debug, Clone)]
pub struct Created {
    pub engine: Arc<Engine>,
    pub id: String,
    /// The engine's answer (`{"Id", "Warnings"}`).
    pub answer: Value,
}

/// Reads the scheduler's request out of a create body (API 1.41 shape),
/// taking the constraint/affinity/reschedule entries out of `Env` into the
/// swarm labels, as classic Swarm did; with it, the labels the container
/// will carry (as set in the body).
pub fn request_from_body(
    body: &mut CreateBody,
) -> Result<(ContainerRequest, BTreeMap<String, String>), ClusterError> {
    let str_list = |v: Option<Vec<Value>>| -> Vec<String> {
        v.into_iter()
            .flatten()
            .filter_map(|s| match s {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect()
    };
    let mut env: Vec<String> = str_list(body.read("Env"));
    let mut labels: BTreeMap<String, String> = body
        .read::<serde_json::Map<String, Value>>("Labels")
        .map(|m| {
            m.into_iter()
                .map(|(k, v)| match v {
                    Value::String(v) => (k, v),
                    _ => (k, String::new()),
                })
                .collect()
        })
        .unwrap_or_default();
    let hints = SchedulingHints::extract(&mut env, &mut labels)?;
    hints.validate_reschedule_policies()?;
    // Empty hint labels are noise on the engine: keep only those with content.
    labels.retain(|k, v| {
        !(k.starts_with("com.docker.swarm.") && k != SWARM_ID_LABEL && (v == "[]" || v == "null"))
    });
    if !labels.contains_key(SWARM_ID_LABEL) {
        labels.insert(SWARM_ID_LABEL.into(), random_id());
    }
    if body.get("Env").is_some_and(|e| e != "null") || !env.is_empty() {
        body.set("Env", &Value::from(env));
    }
    body.set("Labels", &serde_json::to_value(&labels).unwrap_or_default());

    let nano: i64 = body.host_read("NanoCpus").unwrap_or(0);
    let shares: i64 = body.host_read("CpuShares").unwrap_or(0);
    let cpus = if nano > 0 {
        nano.saturating_add(999_999_999) / 1_000_000_000
    } else if shares > 0 && shares < 1024 {
        shares
    } else {
        0
    };
    let mut port_bindings = Vec::new();
    if let Some(pb) = body.host_read::<serde_json::Map<String, Value>>("PortBindings") {
        for (key, list) in &pb {
            let proto = intern(key.split_once('/').map(|(_, p)| p).unwrap_or("tcp"));
            for b in list.as_array().into_iter().flatten() {
                let port = b
                    .get("HostPort")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .parse()
                    .unwrap_or(0);
                port_bindings.push(PortBinding {
                    host_ip: intern(b.get("HostIp").and_then(Value::as_str).unwrap_or("")),
                    host_port: port,
                    protocol: proto.clone(),
                });
            }
        }
    }
    let req = ContainerRequest {
        image: body.read("Image").unwrap_or_default(),
        cpus,
        memory: body.host_read::<i64>("Memory").unwrap_or(0).max(0),
        constraints: hints.constraints,
        affinities: hints.affinities,
        port_bindings,
        network_mode: body.host_read("NetworkMode").unwrap_or_default(),
        exposed_ports: body
            .read::<BTreeMap<String, IgnoredAny>>("ExposedPorts")
            .map(|m| m.into_keys().collect())
            .unwrap_or_default(),
        links: str_list(body.host_read("Links")),
        volumes_from: str_list(body.host_read("VolumesFrom")),
    };
    Ok((req, labels))
}

fn random_id() -> String {
    use rand::Rng;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes: [u8; 32] = rand::thread_rng().gen();
    let mut id = String::with_capacity(64);
    for b in bytes {
        id.push(HEX[usize::from(b >> 4)] as char);
        id.push(HEX[usize::from(b & 15)] as char);
    }
    id
}

impl Cluster {
    /// Creates a container: places it, reserves its resources and name on
    /// the chosen node before calling the engine, pulls its image there
    /// first when the node lacks it, and on failure tries other nodes up to
    /// `swarm.createretry` times.
    pub async fn create_container(
        &self,
        name: Option<&str>,
        mut body: CreateBody,
        auth: Option<HeaderValue>,
    ) -> Result<Created, ClusterError> {
        let name = name
            .filter(|n| !n.is_empty())
            .map(|n| n.trim_start_matches('/').to_string());
        // the labels the container will carry: in-flight replicas must be
        // seen by label affinities of the creates that follow at once
        let (req, labels) = request_from_body(&mut body)?;
        self.add_shoal_dns(&mut body);
        // A user network lives on some nodes only (a local network made on
        // one node): the container can only start where it exists.
        let mut excluded: Vec<String> = self.nodes_without_network(&req.network_mode);
        let mut attempt = 0;
        loop {
            let (engine, _guard) = self.reserve(name.as_deref(), &req, &labels, &excluded)?;
            if !req.image.is_empty() && !engine.with_cache(|c| c.has_image(&req.image)) {
                if let Err(e) = pull_on(&engine, &req.image, auth.clone()).await {
                    tracing::info!(engine = %engine.addr(), image = %req.image, "pull before create failed: {e}");
                }
            }
            let body = engine_body(&body, &req, engine.snapshot().cpus);
            let timeout = self.opts().engine.request_timeout;
            match create_on(&engine, name.as_deref(), &body, timeout).await {
                Ok(answer) => {
                    let id = answer
                        .get("Id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    // No inspect here: the record is made from the request
                    // (the inspect after `start` follows within
                    // milliseconds in a `docker run`; without a start, the
                    // engine's `create` event brings one). One engine
                    // round trip fewer per container. A container that
                    // asks for rescheduling is inspected at once: its
                    // intent keeps the name the engine gave it.
                    let inspected = labels.contains_key(RESCHEDULE_POLICIES_LABEL)
                        && engine.refresh_container(&id).await.ok().flatten().is_some();
                    if !inspected
                        && !id.is_empty()
                        && !engine.with_cache(|c| c.containers.contains_key(&id))
                    {
                        engine.insert_container(record_of_create(
                            &id,
                            name.as_deref(),
                            &body,
                            shoal_engine::engine::now_secs(),
                        ));
                    }
                    self.note_created(&engine, &id, name.as_deref(), &body, &labels)
                        .await;
                    return Ok(Created { engine, id, answer });
                }
                Err(e) => {
                    // The engine could not even be reached: nothing was
                    // created there, so another node is tried whatever
                    // swarm.createretry says (better than classic Swarm).
                    if matches!(e, EngineError::Connect { .. }) {
                        tracing::info!(engine = %engine.addr(), "engine unreachable, placing elsewhere: {e}");
                        engine.check_soon();
                        excluded.push(engine.addr().to_string());
                        continue;
                    }
                    let retryable =
                        !matches!(e.status(), StatusCode::BAD_REQUEST | StatusCode::CONFLICT);
                    if retryable && attempt < self.opts().create_retry {
                        tracing::info!(engine = %engine.addr(), "create failed, trying another node: {e}");
                        excluded.push(engine.addr().to_string());
                        attempt += 1;
                        continue;
                    }
                    return Err(e.into());
                }
            }
        }
    }

    /// Addresses of the engines that lack network `mode` when some engine
    /// has it (none for the built-in modes, or when no engine knows it).
    pub(crate) fn nodes_without_network(&self, mode: &str) -> Vec<String> {
        if mode.is_empty()
            || matches!(mode, "bridge" | "host" | "none" | "default")
            || mode.starts_with("container:")
        {
            return Vec::new();
        }
        let engines = self.engines();
        // Per engine: None (no such network), Some(local?) when it has one.
        let found: Vec<Option<bool>> = engines
            .iter()
            .map(|e| {
                e.with_cache(|c| {
                    c.networks
                        .iter()
                        .find(|n| {
                            n.get("Name").and_then(Value::as_str) == Some(mode)
                                || n.get("Id").and_then(Value::as_str).is_some_and(|id| {
                                    id == mode || (mode.len() >= 12 && id.starts_with(mode))
                                })
                        })
                        .map(|n| {
                            matches!(
                                n.get("Scope").and_then(Value::as_str),
                                None | Some("") | Some("local")
                            )
                        })
                })
            })
            .collect();
        // A global (overlay) network reaches every node, even those whose
        // cache has not listed it yet.
        if found.contains(&Some(false)) {
            return Vec::new();
        }
        let has: Vec<bool> = found.iter().map(Option::is_some).collect();
        if !has.iter().any(|h| *h) {
            return Vec::new();
        }
        engines
            .iter()
            .zip(has)
            .filter(|(_, h)| !h)
            .map(|(e, _)| e.addr().to_string())
            .collect()
    }

    /// Chooses a node and records the reservation, all under one lock and
    /// without I/O. Nodes that have the image are preferred.
    ///
    /// The nodes are the cached ones, shared and never copied: what is in
    /// flight (reservations not yet in an engine's cache) and the excluded
    /// nodes are laid over them ([`Overlay`]). The pending lock is taken
    /// before the nodes are brought up to date, so a reservation that ends
    /// meanwhile is already in its engine's cache. A placement through the
    /// spread order looks at one node under the node cache's lock; only a
    /// pass over every node holds the node list past it (so that lookups
    /// are not held up), which makes a node changed meanwhile be copied
    /// before it is updated.
    pub(crate) fn reserve(
        &self,
        name: Option<&str>,
        req: &ContainerRequest,
        labels: &BTreeMap<String, String>,
        excluded: &[String],
    ) -> Result<(Arc<Engine>, ReservationGuard<'_>), ClusterError> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let mut cache = self.nodes();
        if let Some(n) = name {
            if let Some((_, by)) = cache.containers.named(n).next() {
                return Err(ClusterError::NameInUse {
                    name: n.to_string(),
                    by,
                });
            }
            if pending.items.iter().any(|r| r.name.as_deref() == Some(n)) {
                return Err(ClusterError::NameInUse {
                    name: n.to_string(),
                    by: "(being created)".into(),
                });
            }
        }
        let wanted = WantedImage::new(&req.image);
        // whether some healthy nodes may have the image and some not: only
        // then are the nodes with it preferred (known from the counts when
        // no node is left out this time)
        let image_on_some = !excluded.is_empty() || {
            let (healthy, with_image) = cache.image_presence(&wanted);
            with_image > 0 && with_image < healthy
        };
        let prepared = self.scheduler().prepare(req)?;
        let flights = flights_of(&pending.items, cache.list());
        // a container asking for no CPU and no memory, placed by `spread`
        // over every node: the node first in the spread order, when the
        // filters take it (see `SpreadOrder`)
        let first = (excluded.is_empty()
            && !image_on_some
            && req.cpus == 0
            && req.memory == 0
            && self.scheduler().strategy_name() == "spread")
            .then(|| {
                let counts: Vec<(usize, usize)> =
                    flights.iter().map(|f| (f.0, f.1.len())).collect();
                cache.spread_first(&counts)
            })
            .flatten();
        let overlays = overlays_of(&flights, excluded, cache.list());
        let taken = first.filter(|&i| {
            let placeable = Placeable {
                node: &cache.list()[i],
                overlay: overlays.iter().find(|(j, _)| *j == i).map(|(_, o)| o),
            };
            self.scheduler()
                .select_prepared(&[placeable], &prepared)
                .is_ok_and(|p| !p.soft_dropped)
        });
        let (index, engine) = match taken {
            Some(i) => (i, cache.list()[i].engine.clone()),
            None => {
                let nodes = cache.list().clone();
                drop(cache);
                let i =
                    self.select_over_all(&nodes, &overlays, &prepared, &wanted, image_on_some)?;
                (i, nodes[i].engine.clone())
            }
        };
        pending.next += 1;
        let id = pending.next;
        pending.items.push(Reservation {
            id,
            slot: index,
            addr: engine.addr().to_string(),
            name: name.map(str::to_string),
            cpus: req.cpus,
            memory: req.memory,
            view: ContainerView {
                id: format!("pending-{id}").into(),
                name: name.map(|n| format!("/{n}").into()).unwrap_or_default(),
                image: intern(&req.image),
                labels: labels
                    .iter()
                    .map(|(k, v)| (intern(k), v.as_str()))
                    .collect(),
                port_bindings: req.port_bindings.as_slice().into(),
                host_network: req.host_network(),
                exposed_ports: req.exposed_ports.iter().map(|p| intern(p)).collect(),
            },
        });
        Ok((engine, ReservationGuard { cluster: self, id }))
    }
}

impl Cluster {
    /// The scheduler's pass over every node (what is in flight and left out
    /// laid over them), the nodes with the image first when only some
    /// healthy ones may have it (`image_on_some`: they are counted here).
    fn select_over_all(
        &self,
        nodes: &[Arc<CachedNode>],
        overlays: &[(usize, Overlay<'_>)],
        prepared: &PreparedRequest<'_>,
        wanted: &WantedImage,
        image_on_some: bool,
    ) -> Result<usize, ClusterError> {
        let mut placeable: Vec<Placeable<'_>> = nodes
            .iter()
            .map(|node| Placeable {
                node,
                overlay: None,
            })
            .collect();
        for (i, overlay) in overlays {
            placeable[*i].overlay = Some(overlay);
        }
        let mut healthy = 0;
        let mut with_image: Vec<usize> = Vec::new();
        if image_on_some {
            for (i, p) in placeable.iter().enumerate() {
                if NodeRef::of(p).healthy() {
                    healthy += 1;
                    if p.node.has_image(wanted) {
                        with_image.push(i);
                    }
                }
            }
        }
        if !with_image.is_empty() && with_image.len() < healthy {
            let subset: Vec<Placeable<'_>> = with_image.iter().map(|&i| placeable[i]).collect();
            if let Ok(p) = self.scheduler().select_prepared(&subset, prepared) {
                return Ok(with_image[p.index]);
            }
        }
        Ok(self
            .scheduler()
            .select_prepared(&placeable, prepared)?
            .index)
    }
}

/// What is in flight on one node: (position, containers, cpus, memory).
type Flight = (usize, Vec<ContainerView>, i64, i64);

/// The reservations in flight, per node.
fn flights_of(items: &[Reservation], nodes: &[Arc<CachedNode>]) -> Vec<Flight> {
    let mut flights: Vec<Flight> = Vec::new();
    for r in items {
        let Some(i) = position(nodes, r.slot, &r.addr) else {
            continue;
        };
        match flights.iter_mut().find(|f| f.0 == i) {
            Some(f) => {
                f.1.push(r.view.clone());
                f.2 = f.2.saturating_add(r.cpus);
                f.3 = f.3.saturating_add(r.memory);
            }
            None => flights.push((i, vec![r.view.clone()], r.cpus, r.memory)),
        }
    }
    flights
}

/// What is laid over the nodes for one placement: the flights, and the
/// excluded nodes left out.
fn overlays_of<'a>(
    flights: &'a [Flight],
    excluded: &[String],
    nodes: &[Arc<CachedNode>],
) -> Vec<(usize, Overlay<'a>)> {
    let mut overlays: Vec<(usize, Overlay<'a>)> = flights
        .iter()
        .map(|(i, containers, cpus, memory)| {
            let overlay = Overlay {
                containers,
                cpus: *cpus,
                memory: *memory,
                unavailable: false,
            };
            (*i, overlay)
        })
        .collect();
    for addr in excluded {
        let Some(i) = nodes.iter().position(|n| n.engine.addr() == addr) else {
            continue;
        };
        match overlays.iter_mut().find(|(j, _)| *j == i) {
            Some((_, o)) => o.unavailable = true,
            None => overlays.push((
                i,
                Overlay {
                    unavailable: true,
                    ..Default::default()
                },
            )),
        }
    }
    overlays
}

#[cfg(test)]
impl Cluster {
    /// Where the scheduler's pass over every node would put `req` now (what
    /// is in flight counted; none when nowhere): what a placement must
    /// agree with.
    pub(crate) fn full_pass_choice(&self, req: &ContainerRequest) -> Option<String> {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let cache = self.nodes();
        let nodes = cache.list().clone();
        drop(cache);
        let flights = flights_of(&pending.items, &nodes);
        let overlays = overlays_of(&flights, &[], &nodes);
        let prepared = self.scheduler().prepare(req).expect("prepared");
        let wanted = WantedImage::new(&req.image);
        let i = self
            .select_over_all(&nodes, &overlays, &prepared, &wanted, true)
            .ok()?;
        Some(nodes[i].engine.addr().to_string())
    }
}

/// A cached node with what is laid over it for one placement.
#[derive(Clone, Copy)]
struct Placeable<'a> {
    node: &'a CachedNode,
    overlay: Option<&'a Overlay<'a>>,
}

impl NodeSource for Placeable<'_> {
    fn view(&self) -> &NodeView {
        self.node.node.view()
    }

    fn index(&self) -> Option<&NodeIndex> {
        Some(self.node.node.index())
    }

    fn overlay(&self) -> Overlay<'_> {
        self.overlay.copied().unwrap_or_default()
    }
}

/// Where the node of `addr` is in `nodes`: at `slot` (where it was when
/// the reservation was taken) unless the engines changed since.
fn position(nodes: &[Arc<CachedNode>], slot: usize, addr: &str) -> Option<usize> {
    if nodes.get(slot).is_some_and(|n| n.engine.addr() == addr) {
        return Some(slot);
    }
    nodes.iter().position(|n| n.engine.addr() == addr)
}

/// Sends the create to the engine: the body's text as it is (see
/// [`CreateBody::to_text`]), the whole answer read within `timeout`.
async fn create_on(
    engine: &Engine,
    name: Option<&str>,
    body: &CreateBody,
    timeout: Duration,
) -> Result<Value, EngineError> {
    let path = match name {
        Some(n) => format!(
            "/containers/create?name={}",
            shoal_engine::client::encode(n)
        ),
        None => "/containers/create".to_string(),
    };
    let req = Request::builder()
        .method(Method::POST)
        .uri(&path)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(body::full(body.to_text()))
        .map_err(|e| EngineError::Decode {
            addr: engine.addr().to_string(),
            what: path.clone(),
            detail: e.to_string(),
        })?;
    let call = async {
        let resp = engine.client().send(req).await?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|source| EngineError::Http {
                addr: engine.addr().to_string(),
                source,
            })?
            .to_bytes();
        Ok::<_, EngineError>((status, bytes))
    };
    let (status, bytes) =
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| EngineError::Timeout {
                addr: engine.addr().to_string(),
                secs: timeout.as_secs().max(1),
            })??;
    if status.is_client_error() || status.is_server_error() {
        return Err(EngineError::Status {
            status,
            message: shoal_engine::client::error_message(&bytes),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| EngineError::Decode {
        addr: engine.addr().to_string(),
        what: "container create".into(),
        detail: e.to_string(),
    })
}

/// The create body as the chosen engine gets it: a CPU count given as
/// `-c N` (CpuShares below 1024) becomes the shares that give N of the
/// node's `ncpu` CPUs, ceil(N*1024/ncpu), as classic Swarm sent them (the
/// cache reads them back as shares*ncpu/1024). NanoCpus are left alone.
/// Borrowed unchanged (the common case: no copy of the body per create).
fn engine_body<'a>(body: &'a CreateBody, req: &ContainerRequest, ncpu: i64) -> Cow<'a, CreateBody> {
    let int = |k: &str| body.host_read::<i64>(k).unwrap_or(0);
    let (nano, shares) = (int("NanoCpus"), int("CpuShares"));
    if !(nano == 0 && shares > 0 && shares < 1024 && req.cpus > 0 && ncpu > 0) {
        return Cow::Borrowed(body);
    }
    let mut body = body.clone();
    let engine_shares = (req.cpus * 1024 + ncpu - 1) / ncpu;
    body.host_set("CpuShares", &Value::from(engine_shares.max(2)));
    Cow::Owned(body)
}

/// `busybox` -> ("busybox", "latest"); `a/b:1` -> ("a/b", "1"); digests kept.
pub fn split_image(image: &str) -> (String, String) {
    if let Some((repo, digest)) = image.split_once('@') {
        return (repo.to_string(), digest.to_string());
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, tag)) => (
            image[..image.len() - tag.len() - 1].to_string(),
            tag.to_string(),
        ),
        None => (image.to_string(), "latest".to_string()),
    }
}

/// Pulls `image` on one engine, reading the whole progress stream; an
/// error line is an error.
pub async fn pull_on(
    engine: &Engine,
    image: &str,
    auth: Option<HeaderValue>,
) -> Result<(), EngineError> {
    let (repo, tag) = split_image(image);
    let path = format!(
        "/images/create?fromImage={}&tag={}",
        shoal_engine::client::encode(&repo),
        shoal_engine::client::encode(&tag)
    );
    let mut b = Request::builder().method(Method::POST).uri(path);
    if let Some(a) = auth {
        b = b.header("X-Registry-Auth", a);
    }
    let req = b.body(body::empty()).expect("static request");
    let fut = async {
        let resp = engine.client().send(req).await?;
        let status = resp.status();
        let mut lines = shoal_engine::client::LineReader::new(resp.into_body());
        let mut last_error = None;
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(v) = serde_json::from_slice::<Value>(&line) {
                if let Some(msg) = v.get("error").and_then(Value::as_str) {
                    last_error = Some(msg.to_string());
                }
                if let Some(msg) = v.get("message").and_then(Value::as_str) {
                    if !status.is_success() {
                        last_error = Some(msg.to_string());
                    }
                }
            }
        }
        match last_error {
            Some(message) => Err(EngineError::Status {
                status: StatusCode::NOT_FOUND,
                message,
            }),
            None if !status.is_success() => Err(EngineError::Status {
                status,
                message: "pull failed".into(),
            }),
            None => Ok(()),
        }
    };
    tokio::time::timeout(Duration::from_secs(600), fut)
        .await
        .map_err(|_| EngineError::Timeout {
            addr: engine.addr().to_string(),
            secs: 600,
        })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A create body from a `Value`, and the body back as one.
    fn body(v: Value) -> CreateBody {
        CreateBody::from_value(&v).unwrap()
    }

    #[test]
    fn cpu_counts_become_engine_shares() {
        let mut body = self::body(json!({"Image": "busybox", "HostConfig": {"CpuShares": 1}}));
        let (req, _) = request_from_body(&mut body).unwrap();
        assert_eq!(req.cpus, 1);
        let sent = engine_body(&body, &req, 2).to_value();
        assert_eq!(sent["HostConfig"]["CpuShares"], 512);
        let sent = engine_body(&body, &req, 3).to_value();
        assert_eq!(sent["HostConfig"]["CpuShares"], 342);
        // read back on a 3-CPU node: 342*3/1024 = 1 CPU
        let mut nano =
            self::body(json!({"Image": "busybox", "HostConfig": {"NanoCpus": 2_000_000_000i64}}));
        let (req, _) = request_from_body(&mut nano).unwrap();
        assert!(
            matches!(engine_body(&nano, &req, 2), Cow::Borrowed(b) if b.to_text() == nano.to_text()),
            "NanoCpus pass unchanged"
        );
        let mut plain = self::body(json!({"Image": "busybox", "HostConfig": {"Memory": 5}}));
        let (req, _) = request_from_body(&mut plain).unwrap();
        assert!(matches!(engine_body(&plain, &req, 2), Cow::Borrowed(_)));
    }

    #[test]
    fn request_from_create_body() {
        let mut body = self::body(json!({
            "Image": "busybox", "Env": ["A=1", "constraint:node==n1", "affinity:container==web"],
            "Labels": {"x": "y"}, "ExposedPorts": {"80/tcp": {}},
            "HostConfig": {"NanoCpus": 1_000_000_000, "Memory": 1024, "NetworkMode": "default",
                "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                "Links": ["db:db"], "VolumesFrom": null}
        }));
        let (req, labels) = request_from_body(&mut body).unwrap();
        assert_eq!(req.image, "busybox");
        assert_eq!(req.cpus, 1);
        assert_eq!(req.memory, 1024);
        assert_eq!(req.constraints, vec!["node==n1"]);
        assert_eq!(req.affinities, vec!["container==web"]);
        assert_eq!(req.port_bindings[0].host_port, 8080);
        assert_eq!(req.exposed_ports, vec!["80/tcp"]);
        assert_eq!(req.links, vec!["db:db"]);
        let body = body.to_value();
        assert_eq!(body["Env"], json!(["A=1"]));
        assert_eq!(body["Labels"]["x"], "y");
        assert_eq!(body["Labels"][SWARM_ID_LABEL].as_str().unwrap().len(), 64);
        assert_eq!(
            body["Labels"]["com.docker.swarm.constraints"],
            "[\"node==n1\"]"
        );
        assert!(body["Labels"]
            .get("com.docker.swarm.reschedule-policies")
            .is_none());
        assert_eq!(serde_json::to_value(&labels).unwrap(), body["Labels"]);
    }

    #[test]
    fn image_names() {
        assert_eq!(split_image("busybox"), ("busybox".into(), "latest".into()));
        assert_eq!(split_image("a/b:1"), ("a/b".into(), "1".into()));
        assert_eq!(
            split_image("localhost:5000/x"),
            ("localhost:5000/x".into(), "latest".into())
        );
        assert_eq!(split_image("x@sha256:ab"), ("x".into(), "sha256:ab".into()));
    }
}
