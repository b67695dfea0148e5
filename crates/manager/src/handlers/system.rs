//! `_ping`, `/version`, `/info`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Value};
use shoal_api_types::node::{node_lines, system_status, NodeSummary};
use shoal_api_types::{API_VERSION, MIN_API_VERSION};
use shoal_engine::{body, Engine};

use crate::reply::{self, Reply};
use crate::Api;

pub const VERSION: &str = concat!("shoal/", env!("CARGO_PKG_VERSION"));
/// Shown where Docker shows its Go version.
const GO_VERSION: &str = "rust";

/// `HEAD|GET /_ping` with the headers the CLI negotiates from.
pub fn ping(method: &Method) -> Reply {
    let body = if method == Method::HEAD {
        body::empty()
    } else {
        body::full("OK")
    };
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert("swarm", HeaderValue::from_static("inactive"));
    h.insert("builder-version", HeaderValue::from_static("1"));
    if method == Method::HEAD {
        h.insert("content-length", HeaderValue::from_static("0"));
    }
    r
}

/// Go's names for the machine architecture.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `GET /version`: the manager's own version, advertising API 1.41.
pub fn version(_api: &Arc<Api>) -> Reply {
    let details = json!({"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux", "Arch": go_arch(),
        "KernelVersion": kernel_version(), "GitCommit": "", "GoVersion": GO_VERSION, "BuildTime": "",
        "Experimental": "false"});
    let v = json!({
        "Platform": {"Name": "Shoal"},
        "Components": [{"Name": "Engine", "Version": VERSION, "Details": details}],
        "Version": VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": GO_VERSION,
        "Os": "linux",
        "Arch": go_arch(),
        "KernelVersion": kernel_version(),
        "BuildTime": "",
        "Experimental": false,
    });
    reply::json(StatusCode::OK, &v)
}

/// One engine's part of `docker info`, kept while its generation stays.
struct InfoPart {
    /// Holds the engine's allocation, so its address (the key) is never
    /// another engine's while this entry lives.
    engine: Weak<Engine>,
    generation: u64,
    sort: (String, String),
    /// Its SystemStatus pairs as JSON, without the brackets of the list.
    lines: String,
    /// containers, running, paused, stopped, images, CPUs, memory
    totals: [i64; 7],
}

/// Per engine (by address of the engine), its rendered part of `docker
/// info`: an answer re-renders only the engines that changed since.
static INFO_PARTS: Mutex<Option<HashMap<usize, InfoPart>>> = Mutex::new(None);

fn info_part(api: &Api, e: &Arc<Engine>, generation: u64) -> InfoPart {
    let cluster = &api.cluster;
    let snap = e.snapshot();
    let st = e.stats();
    let node = NodeSummary {
        name: snap.name,
        addr: snap.addr,
        id: snap.id,
        status: snap.status,
        containers: st.containers,
        running: st.running,
        paused: st.paused,
        stopped: st.stopped,
        reserved_cpus: st.reserved_cpus,
        total_cpus: cluster.scheduler().overcommitted(snap.cpus),
        reserved_memory: st.reserved_memory,
        total_memory: cluster.scheduler().overcommitted(snap.memory),
        labels: snap.labels,
        updated_at: if snap.updated_at > 0 {
            chrono::DateTime::from_timestamp(snap.updated_at, 0)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default()
        } else {
            "never".into()
        },
        server_version: snap.server_version,
        error: snap.error,
    };
    let lines = serde_json::to_string(&node_lines(&node)).unwrap_or_else(|_| "[]".into());
    InfoPart {
        engine: Arc::downgrade(e),
        generation,
        sort: (node.name, node.addr),
        lines: lines[1..lines.len() - 1].to_string(),
        totals: [
            st.containers,
            st.running,
            st.paused,
            st.stopped,
            st.images,
            snap.cpus,
            snap.memory,
        ],
    }
}

/// `GET /info`: cluster totals and, in SystemStatus, every node.
pub fn info(api: &Arc<Api>) -> Reply {
    let cluster = &api.cluster;
    let engines = cluster.engines();
    let mut guard = INFO_PARTS.lock().unwrap_or_else(|p| p.into_inner());
    let parts = guard.get_or_insert_with(HashMap::new);
    parts.retain(|_, p| p.engine.strong_count() > 0);
    let mut mine: Vec<&InfoPart> = Vec::with_capacity(engines.len());
    for e in &engines {
        let key = Arc::as_ptr(e) as usize;
        let generation = e.generation();
        if parts.get(&key).is_none_or(|p| p.generation != generation) {
            parts.insert(key, info_part(api, e, generation));
        }
    }
    for e in &engines {
        if let Some(p) = parts.get(&(Arc::as_ptr(e) as usize)) {
            mine.push(p);
        }
    }
    mine.sort_by(|a, b| a.sort.cmp(&b.sort));
    let mut t = [0i64; 7];
    for p in &mine {
        for (sum, x) in t.iter_mut().zip(p.totals) {
            *sum = sum.saturating_add(x);
        }
    }
    let [containers, running, paused, stopped, images, cpus, memory] = t;
    let filters = cluster.scheduler().filter_names();
    // the pairs before the nodes' (Role, Strategy, Filters, Nodes)
    let mut head = system_status(
        &api.role(),
        cluster.scheduler().strategy_name(),
        &filters,
        &[],
    );
    // with replication: `Primary: ADDR` after `Role` on a replica
    head.splice(1..1, api.role_lines());
    if let Some(n) = head.iter_mut().find(|[k, _]| k == "Nodes") {
        n[1] = mine.len().to_string();
    }
    let head = serde_json::to_string(&head).unwrap_or_else(|_| "[]".into());
    let mut status =
        String::with_capacity(mine.iter().map(|p| p.lines.len() + 1).sum::<usize>() + head.len());
    status.push_str(&head[..head.len() - 1]);
    for p in &mine {
        status.push(',');
        status.push_str(&p.lines);
    }
    status.push(']');
    drop(guard);
    let v = json!({
        "ID": "",
        "Name": api.name,
        "Containers": containers,
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": stopped,
        "Images": images,
        "Driver": "",
        "DriverStatus": Value::Null,
        "SystemStatus": Value::Null,
        "Plugins": {"Volume": Value::Null, "Network": Value::Null, "Authorization": Value::Null, "Log": Value::Null},
        "MemoryLimit": true,
        "SwapLimit": true,
        "CpuCfsPeriod": true,
        "CpuCfsQuota": true,
        "IPv4Forwarding": true,
        "Debug": false,
        "NFd": 0,
        "NGoroutines": 0,
        "SystemTime": chrono::Utc::now().to_rfc3339(),
        "LoggingDriver": "",
        "CgroupDriver": "",
        "NEventsListener": 0,
        "KernelVersion": kernel_version(),
        "OperatingSystem": "linux",
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "IndexServerAddress": "",
        "NCPU": cpus,
        "MemTotal": memory,
        "DockerRootDir": "",
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Labels": Value::Array(vec![]),
        "ExperimentalBuild": false,
        "ServerVersion": VERSION,
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": Value::Null},
        "Warnings": Value::Null,
    });
    // SystemStatus goes in as rendered above
    let text = v.to_string().replacen(
        "\"SystemStatus\":null",
        &format!("\"SystemStatus\":{status}"),
        1,
    );
    let mut r = Response::new(body::full(text));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}
