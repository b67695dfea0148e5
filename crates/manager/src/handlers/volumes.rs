//! Volumes: aggregated list (local ones as `node/name`), create (every
//! node unless `node/name`), inspect, remove.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};
use shoal_engine::{body, Engine};

use super::{parse_json, read_body};
use crate::proxy::{self, upstream_request};
use crate::reply::{self, Reply};
use crate::route::{Path, Query};
use crate::Api;

/// `GET /volumes`.
pub async fn list(api: &Arc<Api>, mut query: Query) -> Reply {
    let (path, engines) = match super::node_scoped_list(api, &mut query, "/volumes") {
        Ok(x) => x,
        Err(reply) => return reply,
    };
    let calls = engines.iter().map(|e| {
        let path = path.clone();
        async move {
            let list = match e
                .client()
                .get_json_within::<Value>(&path, super::LIST_TIMEOUT)
                .await
            {
                Ok(v) => v
                    .get("Volumes")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                Err(_) => e.with_cache(|c| c.volumes.clone()),
            };
            (e.name(), list)
        }
    });
    let mut out = Vec::new();
    for (node, list) in futures_util::future::join_all(calls).await {
        for mut v in list {
            let local = matches!(
                v.get("Scope").and_then(Value::as_str),
                None | Some("local") | Some("")
            );
            if local {
                let name = v
                    .get("Name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                v["Name"] = Value::from(format!("{node}/{name}"));
                out.push(v);
            } else if !out.iter().any(|x: &Value| x.get("Name") == v.get("Name")) {
                out.push(v);
            }
        }
    }
    reply::json(
        StatusCode::OK,
        &json!({"Volumes": out, "Warnings": Value::Null}),
    )
}

/// Engines for volume `q`: `node/name` pins one; else those whose cache has
/// it, else every healthy one.
fn holders(api: &Arc<Api>, q: &str) -> (Vec<Arc<Engine>>, String) {
    if let Some((node, name)) = q.split_once('/') {
        return (
            api.cluster.engine_by_node(node).into_iter().collect(),
            name.to_string(),
        );
    }
    let healthy = api.cluster.healthy_engines();
    let with: Vec<_> = healthy
        .iter()
        .filter(|e| {
            e.with_cache(|c| {
                c.volumes
                    .iter()
                    .any(|v| v.get("Name").and_then(Value::as_str) == Some(q))
            })
        })
        .cloned()
        .collect();
    (if with.is_empty() { healthy } else { with }, q.to_string())
}

/// `POST /volumes/create`.
pub async fn create(api: &Arc<Api>, req: Request<Incoming>, path: &Path) -> Reply {
    let (_, bytes) = match read_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut body = match parse_json(&bytes) {
        Ok(Value::Null) => json!({}),
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return reply::error(
                StatusCode::BAD_REQUEST,
                "volume config must be a JSON object",
            )
        }
        Err(r) => return r,
    };
    let name = body
        .get("Name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let targets: Vec<Arc<Engine>> = if let Some((node, short)) = name.split_once('/') {
        match api.cluster.engine_by_node(node) {
            Some(e) => {
                body["Name"] = Value::from(short);
                vec![e]
            }
            None => return reply::error(StatusCode::NOT_FOUND, format!("No such node: {node}")),
        }
    } else if name.is_empty() {
        // An anonymous volume gets a random name: one engine only.
        api.cluster.healthy_engines().into_iter().take(1).collect()
    } else {
        api.cluster.healthy_engines()
    };
    if targets.is_empty() {
        return reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "No healthy node available in the cluster",
        );
    }
    let upstream = format!("{}/volumes/create", path.engine_prefix());
    let calls = targets.iter().map(|e| {
        let upstream = upstream.clone();
        let body = body.clone();
        async move { e.client().call(Method::POST, &upstream, Some(&body)).await }
    });
    let results = futures_util::future::join_all(calls).await;
    for e in &targets {
        let e = e.clone();
        tokio::spawn(async move {
            let _ = e.refresh_volumes().await;
        });
    }
    let mut err = None;
    for r in results {
        match r {
            Ok((_, bytes)) => {
                let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                return reply::json(StatusCode::CREATED, &v);
            }
            Err(e) => err = err.or(Some(e)),
        }
    }
    let e = err.expect("at least one target");
    reply::error(e.status(), e.to_string())
}

/// `GET|DELETE /volumes/{name}`.
pub async fn op(api: &Arc<Api>, req: Request<Incoming>, path: &Path, query: Query) -> Reply {
    let q = path.strs()[1..].join("/");
    let (engines, name) = holders(api, &q);
    let upstream = format!(
        "{}/volumes/{}{}",
        path.engine_prefix(),
        shoal_engine::client::encode(&name),
        query.suffix()
    );
    if *req.method() == Method::DELETE {
        let calls = engines.iter().map(|e| {
            let upstream = upstream.clone();
            async move { e.client().call(Method::DELETE, &upstream, None).await }
        });
        let results = futures_util::future::join_all(calls).await;
        for e in &engines {
            let e = e.clone();
            tokio::spawn(async move {
                let _ = e.refresh_volumes().await;
            });
        }
        if results.iter().any(Result::is_ok) {
            return reply::status_only(StatusCode::NO_CONTENT);
        }
        let err = results.into_iter().filter_map(Result::err).reduce(|a, b| {
            if a.is_not_found() {
                b
            } else {
                a
            }
        });
        return match err {
            Some(e) => reply::error(e.status(), e.to_string()),
            None => reply::error(StatusCode::NOT_FOUND, format!("get {name}: no such volume")),
        };
    }
    let (parts, _) = req.into_parts();
    let mut last = None;
    for e in &engines {
        let up = upstream_request(&parts, &upstream, body::empty());
        match e.client().send(up).await {
            Ok(resp) if resp.status() == StatusCode::NOT_FOUND => {
                last = Some(proxy::pass_response(resp))
            }
            Ok(resp) => return proxy::pass_response(resp),
            Err(err) => last = Some(proxy::engine_error(e, &err)),
        }
    }
    last.unwrap_or_else(|| {
        reply::error(StatusCode::NOT_FOUND, format!("get {name}: no such volume"))
    })
}
