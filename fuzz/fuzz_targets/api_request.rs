//! Whole API requests, well-formed HTTP with hostile content, through the
//! manager's real handler (routing with and without `/vX.Y`, query parsing,
//! create-body parsing with the scheduling hints, the scheduler) on a
//! cluster without engines.
//!
//! Checked: no panic (overflow checks on); every answer carries the API
//! headers; every error answer (4xx/5xx) to a non-HEAD request is
//! `application/json` with a `{"message": "..."}` object, as the docker CLI
//! expects; every request is answered within bounded (virtual) time, apart
//! from the streams (`/events`, `wait`) which may stay open.

#![no_main]

#[path = "common.rs"]
mod common;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

const METHODS: [&str; 7] = ["GET", "POST", "DELETE", "HEAD", "PUT", "OPTIONS", "PATCH"];
const VERSIONS: [&str; 8] = [
    "", "/v1.41", "/v1.12", "/v1.24", "/v9.99", "/v1", "/vx.y", "/v1.41.0",
];
const WORDS: [&str; 34] = [
    "_ping",
    "version",
    "info",
    "events",
    "containers",
    "json",
    "create",
    "prune",
    "start",
    "stop",
    "kill",
    "wait",
    "logs",
    "attach",
    "ws",
    "exec",
    "resize",
    "archive",
    "images",
    "load",
    "search",
    "get",
    "networks",
    "volumes",
    "system",
    "df",
    "auth",
    "commit",
    "swarm",
    "nodes",
    "n1",
    "web",
    "..",
    "%2F",
];
const QUERY_KEYS: [&str; 16] = [
    "all",
    "limit",
    "filters",
    "size",
    "name",
    "force",
    "v",
    "t",
    "signal",
    "stream",
    "since",
    "until",
    "container",
    "fromImage",
    "tag",
    "follow",
];
const QUERY_VALUES: [&str; 12] = [
    "1",
    "0",
    "true",
    "maybe",
    "-5",
    "99999999999999999999",
    "",
    "notjson",
    "{\"label\":[\"a\"]}",
    "{\"status\":{\"running\":true}}",
    "{\"x\":1}",
    "[]",
];

fn segment(u: &mut Unstructured) -> Result<String> {
    if u.ratio(1, 6)? {
        let raw: String = u.arbitrary()?;
        return Ok(raw
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect());
    }
    Ok(u.choose(&WORDS)?.to_string())
}

/// A value in a create body: mostly the right JSON type, often the wrong one.
fn value(u: &mut Unstructured, right: Value) -> Result<Value> {
    Ok(match u.int_in_range(0..=9)? {
        0 => Value::Null,
        1 => json!(u.arbitrary::<i64>()?),
        2 => json!(u.arbitrary::<String>()?),
        3 => json!([u.arbitrary::<String>()?, 1, null]),
        4 => json!({"a": u.arbitrary::<String>()?}),
        5 => json!(u
            .arbitrary::<f64>()
            .map(|f| if f.is_finite() { f } else { 0.5 })?),
        6 => json!(u.arbitrary::<bool>()?),
        _ => right,
    })
}

fn expression(u: &mut Unstructured) -> Result<String> {
    let keys = ["node", "region", "container", "image", "r", "Node", "x.y"];
    let ops = ["==", "!=", "==~", "=", ""];
    let values = ["n1", "/(/", "*", "a|b", "~", "", "é", "web", "/x/"];
    if u.ratio(1, 5)? {
        return u.arbitrary();
    }
    Ok(format!(
        "{}{}{}",
        u.choose(&keys)?,
        u.choose(&ops)?,
        u.choose(&values)?
    ))
}

fn create_body(u: &mut Unstructured) -> Result<Vec<u8>> {
    let mut env = vec![json!("A=1")];
    for _ in 0..u.int_in_range(0..=3)? {
        let kind = u.choose(&["constraint:", "affinity:", "reschedule:", "constraint", ""])?;
        env.push(json!(format!("{kind}{}", expression(u)?)));
    }
    let label = json!([expression(u)?]).to_string();
    let labels = json!({
        "com.docker.swarm.constraints": value(u, json!(label))?,
        "com.docker.swarm.affinities": value(u, json!("[\"image==busybox\"]"))?,
        "com.docker.swarm.reschedule-policies": value(u, json!("[\"on-node-failure\"]"))?,
        "app": value(u, json!("web"))?,
    });
    let big = |u: &mut Unstructured| -> Result<i64> {
        Ok(*u.choose(&[0, 1, 512, 1 << 30, i64::MAX, i64::MIN, -1, i64::MAX - 1])?)
    };
    let (nano, shares, memory) = (big(u)?, big(u)?, big(u)?);
    let mode = *u.choose(&["host", "bridge", "container:web", ""])?;
    let host_port = value(u, json!("8080"))?;
    let host = json!({
        "NanoCpus": value(u, json!(nano))?,
        "CpuShares": value(u, json!(shares))?,
        "Memory": value(u, json!(memory))?,
        "NetworkMode": value(u, json!(mode))?,
        "PortBindings": value(u, json!({"80/tcp": [{"HostIp": "", "HostPort": host_port}], "x/y/z": null}))?,
        "Links": value(u, json!(["web:web"]))?,
        "VolumesFrom": value(u, json!(["web"]))?,
    });
    let body = json!({
        "Image": value(u, json!("busybox"))?,
        "Env": value(u, json!(env))?,
        "Labels": value(u, labels)?,
        "ExposedPorts": value(u, json!({"80/tcp": {}}))?,
        "HostConfig": value(u, host)?,
    });
    Ok(value(u, body)?.to_string().into_bytes())
}

