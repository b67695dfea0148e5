//! One hollow engine: its containers, images, networks and volumes in
//! memory, the container lifecycle, and its event stream.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use serde_json::{json, Value};
use shoal_api_types::Filters;
use tokio::sync::broadcast;

use crate::container::{generated_name, valid_name, Container, RunState};
use crate::create_body::CreateBody;
use crate::error::HollowError;
use crate::spec::EngineSpec;

/// Events kept for `GET /events?since=` replays.
const RECENT_EVENTS: usize = 32;
/// Events buffered per live `/events` stream before a slow reader lags.
const EVENT_BUFFER: usize = 256;

/// An image of a hollow engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub created: i64,
    pub size: i64,
}

/// One event, already encoded as the JSON line `/events` sends.
#[derive(Debug, Clone)]
pub struct EventRecord {
    pub time_nano: i64,
    pub line: Bytes,
}

#[derive(Debug, Default)]
struct State {
    containers: HashMap<String, Container>,
    /// name (no slash) -> ID
    names: HashMap<String, String>,
    images: Vec<Image>,
    /// Networks made through the API (the default three are built on demand).
    networks: Vec<Value>,
    volumes: Vec<Value>,
    recent: VecDeque<EventRecord>,
    last_nano: i64,
    next_ip: u16,
    next_pid: u32,
}

/// A simulated Docker engine: answers from memory, never runs anything.
#[derive(Debug)]
pub struct HollowEngine {
    spec: EngineSpec,
    state: Mutex<State>,
    events: broadcast::Sender<EventRecord>,
    started: i64,
    connections: AtomicU64,
    requests: AtomicU64,
}

/// When a `wait` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl WaitCondition {
    pub fn parse(s: &str) -> Result<Self, HollowError> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(HollowError::BadRequest(format!(
                "invalid condition: \"{other}\""
            ))),
        }
    }
}

/// How a `wait` begins: already satisfied, or to be watched on the stream.
#[derive(Debug)]
pub enum WaitStart {
    Done(i64),
    Watch {
        id: String,
        rx: broadcast::Receiver<EventRecord>,
    },
}

