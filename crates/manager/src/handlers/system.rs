//! `_ping`, `/version`, `/info`.

use std::sync::Arc;

use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Value};
use shoal_api_types::node::{system_status, NodeSummary};
use shoal_api_types::{API_VERSION, MIN_API_VERSION};
use shoal_engine::body;

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

/// `GET /info`: cluster totals and, in SystemStatus, every node.
pub fn info(api: &Arc<Api>) -> Reply {
    let cluster = &api.cluster;
    let mut nodes = Vec::new();
    let (mut containers, mut running, mut paused, mut stopped, mut images) = (0, 0, 0, 0, 0);
    let (mut cpus, mut memory) = (0i64, 0i64);
    for e in cluster.engines() {
        let snap = e.snapshot();
        let st = e.stats();
        let counts = (st.containers, st.running, st.paused, st.stopped);
        let reserved = (st.reserved_cpus, st.reserved_memory);
        containers += counts.0;
        running += counts.1;
        paused += counts.2;
        stopped += counts.3;
        images += st.images;
        cpus += snap.cpus;
        memory += snap.memory;
        nodes.push(NodeSummary {
            name: snap.name,
            addr: snap.addr,
            id: snap.id,
            status: snap.status,
            containers: counts.0,
            running: counts.1,
            paused: counts.2,
            stopped: counts.3,
            reserved_cpus: reserved.0,
            total_cpus: cluster.scheduler().overcommitted(snap.cpus),
            reserved_memory: reserved.1,
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
        });
    }
    let filters = cluster.scheduler().filter_names();
    let mut status = system_status(
        &api.role(),
        cluster.scheduler().strategy_name(),
        &filters,
        &nodes,
    );
    status.splice(1..1, api.role_lines());
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
        "SystemStatus": status,
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
    reply::json(StatusCode::OK, &v)
}