fn request(u: &mut Unstructured) -> Result<Option<Request<Full<Bytes>>>> {
    let method = if u.ratio(1, 20)? {
        u.arbitrary::<String>()?
    } else {
        u.choose(&METHODS)?.to_string()
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return Ok(None);
    };
    let mut uri = u.choose(&VERSIONS)?.to_string();
    if u.ratio(1, 3)? {
        // The richest route: body parsing, hints, the scheduler.
        uri.push_str("/containers/create");
    } else {
        for _ in 0..u.int_in_range(0..=4)? {
            uri.push('/');
            uri.push_str(&segment(u)?);
        }
    }
    if uri.is_empty() {
        uri.push('/');
    }
    let pairs = u.int_in_range(0..=3)?;
    for i in 0..pairs {
        uri.push(if i == 0 { '?' } else { '&' });
        let key = u.choose(&QUERY_KEYS)?;
        let value = if u.ratio(1, 4)? {
            u.arbitrary::<String>()?
        } else {
            u.choose(&QUERY_VALUES)?.to_string()
        };
        let encoded: String = value
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        uri.push_str(&format!("{key}={encoded}"));
    }
    let body = match u.int_in_range(0..=3)? {
        0 => Vec::new(),
        1 => u.arbitrary::<Vec<u8>>()?,
        _ => create_body(u)?,
    };
    let mut builder = Request::builder().method(method).uri(uri);
    if u.arbitrary()? {
        builder = builder.header("content-type", "application/json");
    }
    if u.ratio(1, 8)? {
        builder = builder
            .header("connection", "Upgrade")
            .header("upgrade", "tcp");
    }
    if u.ratio(1, 8)? {
        builder = builder.header(
            "x-registry-auth",
            u.arbitrary::<String>()?.replace(['\r', '\n'], ""),
        );
    }
    Ok(builder.body(Full::new(Bytes::from(body))).ok())
}

fuzz_target!(|data: &[u8]| {
    let Ok(Some(req)) = request(&mut Unstructured::new(data)) else {
        return;
    };
    let head = req.method() == Method::HEAD;
    let what = format!("{} {}", req.method(), req.uri());
    common::RUNTIME.block_on(async move {
        let (client_io, server_io) = tokio::io::duplex(1 << 16);
        let server = common::serve(server_io);
        let client = async move {
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(client_io))
                    .await
                    .expect("a handshake on a pipe");
            let exchange = async {
                let resp = tokio::time::timeout(Duration::from_secs(60), sender.send_request(req))
                    .await
                    .unwrap_or_else(|_| panic!("{what}: no answer within 60 s"))
                    .unwrap_or_else(|e| panic!("{what}: the manager dropped the request: {e}"));
                let status = resp.status();
                let headers = resp.headers().clone();
                assert!(
                    headers.contains_key("api-version"),
                    "{what}: no Api-Version header"
                );
                let body =
                    tokio::time::timeout(Duration::from_secs(30), resp.into_body().collect()).await;
                if !(status.is_client_error() || status.is_server_error()) || head {
                    return;
                }
                let body = body
                    .unwrap_or_else(|_| panic!("{what}: a {status} error whose body never ends"))
                    .unwrap_or_else(|e| panic!("{what}: a {status} error body broke: {e}"))
                    .to_bytes();
                assert_eq!(
                    headers.get("content-type").map(|v| v.as_bytes()),
                    Some(&b"application/json"[..]),
                    "{what}: a {status} error that is not JSON"
                );
                let v: Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
                    panic!("{what}: a {status} error body that is not JSON ({e}): {body:?}")
                });
                assert!(
                    v.get("message").is_some_and(Value::is_string),
                    "{what}: a {status} error without a message: {v}"
                );
            };
            tokio::select! {
                biased;
                _ = exchange => {}
                _ = conn.with_upgrades() => {}
            }
        };
        tokio::join!(server, client);
    });
});
