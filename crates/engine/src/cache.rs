//! What the manager knows of one engine between two refreshes.
//!
//! A container is kept as a compact record (a few hundred bytes): what the
//! scheduler, `docker ps`, `docker info` and lookups need. Everything else
//! of an inspect (`docker inspect`) is asked of the engine live.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use shoal_api_types::container::{parse_time, split_port_key};
use shoal_api_types::{
    ContainerInspect, ContainerSummary, ImageSummary, Port, StatusParts, SWARM_ID_LABEL,
};

use crate::inspect::{LeanEndpoint, LeanInspect};

mod container_map;
pub use container_map::{ContainerMap, RESCHEDULE_POLICIES_LABEL};

/// One shared copy of strings many containers repeat (image names and
/// IDs, label keys, network names and IDs, gateways). The set only grows,
/// bounded by how many distinct such values the cluster has.
pub fn intern(s: &str) -> Arc<str> {
    static SET: OnceLock<Mutex<HashSet<Arc<str>>>> = OnceLock::new();
    let mut set = SET
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(a) = set.get(s) {
        return a.clone();
    }
    let a: Arc<str> = Arc::from(s);
    set.insert(a.clone());
    a
}

/// A container's labels, sorted by key; keys interned, values shared
/// (with the scheduler's view of the container).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(Box<[(Arc<str>, Arc<str>)]>);

impl Labels {
    pub fn from_map(m: &BTreeMap<String, String>) -> Self {
        Self(
            m.iter()
                .map(|(k, v)| (intern(k), Arc::from(v.as_str())))
                .collect(),
        )
    }

    /// The pairs as held, in key order: to share them.
    pub fn shared(&self) -> &[(Arc<str>, Arc<str>)] {
        &self.0
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| &*self.0[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// A container's state as `docker ps` names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RunState {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl RunState {
    pub fn parse(s: &str) -> Self {
        match s {
            "running" => Self::Running,
            "paused" => Self::Paused,
            "restarting" => Self::Restarting,
            "removing" => Self::Removing,
            "exited" => Self::Exited,
            "dead" => Self::Dead,
            _ => Self::Created,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Dead => "dead",
        }
    }
}

/// A host port a container holds (scheduler's port filter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host_ip: Arc<str>,
    pub host_port: u16,
    pub proto: Arc<str>,
}

/// One network a container is attached to, as `docker ps` shows it (its
/// endpoint ID and MAC address are left to `docker inspect`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkEndpoint {
    pub name: Arc<str>,
    pub network_id: Arc<str>,
    pub gateway: Arc<str>,
    pub ip_address: Option<std::net::IpAddr>,
    pub ip_prefix_len: u8,
}

/// What few containers have (published or bound ports, exposed ports,
/// mounts, a health check): boxed apart to keep the common record small.
#[derive(Debug, Clone, Default, PartialEq)]
struct Rare {
    ports: Box<[Port]>,
    host_ports: Box<[HostPort]>,
    exposed: Box<[Arc<str>]>,
    /// The `Mounts` array as JSON, when not empty.
    mounts: Option<Box<str>>,
    health: Option<Arc<str>>,
}

impl Rare {
    /// None when there is nothing in it.
    fn boxed(self) -> Option<Box<Rare>> {
        let empty = self.ports.is_empty()
            && self.host_ports.is_empty()
            && self.exposed.is_empty()
            && self.mounts.is_none()
            && self.health.is_none();
        (!empty).then(|| Box::new(self))
    }
}

