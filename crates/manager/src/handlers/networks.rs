//! Networks: aggregated list (local ones as `node/name`), create, inspect,
//! connect, disconnect, remove. Networks of Shoal's own overlay (driver
//! `shoal`) are cluster-wide: created and removed on every engine by the
//! cluster, listed once (scope `global`), inspected merged.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::Value;
use shoal_engine::{body, Engine, EngineError};

use super::{cluster_error, parse_json, read_body};
use crate::proxy::{self, upstream_request};
use crate::reply::{self, Reply};
use crate::route::{Path, Query};
use crate::Api;

fn is_local(net: &Value) -> bool {
    matches!(
        net.get("Scope").and_then(Value::as_str),
        None | Some("local") | Some("")
    )
}

/// `GET /networks`.
pub async fn list(api: &Arc<Api>, mut query: Query) -> Reply {
    let (path, engines) = match super::node_scoped_list(api, &mut query, "/networks") {
        Ok(x) => x,
        Err(reply) => return reply,
    };
    let calls = engines.iter().map(|e| {
        let path = path.clone();
        async move {
            let list = match e
                .client()
                .get_json_within::<Vec<Value>>(&path, super::LIST_TIMEOUT)
                .await
            {
                Ok(l) => l,
                Err(_) => e.with_cache(|c| c.networks.clone()),
            };
            (e.name(), list)
        }
    });
    let mut out: Vec<Value> = Vec::new();
    for (node, list) in futures_util::future::join_all(calls).await {
        for mut net in list {
            if shoal_cluster::is_shoal_network(&net) {
                let name = net.get("Name").cloned();
                if !out
                    .iter()
                    .any(|n| shoal_cluster::is_shoal_network(n) && n.get("Name") == name.as_ref())
                {
                    net["Scope"] = Value::from("global");
                    out.push(net);
                }
            } else if is_local(&net) {
                let name = net
                    .get("Name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                net["Name"] = Value::from(format!("{node}/{name}"));
                out.push(net);
            } else if !out.iter().any(|n| n.get("Id") == net.get("Id")) {
                out.push(net);
            }
        }
    }
    reply::json(StatusCode::OK, &out)
}

/// Engines holding network `q` (`node/name`, name, ID or ID prefix), with
/// the network's ID there. Cache first; all healthy engines, with `q` as
/// given, when the cache knows nothing of it.
fn holders(api: &Arc<Api>, q: &str) -> Vec<(Arc<Engine>, String)> {
    if let Some((node, name)) = q.split_once('/') {
        if let Some(e) = api.cluster.engine_by_node(node) {
            return vec![(e, name.to_string())];
        }
    }
    let mut out = Vec::new();
    for e in api.cluster.healthy_engines() {
        let id = e.with_cache(|c| {
            let by = |f: &dyn Fn(&Value) -> bool| {
                c.networks
                    .iter()
                    .find(|n| f(n))
                    .and_then(|n| n.get("Id"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            by(&|n| n.get("Id").and_then(Value::as_str) == Some(q))
                .or_else(|| by(&|n| n.get("Name").and_then(Value::as_str) == Some(q)))
                .or_else(|| {
                    by(&|n| {
                        q.len() >= 3
                            && n.get("Id")
                                .and_then(Value::as_str)
                                .is_some_and(|id| id.starts_with(q))
                    })
                })
        });
        if let Some(id) = id {
            out.push((e, id));
        }
    }
    if out.is_empty() {
        return api
            .cluster
            .healthy_engines()
            .into_iter()
            .map(|e| (e, q.to_string()))
            .collect();
    }
    out
}

/// `POST /networks/create`: `node/name` on that node; a local driver
/// (bridge by default when no engine has a cluster store) on every healthy
/// node; overlay and other global drivers once.
pub async fn create(api: &Arc<Api>, req: Request<Incoming>, path: &Path) -> Reply {
    let (parts, bytes) = match read_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut body = match parse_json(&bytes) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return reply::error(
                StatusCode::BAD_REQUEST,
                "network config must be a JSON object",
            )
        }
        Err(r) => return r,
    };
    let name = body
        .get("Name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let healthy = api.cluster.healthy_engines();
    let mut targets: Vec<Arc<Engine>> = Vec::new();
    if let Some((node, short)) = name.split_once('/') {
        match api.cluster.engine_by_node(node) {
            Some(e) => {
                body["Name"] = Value::from(short);
                targets.push(e);
            }
            None => return reply::error(StatusCode::NOT_FOUND, format!("No such node: {node}")),
        }
    } else {
        let driver = body
            .get("Driver")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let has_store = healthy
            .iter()
            .any(|e| !e.snapshot().info.cluster_store.is_empty());
        let driver = if driver.is_empty() {
            if has_store {
                "overlay".to_string()
            } else {
                "bridge".to_string()
            }
        } else {
            driver
        };
        body["Driver"] = Value::from(driver.clone());
        if driver == shoal_cluster::SHOAL_DRIVER {
            return match api.cluster.create_shoal_network(body).await {
                Ok(answer) => reply::json(StatusCode::CREATED, &answer),
                Err(e) => cluster_error(&e),
            };
        }
        let local = matches!(
            driver.as_str(),
            "bridge" | "macvlan" | "ipvlan" | "host" | "null"
        );
        if local {
            targets = healthy.clone();
        } else {
            targets.extend(healthy.first().cloned());
        }
    }
    if targets.is_empty() {
        return reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "No healthy node available in the cluster",
        );
    }
    let upstream = format!("{}/networks/create", path.engine_prefix());
    let calls = targets.iter().map(|e| {
        let upstream = upstream.clone();
        let body = body.clone();
        async move { e.client().call(Method::POST, &upstream, Some(&body)).await }
    });
    let results = futures_util::future::join_all(calls).await;
    let _ = parts;
    for e in &targets {
        let e = e.clone();
        tokio::spawn(async move {
            let _ = e.refresh_networks().await;
        });
    }
    first_success(results, StatusCode::CREATED)
}

fn first_success(
    results: Vec<Result<(StatusCode, bytes::Bytes), EngineError>>,
    status: StatusCode,
) -> Reply {
    let mut err = None;
    for r in results {
        match r {
            Ok((_, bytes)) => {
                let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                return if v.is_null() {
                    reply::status_only(status)
                } else {
                    reply::json(status, &v)
                };
            }
            Err(e) => {
                if err
                    .as_ref()
                    .is_none_or(|p: &EngineError| p.is_not_found() && !e.is_not_found())
                {
                    err = Some(e);
                }
            }
        }
    }
    match err {
        Some(e) => reply::error(e.status(), e.to_string()),
        None => reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "No healthy node available in the cluster",
        ),
    }
}

/// `GET|DELETE /networks/{id}`, `POST /networks/{id}/{connect,disconnect}`.
pub async fn op(api: &Arc<Api>, req: Request<Incoming>, path: &Path, query: Query) -> Reply {
    let segs = path.strs();
    let rest = &segs[1..];
    let (q, op) = match rest.last() {
        Some(&"connect") | Some(&"disconnect")
            if rest.len() >= 2 && *req.method() == Method::POST =>
        {
            (rest[..rest.len() - 1].join("/"), rest[rest.len() - 1])
        }
        _ => (rest.join("/"), ""),
    };
    let prefix = path.engine_prefix();
    // a `shoal` network is the same network on every engine: known by name
    let shoal = if q.contains('/') {
        None
    } else {
        api.cluster.shoal_network_name(&q)
    };
    let q = shoal.clone().unwrap_or(q);
    match (req.method().clone(), op) {
        (Method::DELETE, "") if shoal.is_some() => {
            match api.cluster.remove_shoal_network(&q).await {
                Ok(()) => reply::status_only(StatusCode::NO_CONTENT),
                Err(e) => cluster_error(&e),
            }
        }
        (Method::GET, "") if shoal.is_some() => shoal_inspect(api, &prefix, &q, &query).await,
        (Method::POST, "connect" | "disconnect") => {
            let (parts, bytes) = match read_body(req).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let mut body = match parse_json(&bytes) {
                Ok(v) => v,
                Err(r) => return r,
            };
            let container = body
                .get("Container")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let (engine, cid) = match api.cluster.find_container(&container).await {
                Ok(f) => f,
                Err(e) => return cluster_error(&e),
            };
            body["Container"] = Value::from(cid.clone());
            let net = holders(api, &q)
                .into_iter()
                .find(|(e, _)| e.addr() == engine.addr())
                .map(|(_, id)| id)
                .unwrap_or_else(|| q.rsplit('/').next().unwrap_or(&q).to_string());
            let upstream = format!(
                "{prefix}/networks/{}/{op}",
                shoal_engine::client::encode(&net)
            );
            let up = upstream_request(&parts, &upstream, body::full(body.to_string()));
            let r = match engine.client().send(up).await {
                Ok(resp) => proxy::pass_response(resp),
                Err(e) => proxy::engine_error(&engine, &e),
            };
            let e = engine.clone();
            tokio::spawn(async move {
                let _ = e.refresh_container(&cid).await;
                let _ = e.refresh_networks().await;
            });
            r
        }
        (Method::DELETE, "") => {
            let targets = holders(api, &q);
            let calls = targets.iter().map(|(e, id)| {
                let upstream = format!("{prefix}/networks/{}", shoal_engine::client::encode(id));
                async move { e.client().call(Method::DELETE, &upstream, None).await }
            });
            let results = futures_util::future::join_all(calls).await;
            for (e, _) in &targets {
                let e = e.clone();
                tokio::spawn(async move {
                    let _ = e.refresh_networks().await;
                });
            }
            if results.iter().any(Result::is_ok) {
                return reply::status_only(StatusCode::NO_CONTENT);
            }
            match first_success(results, StatusCode::NO_CONTENT) {
                r if r.status().is_success() => reply::status_only(StatusCode::NO_CONTENT),
                r if r.status() == StatusCode::NOT_FOUND => {
                    reply::error(StatusCode::NOT_FOUND, format!("network {q} not found"))
                }
                r => r,
            }
        }
        _ => {
            let (parts, _) = req.into_parts();
            let mut last = None;
            for (e, id) in holders(api, &q) {
                let upstream = format!(
                    "{prefix}/networks/{}{}",
                    shoal_engine::client::encode(&id),
                    query.suffix()
                );
                let up = upstream_request(&parts, &upstream, body::empty());
                match e.client().send(up).await {
                    Ok(resp) if resp.status() == StatusCode::NOT_FOUND => {
                        last = Some(proxy::pass_response(resp))
                    }
                    Ok(resp) => return proxy::pass_response(resp),
                    Err(err) => last = Some(proxy::engine_error(&e, &err)),
                }
            }
            last.unwrap_or_else(|| {
                reply::error(StatusCode::NOT_FOUND, format!("network {q} not found"))
            })
        }
    }
}

/// `GET /networks/NAME` of a `shoal` network: every engine's copy merged
/// (the attached containers of all of them), scope `global`.
async fn shoal_inspect(api: &Arc<Api>, prefix: &str, name: &str, query: &Query) -> Reply {
    let targets = holders(api, name);
    let calls = targets.iter().map(|(e, id)| {
        let upstream = format!(
            "{prefix}/networks/{}{}",
            shoal_engine::client::encode(id),
            query.suffix()
        );
        async move {
            (
                e.name(),
                e.client()
                    .get_json_within::<Value>(&upstream, super::LIST_TIMEOUT)
                    .await,
            )
        }
    });
    let mut merged: Option<Value> = None;
    let mut containers = serde_json::Map::new();
    for (node, r) in futures_util::future::join_all(calls).await {
        let Ok(net) = r else { continue };
        if let Some(c) = net.get("Containers").and_then(Value::as_object) {
            for (id, ep) in c {
                let mut ep = ep.clone();
                ep["Node"] = Value::from(node.clone());
                containers.insert(id.clone(), ep);
            }
        }
        merged.get_or_insert(net);
    }
    match merged {
        Some(mut net) => {
            net["Scope"] = Value::from("global");
            net["Containers"] = Value::Object(containers);
            reply::json(StatusCode::OK, &net)
        }
        None => reply::error(StatusCode::NOT_FOUND, format!("network {name} not found")),
    }
}