pub fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn random_hex(bytes: usize) -> String {
    use rand::Rng;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut r = rand::thread_rng();
    let mut s = String::with_capacity(bytes * 2);
    for _ in 0..bytes {
        let b: u8 = r.gen();
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

/// Every string of a JSON array (or nothing).
fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `busybox` -> `busybox:latest`, dropping `docker.io/library/`.
pub fn normalize_image(name: &str) -> String {
    shoal_api_types::image::normalize_ref(name)
}

impl HollowEngine {
    /// A hollow engine with the usual small images (busybox, alpine) and no
    /// containers.
    pub fn new(spec: EngineSpec) -> Arc<Self> {
        let now = now_nanos() / 1_000_000_000;
        let images = ["busybox:latest", "alpine:latest"]
            .iter()
            .enumerate()
            .map(|(i, tag)| Image {
                id: format!("sha256:{}", image_digest(tag)),
                repo_tags: vec![tag.to_string()],
                created: now - 86_400 * (10 + i as i64),
                size: 1_240_000 + 4_000_000 * i as i64,
            })
            .collect();
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Arc::new(HollowEngine {
            spec,
            state: Mutex::new(State {
                images,
                next_ip: 2,
                next_pid: 1000,
                ..Default::default()
            }),
            events,
            started: now_nanos(),
            connections: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        })
    }

    pub fn spec(&self) -> &EngineSpec {
        &self.spec
    }

    /// When this engine came up (unix nanoseconds).
    pub fn started(&self) -> i64 {
        self.started
    }

    /// Counts one accepted connection.
    pub fn count_connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one request.
    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// (connections accepted, requests answered) so far.
    pub fn traffic(&self) -> (u64, u64) {
        (
            self.connections.load(Ordering::Relaxed),
            self.requests.load(Ordering::Relaxed),
        )
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The time of a new event: now, and after the one before.
    fn event_time(s: &mut State) -> i64 {
        let t = now_nanos().max(s.last_nano + 1);
        s.last_nano = t;
        t
    }

    /// Files an event line: kept for replays and sent to the live streams
    /// (under the state lock, so streams see events in the order the
    /// changes happened).
    fn file_event(&self, s: &mut State, time_nano: i64, line: Vec<u8>) {
        let rec = EventRecord {
            time_nano,
            line: Bytes::from(line),
        };
        if s.recent.len() == RECENT_EVENTS {
            s.recent.pop_front();
        }
        s.recent.push_back(rec.clone());
        // No receiver is fine: nobody is watching.
        let _ = self.events.send(rec);
    }

    /// Publishes an event of an image, network or volume.
    fn publish(&self, s: &mut State, kind: &str, action: &str, id: &str, attrs: Value) {
        let t = Self::event_time(s);
        let line = crate::shapes::event_line(kind, action, id, None, t, |w| {
            w.value(&attrs);
        });
        self.file_event(s, t, line);
    }

    /// Publishes an event of container `id`: its labels, image and name as
    /// attributes, and `extra` ones.
    fn container_event(&self, s: &mut State, action: &str, id: &str, extra: &[(&str, String)]) {
        if !s.containers.contains_key(id) {
            return;
        }
        let t = Self::event_time(s);
        let c = &s.containers[id];
        let line = crate::shapes::event_line("container", action, id, Some(&c.image), t, |w| {
            crate::shapes::container_attributes(w, c, extra);
        });
        self.file_event(s, t, line);
    }

    /// Subscribes to live events and returns, first, the recent ones newer
    /// than `since` (unix nanoseconds).
    pub fn subscribe(
        &self,
        since: Option<i64>,
    ) -> (Vec<EventRecord>, broadcast::Receiver<EventRecord>) {
        let s = self.lock();
        let rx = self.events.subscribe();
        let replay = match since {
            Some(t) => s
                .recent
                .iter()
                .filter(|e| e.time_nano > t)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        (replay, rx)
    }

    /// Full ID of the container `query` names: full ID, name (with or
    /// without slash) or unique ID prefix.
    fn resolve(s: &State, query: &str) -> Result<String, HollowError> {
        if s.containers.contains_key(query) {
            return Ok(query.to_string());
        }
        let name = query.strip_prefix('/').unwrap_or(query);
        if let Some(id) = s.names.get(name) {
            return Ok(id.clone());
        }
        if query.is_empty() {
            return Err(HollowError::no_such_container(query));
        }
        let mut found = s.containers.keys().filter(|id| id.starts_with(query));
        match (found.next(), found.next()) {
            (Some(id), None) => Ok(id.clone()),
            (Some(_), Some(_)) => Err(HollowError::NotFound(format!(
                "multiple IDs found with provided prefix: {query}"
            ))),
            _ => Err(HollowError::no_such_container(query)),
        }
    }

    fn image_of(s: &State, name: &str) -> Option<Image> {
        let want = normalize_image(name);
        s.images
            .iter()
            .find(|i| {
                i.repo_tags.iter().any(|t| normalize_image(t) == want)
                    || (name.len() >= 4
                        && i.id
                            .trim_start_matches("sha256:")
                            .starts_with(name.trim_start_matches("sha256:")))
            })
            .cloned()
    }

    /// `POST /containers/create[?name=]`: `{"Id","Warnings"}`.
    pub fn create(&self, name: Option<&str>, body: &CreateBody) -> Result<String, HollowError> {
        let image = body.image.as_str().unwrap_or_default().to_string();
        if image.is_empty() {
            return Err(HollowError::BadRequest("No command specified".into()));
        }
        let name = name.map(|n| n.strip_prefix('/').unwrap_or(n).to_string());
        if let Some(n) = &name {
            if !valid_name(n) {
                return Err(HollowError::BadRequest(format!(
                    "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
        }
        let host = &body.host_config;
        let int = |v: &Value| v.as_i64().unwrap_or(0);
        let mut labels: Vec<(String, String)> = body
            .labels
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        labels.sort();
        let mut cmd = strings(Some(&body.entrypoint));
        let given_cmd = strings(Some(&body.cmd));
        cmd.extend(if given_cmd.is_empty() && cmd.is_empty() {
            vec!["sh".to_string()]
        } else {
            given_cmd
        });
        let port_bindings = Some(&host.port_bindings)
            .filter(|p| p.as_object().is_some_and(|m| !m.is_empty()))
            .cloned()
            .map(Box::new);
        let exposed_ports = body
            .exposed_ports
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let network_mode = match host.network_mode.as_str() {
            Some("") | None => "default".to_string(),
            Some(m) => m.to_string(),
        };

        let mut s = self.lock();
        let Some(img) = Self::image_of(&s, &image) else {
            return Err(HollowError::NotFound(format!(
                "No such image: {}",
                normalize_image(&image)
            )));
        };
        let id = random_hex(32);
        let name = match name {
            Some(n) => {
                if let Some(by) = s.names.get(&n) {
                    return Err(HollowError::Conflict(format!(
                        "Conflict. The container name \"/{n}\" is already in use by container \"{by}\". You have to remove (or rename) that container to be able to reuse that name."
                    )));
                }
                n
            }
            None => {
                let mut seed = u64::from_str_radix(&id[..12], 16).unwrap_or(0);
                loop {
                    let n = generated_name(seed);
                    let n = if s.names.contains_key(&n) {
                        format!("{n}{}", seed % 10_000)
                    } else {
                        n
                    };
                    if !s.names.contains_key(&n) {
                        break n;
                    }
                    seed = seed.wrapping_add(7919);
                }
            }
        };
        let ip_host = s.next_ip;
        s.next_ip = s.next_ip.wrapping_add(1).max(2);
        let c = Container {
            id: id.clone(),
            name: name.clone(),
            image,
            image_id: img.id,
            cmd,
            env: strings(Some(&body.env)),
            labels,
            tty: body.tty.as_bool().unwrap_or(false),
            open_stdin: body.open_stdin.as_bool().unwrap_or(false),
            nano_cpus: int(&host.nano_cpus),
            cpu_shares: int(&host.cpu_shares),
            memory: int(&host.memory),
            network_mode,
            port_bindings,
            exposed_ports,
            created: now_nanos(),
            started: 0,
            finished: 0,
            state: RunState::Created,
            exit_code: 0,
            pid: 0,
            ip_host,
        };
        s.names.insert(name, id.clone());
        s.containers.insert(id.clone(), c);
        self.container_event(&mut s, "create", &id, &[]);
        Ok(id)
    }

    /// `POST /containers/{id}/start`.
    pub fn start(&self, query: &str) -> Result<(), HollowError> {
        let mut s = self.lock();
        let id = Self::resolve(&s, query)?;
        s.next_pid = s.next_pid.wrapping_add(1).max(1000);
        let pid = s.next_pid;
        let c = s.containers.get_mut(&id).expect("resolved");
        match c.state {
            RunState::Running | RunState::Paused => return Err(HollowError::NotModified),
            RunState::Created | RunState::Exited => {}
        }
        c.state = RunState::Running;
        c.started = now_nanos();
        c.exit_code = 0;
        c.pid = pid;
        self.container_event(&mut s, "start", &id, &[]);
        Ok(())
    }

    /// Stops a running container with `exit_code` (`stop`, `kill`).
    fn end(&self, s: &mut State, id: &str, exit_code: i64) {
        let c = s.containers.get_mut(id).expect("resolved");
        c.state = RunState::Exited;
        c.exit_code = exit_code;
        c.finished = now_nanos();
        c.pid = 0;
        self.container_event(s, "die", id, &[("exitCode", exit_code.to_string())]);
    }

    /// `POST /containers/{id}/stop`.
    pub fn stop(&self, query: &str) -> Result<(), HollowError> {
        let mut s = self.lock();
        let id = Self::resolve(&s, query)?;
        if !s.containers[&id].is_running() {
            return Err(HollowError::NotModified);
        }
        self.container_event(&mut s, "kill", &id, &[("signal", "15".into())]);
        self.end(&mut s, &id, 143);
        self.container_event(&mut s, "stop", &id, &[]);
        Ok(())
    }

    /// `POST /containers/{id}/kill`.
    pub fn kill(&self, query: &str) -> Result<(), HollowError> {
        let mut s = self.lock();
        let id = Self::resolve(&s, query)?;
        if !s.containers[&id].is_running() {
            return Err(HollowError::Conflict(format!(
                "Cannot kill container: {query}: Container {id} is not running"
            )));
        }
        self.container_event(&mut s, "kill", &id, &[("signal", "9".into())]);
        self.end(&mut s, &id, 137);
        Ok(())
    }

    /// `POST /containers/{id}/restart`.
    pub fn restart(&self, query: &str) -> Result<(), HollowError> {
        match self.stop(query) {
            Ok(()) | Err(HollowError::NotModified) => {}
            Err(e) => return Err(e),
        }
        self.start(query)?;
        let mut s = self.lock();
        let id = Self::resolve(&s, query)?;
        self.container_event(&mut s, "restart", &id, &[]);
        Ok(())
    }

    /// `POST /containers/{id}/pause` (`pause = true`) or `/unpause`.
    pub fn pause(&self, query: &str, pause: bool) -> Result<(), HollowError> {
        let mut s = self.lock();
        let id = Self::resolve(&s, query)?;
        let c = s.containers.get_mut(&id).expect("resolved");
        match (c.state, pause) {
            (RunState::Running, true) => c.state = RunState::Paused,
            (RunState::Paused, false) => c.state = RunState::Running,
            (RunState::Paused, true) => {
                return Err(HollowError::Conflict(format!(
                    "Container {id} is already paused"
                )))
            }
            (_, _) => {
                return Err(HollowError::Conflict(format!(
                    "Container {id} is not {}",
                    if pause { "running" } else { "paused" }
                )))
            }
        }
        self.container_event(&mut s, if pause { "pause" } else { "unpause" }, &id, &[]);
        Ok(())
    }

    /// `POST /containers/{id}/rename?name=`.
    pub fn rename(&self, query: &str, new_name: &str) -> Result<(), HollowError> {
        let new_name = new_name.strip_prefix('/').unwrap_or(new_name);
        if !valid_name(new_name) {
            return Err(HollowError::BadRequest(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let mut s = self.lock();
        let id = Self::resolve(&s, query)?;
        if let Some(by) = s.names.get(new_name) {
            return Err(HollowError::Conflict(format!(
                "Conflict. The container name \"/{new_name}\" is already in use by container \"{by}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        let c = s.containers.get_mut(&id).expect("resolved");
        let old = std::mem::replace(&mut c.name, new_name.to_string());
        s.names.remove(&old);
        s.names.insert(new_name.to_string(), id.clone());
        self.container_event(&mut s, "rename", &id, &[("oldName", format!("/{old}"))]);
        Ok(())
    }

    /// `DELETE /containers/{id}[?force=1]`.
    pub fn remove(&self, query: &str, force: bool) -> Result<(), HollowError> {
        let mut s = self.lock();
        let id = Self::resolve(&s, query)?;
        if s.containers[&id].is_running() {
            if !force {
                return Err(HollowError::Conflict(format!(
                    "You cannot remove a running container {id}. Stop the container before attempting removal or force remove"
                )));
            }
            self.container_event(&mut s, "kill", &id, &[("signal", "9".into())]);
            self.end(&mut s, &id, 137);
        }
        self.container_event(&mut s, "destroy", &id, &[]);
        if let Some(c) = s.containers.remove(&id) {
            s.names.remove(&c.name);
        }
        Ok(())
    }

    /// Starts a `wait`: settled now, or to be watched.
    pub fn wait(&self, query: &str, cond: WaitCondition) -> Result<WaitStart, HollowError> {
        let s = self.lock();
        let id = Self::resolve(&s, query)?;
        let c = &s.containers[&id];
        if cond == WaitCondition::NotRunning && !c.is_running() {
            return Ok(WaitStart::Done(c.exit_code));
        }
        Ok(WaitStart::Watch {
            id,
            rx: self.events.subscribe(),
        })
    }

    /// `GET /containers/{id}/json`, as JSON text.
    pub fn inspect(&self, query: &str) -> Result<Vec<u8>, HollowError> {
        let s = self.lock();
        let id = Self::resolve(&s, query)?;
        Ok(crate::shapes::container_inspect_json(&s.containers[&id]))
    }

    /// `GET /containers/json`: newest first, filtered like dockerd
    /// (`id`, `name`, `label`, `status`, `ancestor`), `limit` applied last.
    pub fn list(&self, all: bool, filters: &Filters, limit: Option<usize>) -> Vec<Value> {
        let now = now_nanos() / 1_000_000_000;
        let s = self.lock();
        let ids = filters.get("id");
        let one_id = ids.len() == 1 && s.containers.contains_key(&ids[0]);
        let mut chosen: Vec<&Container> = if one_id {
            s.containers.get(&ids[0]).into_iter().collect()
        } else {
            s.containers.values().collect()
        };
        let statuses = filters.get("status");
        let names = filters.get("name");
        let ancestors = filters.get("ancestor");
        chosen.retain(|c| {
            (all || !statuses.is_empty() || c.is_running())
                && (ids.is_empty() || ids.iter().any(|i| c.id.starts_with(i.as_str())))
                && (statuses.is_empty() || statuses.iter().any(|st| st == c.state.as_str()))
                && (names.is_empty()
                    || names
                        .iter()
                        .any(|n| c.name.contains(n.trim_start_matches('/'))))
                && (ancestors.is_empty()
                    || ancestors
                        .iter()
                        .any(|a| normalize_image(a) == normalize_image(&c.image)))
                && (!filters.contains("label")
                    || filters.labels_match(&c.labels.iter().cloned().collect()))
        });
        chosen.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        if let Some(l) = limit {
            chosen.truncate(l);
        }
        chosen
            .into_iter()
            .map(|c| crate::shapes::container_summary(c, now))
            .collect()
    }

    /// (containers, running, paused, stopped)
    pub fn counts(&self) -> (i64, i64, i64, i64) {
        let s = self.lock();
        let mut t = (0, 0, 0, 0);
        for c in s.containers.values() {
            t.0 += 1;
            match c.state {
                RunState::Running => t.1 += 1,
                RunState::Paused => t.2 += 1,
                _ => t.3 += 1,
            }
        }
        t
    }

    /// Containers and an estimate of the heap they hold.
    pub fn container_memory(&self) -> (usize, usize) {
        let s = self.lock();
        let bytes = s
            .containers
            .values()
            .map(|c| c.heap_bytes() + c.id.len() + c.name.len() + 64)
            .sum();
        (s.containers.len(), bytes)
    }

    /// `GET /info`.
    pub fn info(&self) -> Value {
        let counts = self.counts();
        let images = self.lock().images.len() as i64;
        crate::shapes::info(&self.spec, counts, images)
    }

    /// `GET /images/json`.
    pub fn images(&self) -> Vec<Value> {
        let s = self.lock();
        s.images
            .iter()
            .map(|i| {
                let n = s.containers.values().filter(|c| c.image_id == i.id).count();
                crate::shapes::image_summary(i, n as i64)
            })
            .collect()
    }

    /// `GET /images/{name}/json`.
    pub fn image_inspect(&self, name: &str) -> Result<Value, HollowError> {
        let s = self.lock();
        Self::image_of(&s, name)
            .map(|i| crate::shapes::image_inspect(&i))
            .ok_or_else(|| HollowError::NotFound(format!("No such image: {name}")))
    }

    /// `POST /images/create?fromImage=&tag=`: the image appears at once.
    /// Returns the normalized reference pulled.
    pub fn pull(&self, from: &str, tag: &str) -> Result<String, HollowError> {
        if from.is_empty() {
            return Err(HollowError::BadRequest("missing fromImage".into()));
        }
        let reference = if tag.is_empty() || from.contains('@') {
            normalize_image(from)
        } else {
            normalize_image(&format!("{from}:{tag}"))
        };
        let mut s = self.lock();
        if Self::image_of(&s, &reference).is_none() {
            let created = now_nanos() / 1_000_000_000;
            s.images.push(Image {
                id: format!("sha256:{}", image_digest(&reference)),
                repo_tags: vec![reference.clone()],
                created,
                size: 5_000_000,
            });
        }
        let id = Self::image_of(&s, &reference)
            .map(|i| i.id)
            .unwrap_or_default();
        self.publish(
            &mut s,
            "image",
            "pull",
            &reference,
            json!({"name": reference}),
        );
        let _ = id;
        Ok(reference)
    }

    /// `DELETE /images/{name}`.
    pub fn remove_image(&self, name: &str, force: bool) -> Result<Value, HollowError> {
        let mut s = self.lock();
        let Some(img) = Self::image_of(&s, name) else {
            return Err(HollowError::NotFound(format!("No such image: {name}")));
        };
        if !force {
            if let Some(c) = s.containers.values().find(|c| c.image_id == img.id) {
                return Err(HollowError::Conflict(format!(
                    "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
                    &c.id[..12],
                    &img.id[7..19]
                )));
            }
        }
        s.images.retain(|i| i.id != img.id);
        self.publish(&mut s, "image", "delete", &img.id, json!({"name": img.id}));
        let mut out: Vec<Value> = img
            .repo_tags
            .iter()
            .map(|t| json!({"Untagged": t}))
            .collect();
        out.push(json!({"Deleted": img.id}));
        Ok(Value::Array(out))
    }

    /// `GET /networks`: the default bridge, host and none, then made ones.
    pub fn networks(&self) -> Vec<Value> {
        let s = self.lock();
        let mut out = crate::shapes::default_networks(&self.spec);
        out.extend(s.networks.iter().cloned());
        out
    }

    /// `GET /networks/{id}`: by ID, ID prefix or name.
    pub fn network(&self, query: &str) -> Result<Value, HollowError> {
        self.networks()
            .into_iter()
            .find(|n| {
                let id = n["Id"].as_str().unwrap_or("");
                n["Name"] == query || id == query || (!query.is_empty() && id.starts_with(query))
            })
            .ok_or_else(|| HollowError::NotFound(format!("network {query} not found")))
    }

    /// `POST /networks/create`: `{"Id","Warning"}`.
    pub fn create_network(&self, body: &Value) -> Result<Value, HollowError> {
        let name = body["Name"].as_str().unwrap_or_default().to_string();
        if name.is_empty() {
            return Err(HollowError::BadRequest("network name is required".into()));
        }
        if self.network(&name).is_ok() {
            return Err(HollowError::Conflict(format!(
                "network with name {name} already exists"
            )));
        }
        let driver = match body["Driver"].as_str() {
            Some("") | None => "bridge",
            Some(d) => d,
        };
        let id = random_hex(32);
        let n = crate::shapes::network(&name, &id, driver, "local", body["Labels"].clone());
        let mut s = self.lock();
        s.networks.push(n);
        self.publish(
            &mut s,
            "network",
            "create",
            &id,
            json!({"name": name, "type": driver}),
        );
        Ok(json!({"Id": id, "Warning": ""}))
    }

    /// `DELETE /networks/{id}` (the default networks cannot go).
    pub fn remove_network(&self, query: &str) -> Result<(), HollowError> {
        let n = self.network(query)?;
        let id = n["Id"].as_str().unwrap_or_default().to_string();
        let mut s = self.lock();
        let before = s.networks.len();
        s.networks.retain(|x| x["Id"] != n["Id"]);
        if s.networks.len() == before {
            return Err(HollowError::Conflict(format!(
                "{} is a pre-defined network and cannot be removed",
                n["Name"].as_str().unwrap_or(query)
            )));
        }
        self.publish(
            &mut s,
            "network",
            "destroy",
            &id,
            json!({"name": n["Name"]}),
        );
        Ok(())
    }

    /// `GET /volumes`.
    pub fn volumes(&self) -> Value {
        let s = self.lock();
        json!({"Volumes": s.volumes, "Warnings": Value::Null})
    }

    /// `POST /volumes/create`.
    pub fn create_volume(&self, body: &Value) -> Value {
        let name = match body["Name"].as_str() {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => random_hex(32),
        };
        let mut s = self.lock();
        if let Some(v) = s.volumes.iter().find(|v| v["Name"] == name.as_str()) {
            return v.clone();
        }
        let v = crate::shapes::volume(&name, body["Labels"].clone());
        s.volumes.push(v.clone());
        self.publish(
            &mut s,
            "volume",
            "create",
            &name,
            json!({"driver": "local"}),
        );
        v
    }

    /// `GET /volumes/{name}`.
    pub fn volume(&self, name: &str) -> Result<Value, HollowError> {
        self.lock()
            .volumes
            .iter()
            .find(|v| v["Name"] == name)
            .cloned()
            .ok_or_else(|| HollowError::NotFound(format!("get {name}: no such volume")))
    }

    /// `DELETE /volumes/{name}`.
    pub fn remove_volume(&self, name: &str) -> Result<(), HollowError> {
        let mut s = self.lock();
        let before = s.volumes.len();
        s.volumes.retain(|v| v["Name"] != name);
        if s.volumes.len() == before {
            return Err(HollowError::NotFound(format!("get {name}: no such volume")));
        }
        self.publish(
            &mut s,
            "volume",
            "destroy",
            name,
            json!({"driver": "local"}),
        );
        Ok(())
    }
}

/// A stable fake digest for an image reference (64 hex digits).
pub fn image_digest(reference: &str) -> String {
    let mut out = Vec::with_capacity(64);
    image_digest_into(&mut out, reference);
    String::from_utf8(out).unwrap_or_default()
}

/// [`image_digest`], appended to `out`.
pub fn image_digest_into(out: &mut Vec<u8>, reference: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for round in 0..4u64 {
        for b in reference.bytes().chain(round.to_le_bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for shift in (0..16).rev() {
            out.push(HEX[((h >> (shift * 4)) & 0xf) as usize]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_api_types::{ContainerInspect, ContainerSummary, Event, ImageSummary, Info};

    fn engine() -> Arc<HollowEngine> {
        HollowEngine::new(EngineSpec::varied(3))
    }

    fn body(image: &str) -> CreateBody {
        CreateBody::from_value(&json!({"Image": image, "Cmd": ["sleep", "60"], "Labels": {"app": "web", "com.docker.swarm.id": "s1"},
               "HostConfig": {"NanoCpus": 2_000_000_000u64, "Memory": 1024,
                              "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}},
               "ExposedPorts": {"80/tcp": {}}}))
        .unwrap()
    }

    fn summaries(e: &HollowEngine, all: bool, filters: &str) -> Vec<ContainerSummary> {
        let f = Filters::parse(filters).unwrap();
        e.list(all, &f, None)
            .into_iter()
            .map(|v| serde_json::from_value(v).unwrap())
            .collect()
    }

    #[test]
    fn random_ids_are_lowercase_hex() {
        let a = random_hex(32);
        let b = random_hex(32);
        assert_eq!(a.len(), 64);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert_ne!(a, b);
        // every digit shows up over a few IDs: both nibbles are written
        let many: String = (0..8).map(|_| random_hex(32)).collect();
        for d in "0123456789abcdef".chars() {
            assert!(many.contains(d), "{d} never seen in {many}");
        }
    }

    #[test]
    fn create_start_list_inspect_delete() {
        let e = engine();
        let id = e.create(Some("web"), &body("busybox")).unwrap();
        assert_eq!(id.len(), 64);
        // created: only with all
        assert!(summaries(&e, false, "").is_empty());
        let l = summaries(&e, true, "");
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].name(), "web");
        assert_eq!(l[0].state, "created");
        assert_eq!(l[0].status, "Created");
        assert_eq!(l[0].labels["app"], "web");
        assert_eq!(l[0].command, "sleep 60");

        e.start("web").unwrap();
        assert_eq!(e.start(&id[..10]), Err(HollowError::NotModified));
        let l = summaries(&e, false, "");
        assert_eq!(l.len(), 1);
        assert!(l[0].status.starts_with("Up "), "{}", l[0].status);
        assert_eq!(l[0].ports[0].public_port, 8080);

        let i: ContainerInspect = serde_json::from_slice(&e.inspect(&id).unwrap()).unwrap();
        assert_eq!(i.short_name(), "web");
        assert!(i.state.running);
        assert_eq!(i.reserved_cpus(2), 2);
        assert_eq!(i.host_config.memory, 1024);
        assert_eq!(i.config.labels["com.docker.swarm.id"], "s1");
        assert_eq!(i.config.image, "busybox");
        assert_eq!(i.to_summary(0).command, "sleep 60");
        assert!(i.state.started_at.starts_with("20"));

        assert!(matches!(
            e.remove("web", false),
            Err(HollowError::Conflict(_))
        ));
        e.stop("/web").unwrap();
        assert_eq!(e.stop("web"), Err(HollowError::NotModified));
        let i: ContainerInspect = serde_json::from_slice(&e.inspect("web").unwrap()).unwrap();
        assert_eq!(i.state.exit_code, 143);
        assert!(i
            .state
            .status_text(chrono::Utc::now().timestamp())
            .starts_with("Exited (143)"));
        e.remove(&id, false).unwrap();
        assert_eq!(e.inspect(&id), Err(HollowError::no_such_container(&id)));
        assert!(summaries(&e, true, "").is_empty());
        assert_eq!(e.counts(), (0, 0, 0, 0));
    }

    #[test]
    fn names_images_and_errors() {
        let e = engine();
        let a = e.create(Some("/pg"), &body("busybox:latest")).unwrap();
        match e.create(Some("pg"), &body("busybox")) {
            Err(HollowError::Conflict(m)) => assert!(m.contains(&a), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            e.create(Some("-x"), &body("busybox")),
            Err(HollowError::BadRequest(_))
        ));
        assert_eq!(
            e.create(None, &body("nginx")),
            Err(HollowError::NotFound("No such image: nginx:latest".into()))
        );
        assert_eq!(
            e.pull("docker.io/library/nginx", "latest").unwrap(),
            "nginx:latest"
        );
        let b = e.create(None, &body("nginx")).unwrap();
        let named = summaries(&e, true, &format!(r#"{{"id":["{b}"]}}"#));
        assert_eq!(named.len(), 1);
        assert!(crate::container::valid_name(named[0].name()));
        let images: Vec<ImageSummary> = e
            .images()
            .into_iter()
            .map(|v| serde_json::from_value(v).unwrap())
            .collect();
        assert!(images.iter().any(|i| i.matches("busybox")));
        assert!(images.iter().any(|i| i.matches("nginx")));
        assert!(matches!(
            e.remove_image("nginx", false),
            Err(HollowError::Conflict(_))
        ));
        // filters: label, status, name
        e.start(&b).unwrap();
        assert_eq!(summaries(&e, true, r#"{"status":["running"]}"#).len(), 1);
        assert_eq!(summaries(&e, true, r#"{"label":["app=web"]}"#).len(), 2);
        assert_eq!(summaries(&e, true, r#"{"label":["app=pg"]}"#).len(), 0);
        assert_eq!(summaries(&e, true, r#"{"name":["pg"]}"#).len(), 1);
        // a unique ID prefix finds a container, a shared one does not
        assert!(e.inspect(&a[..12]).is_ok());
        assert!(e.inspect("").is_err());
        assert_eq!(e.counts(), (2, 1, 0, 1));
        e.rename("pg", "pg2").unwrap();
        assert!(e.inspect("pg2").is_ok());
        assert!(e.inspect("pg").is_err());
        e.pause(&b, true).unwrap();
        assert_eq!(e.counts(), (2, 0, 1, 1));
        assert!(matches!(e.kill("pg2"), Err(HollowError::Conflict(_))));
        e.remove(&b, true).unwrap();
        assert_eq!(e.counts(), (1, 0, 0, 1));
    }

    #[test]
    fn info_decodes_with_the_manager_types() {
        let e = engine();
        e.create(None, &body("busybox")).unwrap();
        let info: Info = serde_json::from_value(e.info()).unwrap();
        assert_eq!(info.id, e.spec().id);
        assert_eq!(info.name, "hollow-00003");
        assert_eq!(info.ncpu, 16);
        assert_eq!(info.containers, 1);
        assert_eq!(info.containers_stopped, 1);
        assert_eq!(info.images, 2);
        let labels = info.node_labels();
        assert_eq!(labels["zone"], "z0");
        assert_eq!(labels["storagedriver"], "overlay2");
        assert_eq!(labels["ostype"], "linux");
        let v: shoal_api_types::Version = serde_json::from_value(crate::shapes::version()).unwrap();
        assert_eq!(v.api_version, "1.41");
        assert_eq!(v.version, crate::shapes::SERVER_VERSION);
    }

    #[test]
    fn events_in_order_with_replay() {
        let e = engine();
        let (_, mut rx) = e.subscribe(None);
        let id = e.create(Some("w1"), &body("busybox")).unwrap();
        e.start(&id).unwrap();
        e.remove(&id, true).unwrap();
        let mut seen = Vec::new();
        while let Ok(r) = rx.try_recv() {
            let ev: Event = serde_json::from_slice(&r.line).unwrap();
            assert_eq!(ev.time_nano, r.time_nano);
            seen.push(ev);
        }
        let actions: Vec<&str> = seen.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["create", "start", "kill", "die", "destroy"]);
        assert!(seen.windows(2).all(|w| w[0].time_nano < w[1].time_nano));
        assert_eq!(seen[0].actor.id, id);
        assert_eq!(seen[0].actor.attributes["name"], "w1");
        assert_eq!(seen[0].actor.attributes["app"], "web");
        assert_eq!(seen[0].status, "create");
        assert_eq!(seen[3].actor.attributes["exitCode"], "137");
        let (replay, _) = e.subscribe(Some(seen[2].time_nano));
        assert_eq!(replay.len(), 2);
    }

    #[test]
    fn networks_and_volumes() {
        let e = engine();
        assert_eq!(e.networks().len(), 3);
        let made = e
            .create_network(&json!({"Name": "front", "Driver": "bridge"}))
            .unwrap();
        assert!(e.create_network(&json!({"Name": "front"})).is_err());
        let id = made["Id"].as_str().unwrap();
        assert_eq!(e.network(&id[..8]).unwrap()["Name"], "front");
        assert!(e.remove_network("bridge").is_err());
        e.remove_network("front").unwrap();
        assert_eq!(e.networks().len(), 3);
        let v = e.create_volume(&json!({"Name": "data"}));
        assert_eq!(v["Mountpoint"], "/var/lib/docker/volumes/data/_data");
        assert_eq!(e.volumes()["Volumes"].as_array().unwrap().len(), 1);
        e.remove_volume("data").unwrap();
        assert!(e.volume("data").is_err());
    }
}