/// One container: a compact record built from its inspect object (or, until
/// it is inspected, from its list item).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CachedContainer {
    /// Shared with the scheduler's view of the container.
    id: Arc<str>,
    /// With its leading `/` (as `Names` lists it), shared with the
    /// scheduler's view of the container.
    name: Arc<str>,
    image: Arc<str>,
    image_id: Arc<str>,
    command: Box<str>,
    network_mode: Arc<str>,
    created: i64,
    started_at: i64,
    /// None: never finished.
    finished_at: Option<i64>,
    nano_cpus: i64,
    cpu_shares: i64,
    memory: i64,
    exit_code: i32,
    state: RunState,
    /// Built from an inspect (reservations, bindings, exposed ports known).
    inspected: bool,
    labels: Labels,
    networks: Box<[NetworkEndpoint]>,
    rare: Option<Box<Rare>>,
    /// The engine's insert count when stored (see `Engine::inserted`).
    pub(crate) stamp: u64,
}

/// `/name`.
fn slashed(name: &str) -> Arc<str> {
    let mut s = String::with_capacity(name.len() + 1);
    s.push('/');
    s.push_str(name);
    Arc::from(s)
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn endpoints(networks: Option<&Value>) -> Box<[NetworkEndpoint]> {
    networks
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(name, e)| NetworkEndpoint {
                    name: intern(name),
                    network_id: intern(s(e, "NetworkID")),
                    gateway: intern(s(e, "Gateway")),
                    ip_address: s(e, "IPAddress").parse().ok(),
                    ip_prefix_len: e.get("IPPrefixLen").and_then(Value::as_u64).unwrap_or(0) as u8,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn mounts(v: Option<&Value>) -> Option<Box<str>> {
    v.filter(|m| m.as_array().is_some_and(|a| !a.is_empty()))
        .map(|m| m.to_string().into_boxed_str())
}

/// `bindings` (asked for) then `ports` (published), without port 0 and
/// duplicates.
fn held_ports(bindings: Vec<HostPort>, ports: &[Port]) -> Box<[HostPort]> {
    let mut out: Vec<HostPort> = Vec::new();
    let mut push = |b: HostPort| {
        if b.host_port != 0 && !out.contains(&b) {
            out.push(b);
        }
    };
    for b in bindings {
        push(b);
    }
    for p in ports {
        push(HostPort {
            host_ip: intern(&p.ip),
            host_port: p.public_port,
            proto: intern(&p.proto),
        });
    }
    out.into()
}

impl CachedContainer {
    /// The record of an inspect object (`GET /containers/ID/json`): read
    /// as the engine's answer is (through [`LeanInspect`]), so both make
    /// the same record. Parts of `extra` the lean reading refuses (a `Path`
    /// that is no string, say) are left out, as the engine's answer would
    /// be refused.
    pub fn from_inspect(i: &ContainerInspect) -> Self {
        let lean =
            |i: &ContainerInspect| serde_json::to_value(i).and_then(LeanInspect::deserialize);
        let read = lean(i).or_else(|_| {
            let mut typed = i.clone();
            typed.extra.clear();
            lean(&typed)
        });
        Self::from_lean(&read.unwrap_or_default())
    }

    /// The record of an inspect answer decoded lean (see
    /// [`crate::inspect`]): the one way a record is built from an inspect.
    pub(crate) fn from_lean(i: &LeanInspect) -> Self {
        let text = crate::inspect::text;
        let net = i.network_settings.as_ref();
        let mut ports = Vec::new();
        for (key, bindings) in net.and_then(|n| n.ports.as_ref()).into_iter().flatten() {
            let (private_port, proto) = split_port_key(key);
            match bindings {
                Some(list) if !list.is_empty() => {
                    for b in list {
                        ports.push(Port {
                            ip: text(&b.host_ip).to_string(),
                            private_port,
                            public_port: text(&b.host_port).parse().unwrap_or(0),
                            proto: proto.clone(),
                        });
                    }
                }
                _ => ports.push(Port {
                    private_port,
                    proto,
                    ..Default::default()
                }),
            }
        }
        let command = i
            .path
            .as_ref()
            .map(|p| {
                let mut c = p.clone();
                for a in i.args.iter().flatten().filter_map(Value::as_str) {
                    c.push(' ');
                    c.push_str(a);
                }
                c
            })
            .unwrap_or_default();
        let st = &i.state;
        let finished = Some(st.finished_at.as_str())
            .filter(|f| !f.is_empty() && !f.starts_with("0001-"))
            .map(|f| parse_time(f).unwrap_or(0));
        let health = st
            .health
            .as_ref()
            .map(|h| text(&h.status))
            .filter(|h| !h.is_empty())
            .map(intern);
        let state = match RunState::parse(&st.status) {
            _ if st.paused && st.running => RunState::Paused,
            other => other,
        };
        let mut bindings = Vec::new();
        for (key, list) in i.host_config.port_bindings.iter().flatten() {
            let (_, proto) = split_port_key(key);
            for b in list.iter().flatten() {
                bindings.push(HostPort {
                    host_ip: intern(text(&b.host_ip)),
                    host_port: text(&b.host_port).parse().unwrap_or(0),
                    proto: intern(&proto),
                });
            }
        }
        let networks = net
            .and_then(|n| n.networks.as_ref())
            .map(|m| {
                m.iter()
                    .map(|(name, e)| {
                        let e = e.as_ref();
                        let field =
                            |f: fn(&LeanEndpoint) -> &Option<Value>| e.map_or("", |e| text(f(e)));
                        NetworkEndpoint {
                            name: intern(name),
                            network_id: intern(field(|e| &e.network_id)),
                            gateway: intern(field(|e| &e.gateway)),
                            ip_address: field(|e| &e.ip_address).parse().ok(),
                            ip_prefix_len: e
                                .and_then(|e| e.ip_prefix_len.as_ref())
                                .and_then(Value::as_u64)
                                .unwrap_or(0) as u8,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let labels = i
            .config
            .labels
            .as_ref()
            .map(Labels::from_map)
            .unwrap_or_default();
        Self {
            id: i.id.as_str().into(),
            name: slashed(i.name.trim_start_matches('/')),
            image: intern(&i.config.image),
            image_id: intern(&i.image),
            command: command.into(),
            network_mode: intern(&i.host_config.network_mode),
            created: parse_time(&i.created).unwrap_or(0),
            started_at: parse_time(&st.started_at).unwrap_or(0),
            finished_at: finished,
            nano_cpus: i.host_config.nano_cpus,
            cpu_shares: i.host_config.cpu_shares,
            memory: i.host_config.memory,
            exit_code: st.exit_code as i32,
            state,
            inspected: true,
            labels,
            networks,
            rare: Rare {
                host_ports: held_ports(bindings, &ports),
                ports: ports.into(),
                exposed: i
                    .config
                    .exposed_ports
                    .iter()
                    .flatten()
                    .map(|(k, _)| intern(k))
                    .collect(),
                mounts: mounts(i.mounts.as_ref()),
                health,
            }
            .boxed(),
            stamp: 0,
        }
    }

    /// The record of a list item (`GET /containers/json`), for a container
    /// not inspected yet: no reservations known.
    pub fn from_summary(c: &ContainerSummary) -> Self {
        let net = c.extra.get("NetworkSettings");
        let host = c.extra.get("HostConfig");
        Self {
            id: c.id.as_str().into(),
            name: slashed(c.name()),
            image: intern(&c.image),
            image_id: intern(&c.image_id),
            command: c.command.as_str().into(),
            network_mode: intern(host.map(|h| s(h, "NetworkMode")).unwrap_or("")),
            created: c.created,
            state: RunState::parse(&c.state),
            labels: Labels::from_map(&c.labels),
            networks: endpoints(net.and_then(|n| n.get("Networks"))),
            rare: Rare {
                host_ports: held_ports(Vec::new(), &c.ports),
                ports: c.ports.clone().into(),
                mounts: mounts(c.extra.get("Mounts")),
                ..Default::default()
            }
            .boxed(),
            ..Default::default()
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The full ID, shared.
    pub fn shared_id(&self) -> &Arc<str> {
        &self.id
    }

    /// The name without slash.
    pub fn name(&self) -> &str {
        self.name.strip_prefix('/').unwrap_or(&self.name)
    }

    /// The name with its slash (`/web`), shared.
    pub fn slashed_name(&self) -> &Arc<str> {
        &self.name
    }

    /// The image, shared (interned).
    pub fn shared_image(&self) -> &Arc<str> {
        &self.image
    }

    /// The image as the container was created from (`Config.Image`).
    pub fn image(&self) -> &str {
        &self.image
    }

    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    pub fn swarm_id(&self) -> Option<&str> {
        self.labels.get(SWARM_ID_LABEL)
    }

    /// Whether the container carries a rescheduling policy label (whatever
    /// policy it names).
    pub fn has_reschedule_policy(&self) -> bool {
        self.labels.contains_key(RESCHEDULE_POLICIES_LABEL)
    }

    pub fn state(&self) -> RunState {
        self.state
    }

    /// Created, unix seconds.
    pub fn created(&self) -> i64 {
        self.created
    }

    /// Running or paused (what `docker ps` without `-a` lists).
    pub fn is_running(&self) -> bool {
        matches!(
            self.state,
            RunState::Running | RunState::Paused | RunState::Restarting
        )
    }

    pub fn is_paused(&self) -> bool {
        self.state == RunState::Paused
    }

    /// Whether this record came from an inspect (else from a list item).
    pub fn is_inspected(&self) -> bool {
        self.inspected
    }

    /// The record as known before its inspect (built from a create
    /// request, see `inspect::record_of_create`), created at `now`.
    pub(crate) fn not_inspected(mut self, now: i64) -> Self {
        self.inspected = false;
        self.created = now;
        self
    }

    pub fn exit_code(&self) -> i64 {
        self.exit_code as i64
    }

    /// `State.Health.Status` ("" without a health check).
    pub fn health(&self) -> &str {
        self.rare
            .as_ref()
            .and_then(|r| r.health.as_deref())
            .unwrap_or("")
    }

    pub fn network_mode(&self) -> &str {
        &self.network_mode
    }

    pub fn networks(&self) -> &[NetworkEndpoint] {
        &self.networks
    }

    /// Host ports this container holds (asked for or published).
    pub fn host_ports(&self) -> &[HostPort] {
        self.rare.as_ref().map_or(&[], |r| &r.host_ports)
    }

    /// `Config.ExposedPorts` keys (`80/tcp`).
    pub fn exposed_ports(&self) -> &[Arc<str>] {
        self.rare.as_ref().map_or(&[], |r| &r.exposed)
    }

    /// CPUs and memory this container reserves on its node with `ncpu`
    /// CPUs (see [`ContainerInspect::reserved_cpus`]).
    pub fn reserved(&self, ncpu: i64) -> (i64, i64) {
        let cpus = if self.nano_cpus > 0 {
            self.nano_cpus.saturating_add(999_999_999) / 1_000_000_000
        } else {
            self.cpu_shares.max(0).saturating_mul(ncpu.max(0)) / 1024
        };
        (cpus, self.memory.max(0))
    }

    /// Sets the state by hand (a change the manager made and saw succeed),
    /// until the next inspect says more.
    pub fn set_state(&mut self, state: RunState, now: i64) {
        if state == RunState::Running && !self.is_running() {
            self.started_at = now;
        }
        self.state = state;
    }

    /// `docker ps`'s status text at `now` (unix seconds).
    pub fn status_text(&self, now: i64) -> String {
        StatusParts {
            status: self.state.as_str(),
            running: self.is_running() && self.state != RunState::Restarting,
            paused: self.is_paused(),
            health: self.health(),
            started: self.started_at,
            finished: self.finished_at,
            exit_code: self.exit_code(),
        }
        .text(now)
    }

    /// The list item `docker ps` shows, names as `/{node}/{name}` when a
    /// node is given; `status` overrides the status text ("Host Down").
    pub fn list_item<'a>(
        &'a self,
        node: Option<&'a str>,
        now: i64,
        status: Option<&'a str>,
    ) -> ListItem<'a> {
        ListItem {
            c: self,
            node,
            now,
            status,
        }
    }
}

/// A cached container serialized as a `GET /containers/json` item.
pub struct ListItem<'a> {
    c: &'a CachedContainer,
    node: Option<&'a str>,
    now: i64,
    status: Option<&'a str>,
}

struct Seq<'a, T>(&'a [T]);
struct Ports<'a>(&'a [Port]);
struct Networks<'a>(&'a [NetworkEndpoint]);
struct LabelMap<'a>(&'a Labels);
struct OneKey<'a, V>(&'static str, &'a V);

impl<T: Serialize> Serialize for Seq<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut q = s.serialize_seq(Some(self.0.len()))?;
        for x in self.0 {
            q.serialize_element(x)?;
        }
        q.end()
    }
}

impl Serialize for Ports<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Seq(self.0).serialize(s)
    }
}

