//! One create body through the manager's create path: read, the members
//! the manager reads decoded, `Labels` set (as every create does), written
//! back for the engine. `value`: the whole body as a `serde_json::Value`
//! tree (the path before `CreateBody`, its reads as they were);
//! `create_body`: [`CreateBody`]. The body is what docker CLI 28 sends for
//! `docker run -d busybox sleep 1000000` (`shoal-scale`'s body).
//!
//! Run: `cargo bench -p shoal-api-types --bench create_body`.

use std::collections::BTreeMap;

use divan::{black_box, Bencher};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;
use shoal_api_types::CreateBody;

fn main() {
    divan::main();
}

/// What docker CLI 28 sends for `docker run -d busybox sleep 1000000`
/// (the body the unit tests check too).
const DOCKER_CLI: &str = include_str!("../testdata/docker-cli-create.json");

/// What the cache record reads of the body (the engine's `LeanConfig`).
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct RecordConfig {
    image: String,
    labels: Option<BTreeMap<String, String>>,
    exposed_ports: Option<BTreeMap<String, IgnoredAny>>,
}

/// ... and of `HostConfig` (the engine's `LeanHostConfig`).
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct RecordHost {
    nano_cpus: i64,
    cpu_shares: i64,
    memory: i64,
    network_mode: String,
    port_bindings: Option<BTreeMap<String, Option<Vec<Value>>>>,
}

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([("com.docker.swarm.id".to_string(), "ab".repeat(32))])
}

/// The reads a create made of its body as a `Value`, and the text sent.
fn through_value(bytes: &[u8]) -> (usize, String) {
    let mut body: Value = serde_json::from_slice(bytes).unwrap();
    let obj = body.as_object_mut().unwrap();
    let env: Vec<String> = obj
        .get("Env")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut seen = env.len();
    let old: BTreeMap<String, String> = obj
        .get("Labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    seen += old.len();
    obj.insert("Labels".into(), serde_json::to_value(labels()).unwrap());
    let host = obj.get("HostConfig").unwrap_or(&Value::Null);
    for k in ["NanoCpus", "CpuShares", "Memory"] {
        seen += host.get(k).and_then(Value::as_i64).unwrap_or(0) as usize;
    }
    seen += host
        .get("PortBindings")
        .and_then(Value::as_object)
        .map_or(0, |m| m.len());
    seen += host
        .get("NetworkMode")
        .and_then(Value::as_str)
        .map_or(0, str::len);
    seen += obj.get("Image").and_then(Value::as_str).map_or(0, str::len);
    seen += obj
        .get("ExposedPorts")
        .and_then(Value::as_object)
        .map_or(0, |m| m.len());
    for k in ["Links", "VolumesFrom", "Dns"] {
        seen += host.get(k).and_then(Value::as_array).map_or(0, Vec::len);
    }
    // the record of the create
    for k in ["Entrypoint", "Cmd"] {
        seen += body.get(k).and_then(Value::as_array).map_or(0, Vec::len);
    }
    let config = RecordConfig::deserialize(&body).unwrap_or_default();
    let host = body
        .get("HostConfig")
        .and_then(|h| RecordHost::deserialize(h).ok())
        .unwrap_or_default();
    seen += config.image.len() + host.network_mode.len();
    (seen, body.to_string())
}

/// The same reads of a [`CreateBody`], and the text sent.
fn through_create_body(bytes: &[u8]) -> (usize, String) {
    let mut body = CreateBody::parse(bytes).unwrap();
    let env: Vec<Value> = body.read("Env").unwrap_or_default();
    let mut seen = env.len();
    let old: serde_json::Map<String, Value> = body.read("Labels").unwrap_or_default();
    seen += old.len();
    body.set("Labels", &serde_json::to_value(labels()).unwrap());
    for k in ["NanoCpus", "CpuShares", "Memory"] {
        seen += body.host_read::<i64>(k).unwrap_or(0) as usize;
    }
    seen += body
        .host_read::<serde_json::Map<String, Value>>("PortBindings")
        .map_or(0, |m| m.len());
    seen += body
        .host_read::<String>("NetworkMode")
        .map_or(0, |s| s.len());
    seen += body.read::<String>("Image").map_or(0, |s| s.len());
    seen += body
        .read::<BTreeMap<String, IgnoredAny>>("ExposedPorts")
        .map_or(0, |m| m.len());
    for k in ["Links", "VolumesFrom", "Dns"] {
        seen += body.host_read::<Vec<IgnoredAny>>(k).map_or(0, |v| v.len());
    }
    for k in ["Entrypoint", "Cmd"] {
        seen += body.read::<Vec<Value>>(k).map_or(0, |v| v.len());
    }
    let config: RecordConfig = body.decode().unwrap_or_default();
    let host: RecordHost = body.decode_host().and_then(Result::ok).unwrap_or_default();
    seen += config.image.len() + host.network_mode.len();
    (seen, body.to_text())
}

#[divan::bench]
fn value(b: Bencher) {
    b.bench(|| through_value(black_box(DOCKER_CLI.as_bytes())));
}

#[divan::bench]
fn create_body(b: Bencher) {
    // both read the same and send the same members
    let (a, sent_a) = through_value(DOCKER_CLI.as_bytes());
    let (c, sent_c) = through_create_body(DOCKER_CLI.as_bytes());
    assert_eq!(a, c);
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap();
    assert_eq!(parse(&sent_a), parse(&sent_c));
    b.bench(|| through_create_body(black_box(DOCKER_CLI.as_bytes())));
}

/// The first step alone: reading the body.
#[divan::bench]
fn parse_value(b: Bencher) {
    b.bench(|| serde_json::from_slice::<Value>(black_box(DOCKER_CLI.as_bytes())).unwrap());
}

#[divan::bench]
fn parse_create_body(b: Bencher) {
    b.bench(|| CreateBody::parse(black_box(DOCKER_CLI.as_bytes())).unwrap());
}

/// The floor: serde_json going over the body, keeping nothing.
#[divan::bench]
fn parse_skipping_all(b: Bencher) {
    b.bench(|| serde_json::from_slice::<IgnoredAny>(black_box(DOCKER_CLI.as_bytes())).unwrap());
}