impl Serialize for LabelMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0.iter() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<V: Serialize> Serialize for OneKey<'_, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(self.0, self.1)?;
        m.end()
    }
}

impl Serialize for NetworkEndpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("IPAMConfig", &())?;
        m.serialize_entry("Links", &())?;
        m.serialize_entry("Aliases", &())?;
        m.serialize_entry("NetworkID", &*self.network_id)?;
        m.serialize_entry("EndpointID", "")?;
        m.serialize_entry("Gateway", &*self.gateway)?;
        let ip = self.ip_address.map(|a| a.to_string()).unwrap_or_default();
        m.serialize_entry("IPAddress", &ip)?;
        m.serialize_entry("IPPrefixLen", &self.ip_prefix_len)?;
        m.serialize_entry("IPv6Gateway", "")?;
        m.serialize_entry("GlobalIPv6Address", "")?;
        m.serialize_entry("GlobalIPv6PrefixLen", &0)?;
        m.serialize_entry("MacAddress", "")?;
        m.serialize_entry("DriverOpts", &())?;
        m.end()
    }
}

impl Serialize for Networks<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for n in self.0 {
            m.serialize_entry(&*n.name, n)?;
        }
        m.end()
    }
}

impl Serialize for ListItem<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.c;
        let name = match self.node {
            Some(node) => format!("/{node}/{}", c.name()),
            None => format!("/{}", c.name()),
        };
        let status = match self.status {
            Some(st) => st.to_string(),
            None => c.status_text(self.now),
        };
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("Id", &*c.id)?;
        m.serialize_entry("Names", &[name])?;
        m.serialize_entry("Image", &*c.image)?;
        m.serialize_entry("ImageID", &*c.image_id)?;
        m.serialize_entry("Command", &*c.command)?;
        m.serialize_entry("Created", &c.created)?;
        let ports = c.rare.as_ref().map_or(&[][..], |r| &r.ports[..]);
        m.serialize_entry("Ports", &Ports(ports))?;
        m.serialize_entry("Labels", &LabelMap(&c.labels))?;
        m.serialize_entry("State", c.state.as_str())?;
        m.serialize_entry("Status", &status)?;
        m.serialize_entry("HostConfig", &OneKey("NetworkMode", &&*c.network_mode))?;
        m.serialize_entry(
            "NetworkSettings",
            &OneKey("Networks", &Networks(&c.networks)),
        )?;
        match c.rare.as_ref().and_then(|r| r.mounts.as_ref()) {
            Some(raw) => {
                let v: Value = serde_json::from_str(raw).unwrap_or(Value::Array(Vec::new()));
                m.serialize_entry("Mounts", &v)?;
            }
            None => m.serialize_entry("Mounts", &[(); 0])?,
        }
        m.end()
    }
}

/// How a query named a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchKind {
    /// Full ID, swarm ID or exact name: wins over everything.
    Exact,
    /// An ID prefix: only good when unique.
    Prefix,
}

/// Cached containers, images, networks and volumes of one engine.
#[derive(Debug, Clone, Default)]
pub struct EngineCache {
    pub containers: ContainerMap,
    pub images: Vec<ImageSummary>,
    pub networks: Vec<Value>,
    pub volumes: Vec<Value>,
}

impl EngineCache {
    /// Matches `query` (ID, ID prefix, swarm ID, name or `/name`) against
    /// the containers; returns every match with how it matched.
    pub fn match_containers(&self, query: &str) -> Vec<(String, MatchKind)> {
        let name = query.strip_prefix('/').unwrap_or(query);
        let mut out = Vec::new();
        for c in self.containers.values() {
            if c.id() == query || c.name() == name || c.swarm_id() == Some(query) {
                out.push((c.id().to_string(), MatchKind::Exact));
            } else if !query.is_empty() && c.id().starts_with(query) {
                out.push((c.id().to_string(), MatchKind::Prefix));
            }
        }
        out
    }

    pub fn has_name(&self, name: &str) -> bool {
        self.containers.values().any(|c| c.name() == name)
    }

    /// (total, running, paused, stopped)
    pub fn counts(&self) -> (i64, i64, i64, i64) {
        let mut t = (0, 0, 0, 0);
        for c in self.containers.values() {
            t.0 += 1;
            if c.is_paused() {
                t.2 += 1;
            } else if c.is_running() {
                t.1 += 1;
            } else {
                t.3 += 1;
            }
        }
        t
    }

    /// Sum of CPUs and memory reserved by every container, on a node with
    /// `ncpu` CPUs.
    pub fn reserved(&self, ncpu: i64) -> (i64, i64) {
        self.containers
            .values()
            .map(|c| c.reserved(ncpu))
            .fold((0, 0), |a, b| {
                (a.0.saturating_add(b.0), a.1.saturating_add(b.1))
            })
    }

    /// Whether some image here answers to `name`.
    pub fn has_image(&self, name: &str) -> bool {
        self.images.iter().any(|i| i.matches(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cached(id: &str, name: &str, swarm: &str, state: &str) -> CachedContainer {
        let summary: ContainerSummary = serde_json::from_value(json!({
            "Id": id, "Names": [format!("/{name}")], "State": state,
            "Labels": {SWARM_ID_LABEL: swarm}
        }))
        .unwrap();
        CachedContainer::from_summary(&summary)
    }

    #[test]
    fn matching_and_counts() {
        let mut c = EngineCache::default();
        for x in [
            cached("abc123", "web", "s1", "running"),
            cached("abd456", "db", "s2", "exited"),
            cached("ff", "p", "s3", "paused"),
        ] {
            c.containers.insert(x.id().to_string(), x);
        }
        assert_eq!(
            c.match_containers("web"),
            vec![("abc123".into(), MatchKind::Exact)]
        );
        assert_eq!(
            c.match_containers("/db"),
            vec![("abd456".into(), MatchKind::Exact)]
        );
        assert_eq!(
            c.match_containers("s2"),
            vec![("abd456".into(), MatchKind::Exact)]
        );
        assert_eq!(c.match_containers("ab").len(), 2);
        assert_eq!(
            c.match_containers("abc"),
            vec![("abc123".into(), MatchKind::Prefix)]
        );
        assert!(c.match_containers("zz").is_empty());
        assert_eq!(c.counts(), (3, 1, 1, 1));
        assert!(c.has_name("db"));
    }

    /// What dockerd lists for a container, rebuilt from its inspect alone.
    #[test]
    fn list_item_from_inspect() {
        let i: ContainerInspect = serde_json::from_value(json!({
            "Id": "abc", "Name": "/web", "Created": "2026-11-29T16:00:00Z",
            "Path": "sleep", "Args": ["300"], "Image": "sha256:1",
            "State": {"Status": "running", "Running": true, "StartedAt": "2026-11-29T16:00:00Z",
                      "FinishedAt": "0001-01-01T00:00:00Z", "Health": {"Status": "healthy"}},
            "Config": {"Image": "nginx", "Labels": {"b": "2", "a": "1"}, "ExposedPorts": {"80/tcp": {}}},
            "HostConfig": {"NanoCpus": 1_500_000_000, "Memory": 1_048_576, "NetworkMode": "default",
                           "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}},
            "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "81/tcp": null},
                "Networks": {"bridge": {"NetworkID": "n1", "EndpointID": "e1", "Gateway": "172.17.0.1",
                    "IPAddress": "172.17.0.2", "IPPrefixLen": 16, "MacAddress": "02:42:ac:11:00:02"}}},
            "Mounts": [{"Type": "volume", "Name": "v", "Destination": "/data"}]
        }))
        .unwrap();
        let c = CachedContainer::from_inspect(&i);
        assert_eq!(c.reserved(2), (2, 1_048_576));
        assert_eq!(c.labels().get("a"), Some("1"));
        assert_eq!(
            c.labels().iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(c.host_ports().len(), 2, "'' and 0.0.0.0 bindings of 8080");
        let now = parse_time("2026-11-29T16:01:00Z").unwrap();
        let v = serde_json::to_value(c.list_item(Some("n1"), now, None)).unwrap();
        assert_eq!(v["Names"], json!(["/n1/web"]));
        assert_eq!(v["Command"], "sleep 300");
        assert_eq!(v["Status"], "Up About a minute (healthy)");
        assert_eq!(v["State"], "running");
        assert_eq!(v["Image"], "nginx");
        assert_eq!(v["Created"], now - 60);
        assert_eq!(v["Labels"], json!({"a": "1", "b": "2"}));
        assert_eq!(
            v["Ports"],
            json!([{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                   {"PrivatePort": 81, "Type": "tcp"}])
        );
        assert_eq!(v["HostConfig"], json!({"NetworkMode": "default"}));
        assert_eq!(
            v["NetworkSettings"]["Networks"]["bridge"]["IPAddress"],
            "172.17.0.2"
        );
        assert_eq!(v["Mounts"][0]["Name"], "v");
        // back through the API type: nothing it reads is lost
        let back: ContainerSummary = serde_json::from_value(v).unwrap();
        let again = CachedContainer::from_summary(&back);
        assert_eq!(again.name(), "n1/web");
        assert_eq!(again.state(), RunState::Running);
        let down = c.list_item(None, now, Some("Host Down"));
        assert_eq!(serde_json::to_value(down).unwrap()["Status"], "Host Down");
    }

    /// The record stays small: it is kept for every container of the
    /// cluster (measured with 200,000 records of a dockerd-like inspect:
    /// 864 bytes each with the map's key and node overhead).
    #[test]
    fn record_is_compact() {
        assert!(std::mem::size_of::<CachedContainer>() <= 208);
        assert!(std::mem::size_of::<NetworkEndpoint>() <= 72);
    }

    #[test]
    fn exited_and_paused_states() {
        let i: ContainerInspect = serde_json::from_value(json!({
            "Id": "x", "Name": "/x",
            "State": {"Status": "exited", "ExitCode": 3, "FinishedAt": "2026-11-29T16:00:00Z"}
        }))
        .unwrap();
        let c = CachedContainer::from_inspect(&i);
        assert!(!c.is_running());
        let t = parse_time("2026-11-29T16:00:00Z").unwrap();
        assert_eq!(c.status_text(t + 5), "Exited (3) 5 seconds ago");
        let p: ContainerInspect = serde_json::from_value(json!({
            "Id": "p", "Name": "/p", "State": {"Status": "paused", "Running": true, "Paused": true}
        }))
        .unwrap();
        let p = CachedContainer::from_inspect(&p);
        assert!(p.is_paused() && p.is_running());
    }
}
