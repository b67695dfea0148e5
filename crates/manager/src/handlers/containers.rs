//! Containers: the aggregated list, scheduled create, and every per-container
//! call forwarded to the engine holding it.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use shoal_api_types::{ContainerSummary, CreateBody, CreateBodyError, Filters};
use shoal_cluster::ClusterError;
use shoal_engine::{body, Engine};

use super::{cluster_error, now_secs, read_body};
use crate::proxy::{self, engine_error};
use crate::reply::{self, Reply};
use crate::route::{Path, Query};
use crate::{hijack, Api};

/// Per-container operations (the last path segment), for splitting
/// `/containers/NODE/NAME/OP` into container and operation.
const OPS: &[&str] = &[
    "json", "start", "stop", "kill", "restart", "pause", "unpause", "wait", "logs", "attach",
    "exec", "top", "stats", "rename", "update", "archive", "export", "changes", "resize",
];

/// `GET /containers/json`: every engine's containers, names as
/// `/node/name`, answered from the caches (kept current by the engines'
/// events) with the status text computed here, as classic Swarm did; those
/// of an engine that is down say `Host Down`. Sizes, and filters the cache
/// cannot judge exactly, are asked of the engines live.
pub async fn list(api: &Arc<Api>, query: Query) -> Reply {
    let mut filters = match Filters::parse(query.get("filters").unwrap_or("")) {
        Ok(f) => f,
        Err(e) => return reply::error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let nodes = filters.take("node");
    let before = filters.take("before");
    let since = filters.take("since");
    let limit: i64 = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(-1);
    let all = query.flag("all")
        || limit > 0
        || !before.is_empty()
        || !since.is_empty()
        || filters.contains("status");
    if query.flag("size") || !cache_can_filter(&filters) {
        return live_list(api, &query, filters, nodes, (before, since), limit, all).await;
    }
    let now = now_secs();
    // (created, ID, `/node/name`, the item as JSON)
    let mut out: Vec<(i64, String, String, String)> = Vec::new();
    for e in api.cluster.engines() {
        let node = e.name();
        if !nodes.is_empty() && !nodes.iter().any(|n| n == &node) {
            continue;
        }
        let down = (!e.is_healthy()).then_some("Host Down");
        e.with_cache(|c| {
            for x in c.containers.values() {
                if (all || x.is_running()) && cache_filter_match(&filters, x) {
                    let item = x.list_item(Some(&node), now, down);
                    let json = serde_json::to_string(&item).unwrap_or_default();
                    let name = format!("/{node}/{}", x.name());
                    out.push((x.created(), x.id().to_string(), name, json));
                }
            }
        });
    }
    let created_of = |out: &[(i64, String, String, String)], q: &str| {
        out.iter()
            .find(|c| c.1.starts_with(q) || c.2.ends_with(&format!("/{q}")))
            .map(|c| c.0)
    };
    if let Some(b) = before.first() {
        match created_of(&out, b) {
            Some(t) => out.retain(|c| c.0 < t),
            None => return reply::error(StatusCode::NOT_FOUND, format!("No such container: {b}")),
        }
    }
    if let Some(s) = since.first() {
        match created_of(&out, s) {
            Some(t) => out.retain(|c| c.0 > t),
            None => return reply::error(StatusCode::NOT_FOUND, format!("No such container: {s}")),
        }
    }
    out.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    if limit > 0 {
        out.truncate(limit as usize);
    }
    let mut text = String::with_capacity(out.iter().map(|c| c.3.len() + 1).sum::<usize>() + 2);
    text.push('[');
    for (i, c) in out.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&c.3);
    }
    text.push(']');
    let mut r = Response::new(body::full(text));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Whether the cache answers these filters exactly as an engine would:
/// status, label, health, and plain (not regular-expression) name and id.
fn cache_can_filter(filters: &Filters) -> bool {
    const STATES: &[&str] = &[
        "created",
        "restarting",
        "running",
        "removing",
        "paused",
        "exited",
        "dead",
    ];
    let plain = |v: &String| {
        v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
    };
    filters.0.iter().all(|(k, vals)| match k.as_str() {
        "label" => true,
        "status" => vals.iter().all(|v| STATES.contains(&v.as_str())),
        "health" => vals
            .iter()
            .all(|v| matches!(v.as_str(), "starting" | "healthy" | "unhealthy" | "none")),
        "name" | "id" => vals.iter().all(plain),
        _ => vals.is_empty(),
    })
}

/// The filters [`cache_can_filter`] accepts, on one cached container.
fn cache_filter_match(filters: &Filters, x: &shoal_engine::CachedContainer) -> bool {
    let any = |name: &str, ok: &dyn Fn(&str) -> bool| {
        let vals = filters.get(name);
        vals.is_empty() || vals.iter().any(|v| ok(v))
    };
    filters.labels_match_by(|k| x.labels().get(k))
        && any("status", &|v| v == x.state().as_str())
        && any("name", &|v| x.name().contains(v))
        && any("id", &|v| x.id().contains(v))
        && any("health", &|v| {
            let h = x.health();
            v == h || (v == "none" && h.is_empty())
        })
}

/// [`list`] asking every healthy engine live (sizes, filters the cache
/// cannot judge); an engine that does not answer in time, or is not
/// healthy, contributes its cached containers.
async fn live_list(
    api: &Arc<Api>,
    query: &Query,
    filters: Filters,
    nodes: Vec<String>,
    (before, since): (Vec<String>, Vec<String>),
    limit: i64,
    all: bool,
) -> Reply {
    let mut q = Query::default();
    if all {
        q.set("all", "1");
    }
    if query.flag("size") {
        q.set("size", "1");
    }
    if !filters.is_empty() {
        q.set("filters", &filters.to_json());
    }
    let path = format!("/containers/json{}", q.suffix());
    let engines = api.cluster.engines();
    let calls = engines.iter().map(|e| {
        let path = path.clone();
        let filters = filters.clone();
        async move {
            let node = e.name();
            if e.is_healthy() {
                match e
                    .client()
                    .get_json_within::<Vec<ContainerSummary>>(&path, super::LIST_TIMEOUT)
                    .await
                {
                    Ok(list) => return Ok((node, list)),
                    // the engine refused the query itself (a bad filter):
                    // the cache would answer a question nobody asked
                    Err(err) if err.status().is_client_error() => return Err(err),
                    Err(_) => e.check_soon(),
                }
            }
            Ok((node, cached_list(e, all, &filters)))
        }
    });
    let results = futures_util::future::join_all(calls).await;
    let mut out: Vec<ContainerSummary> = Vec::new();
    for result in results {
        let (node, list) = match result {
            Ok(r) => r,
            Err(err) => return reply::error(err.status(), err.to_string()),
        };
        if !nodes.is_empty() && !nodes.iter().any(|n| n == &node) {
            continue;
        }
        for mut c in list {
            c.names = c
                .names
                .iter()
                .map(|n| format!("/{node}/{}", n.trim_start_matches('/')))
                .collect();
            out.push(c);
        }
    }
    let created_of = |out: &[ContainerSummary], q: &str| {
        out.iter()
            .find(|c| c.id.starts_with(q) || c.names.iter().any(|n| n.ends_with(&format!("/{q}"))))
            .map(|c| c.created)
    };
    if let Some(b) = before.first() {
        match created_of(&out, b) {
            Some(t) => out.retain(|c| c.created < t),
            None => return reply::error(StatusCode::NOT_FOUND, format!("No such container: {b}")),
        }
    }
    if let Some(s) = since.first() {
        match created_of(&out, s) {
            Some(t) => out.retain(|c| c.created > t),
            None => return reply::error(StatusCode::NOT_FOUND, format!("No such container: {s}")),
        }
    }
    out.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
    if limit > 0 {
        out.truncate(limit as usize);
    }
    reply::json(StatusCode::OK, &out)
}

/// A list from the cache: what an engine that cannot answer contributes.
fn cached_list(engine: &Engine, all: bool, filters: &Filters) -> Vec<ContainerSummary> {
    let down = (!engine.is_healthy()).then_some("Host Down");
    let now = now_secs();
    engine.with_cache(|c| {
        c.containers
            .values()
            .filter(|x| (all || x.is_running()) && cache_filter_match(filters, x))
            .filter_map(|x| serde_json::to_value(x.list_item(None, now, down)).ok())
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect()
    })
}

/// `POST /containers/create`: scheduled on a node, name unique in the cluster.
pub async fn create(api: &Arc<Api>, req: Request<Incoming>, query: &Query) -> Reply {
    let auth = req.headers().get("x-registry-auth").cloned();
    let (_, bytes) = match read_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    // the body kept as its text: only the members read are decoded
    let body = match CreateBody::parse(&bytes) {
        Ok(body) => Ok(body),
        Err(e @ (CreateBodyError::Empty | CreateBodyError::Json(_))) => {
            return reply::error(StatusCode::BAD_REQUEST, e.to_string())
        }
        // refused as the cluster refuses a request (and counted so)
        Err(e @ CreateBodyError::NotAnObject) => Err(ClusterError::BadRequest(e.to_string())),
    };
    let start = std::time::Instant::now();
    let created = match body {
        Ok(body) => {
            api.cluster
                .create_container(query.get("name"), body, auth)
                .await
        }
        Err(e) => Err(e),
    };
    let outcome = match &created {
        Ok(_) => crate::metrics::Placement::Placed,
        Err(e) => crate::metrics::Placement::of_error(e),
    };
    api.metrics.placement(outcome, start.elapsed());
    match created {
        Ok(created) => {
            // debug: one line per container floods the log at thousands per second
            tracing::debug!(id = %created.id, node = %created.engine.name(), "container created");
            reply::json(StatusCode::CREATED, &created.answer)
        }
        Err(e) => cluster_error(&e),
    }
}

/// Splits the segments after `containers` into (container, operation).
fn split_op(rest: &[&str], method: &Method) -> (String, Vec<String>) {
    if rest.len() >= 2 && rest[rest.len() - 2] == "attach" && rest[rest.len() - 1] == "ws" {
        return (
            rest[..rest.len() - 2].join("/"),
            vec!["attach".into(), "ws".into()],
        );
    }
    if *method != Method::DELETE && rest.len() >= 2 && OPS.contains(&rest[rest.len() - 1]) {
        return (
            rest[..rest.len() - 1].join("/"),
            vec![rest[rest.len() - 1].to_string()],
        );
    }
    (rest.join("/"), Vec::new())
}

/// Everything under `/containers/{id}`: found in the cluster, then
/// forwarded to its engine with the real ID.
pub async fn op(api: &Arc<Api>, req: Request<Incoming>, path: &Path, query: Query) -> Reply {
    let segs = path.strs();
    let (name, op) = split_op(&segs[1..], req.method());
    let (engine, id) = match api.cluster.find_container(&name).await {
        Ok(found) => found,
        Err(e) => return cluster_error(&e),
    };
    let mut upstream = format!("{}/containers/{}", path.engine_prefix(), id);
    for o in &op {
        upstream.push('/');
        upstream.push_str(o);
    }
    upstream.push_str(&query.suffix());
    let op = op.first().map(String::as_str).unwrap_or("");
    let method = req.method().clone();
    if hijack::wants_upgrade(&req) {
        return hijack::proxy(&engine, req, &upstream).await;
    }
    match (method.clone(), op) {
        (Method::GET, "json") => inspect(&engine, req, &upstream).await,
        (Method::POST, "wait") => wait(engine, req, upstream).await,
        (Method::POST, "exec") => {
            let r = forward_collect(&engine, req, &upstream).await;
            if let Ok((status, v)) = &r {
                if let Some(exec_id) = v.get("Id").and_then(Value::as_str) {
                    if status.is_success() {
                        api.cluster.remember_exec(exec_id, &engine);
                    }
                }
            }
            collected_reply(r)
        }
        _ => {
            let reply = proxy::forward(&engine, req, &upstream).await;
            if reply.status().is_success() || reply.status() == StatusCode::NOT_MODIFIED {
                after_change(&engine, &method, op, &id).await;
            }
            reply
        }
    }
}

/// Keeps the cache in step right after a change made through the manager,
/// before the client hears back: a `docker ps` right after `docker start`
/// must already see the container running (the engine's events would say
/// so too, a moment later, which is a moment too late).
async fn after_change(engine: &Arc<Engine>, method: &Method, op: &str, id: &str) {
    if *method == Method::DELETE && op.is_empty() {
        engine.forget_container(id);
        return;
    }
    if *method == Method::POST
        && matches!(
            op,
            "start" | "stop" | "kill" | "restart" | "pause" | "unpause" | "rename" | "update"
        )
    {
        let _ = engine.refresh_container(id).await;
    }
}

/// `GET /containers/{id}/json` with the `Node` object added.
async fn inspect(engine: &Arc<Engine>, req: Request<Incoming>, upstream: &str) -> Reply {
    match forward_collect(engine, req, upstream).await {
        Ok((status, mut v)) if status.is_success() => {
            if let Some(obj) = v.as_object_mut() {
                obj.insert("Node".into(), node_object(engine));
            }
            reply::json(status, &v)
        }
        other => collected_reply(other),
    }
}

/// The `Node` object classic Swarm added to container inspect answers.
pub(crate) fn node_object(engine: &Engine) -> Value {
    let s = engine.snapshot();
    let node = engine.event_node();
    json!({"ID": s.id, "IP": node.ip, "Addr": s.addr, "Name": s.name, "Cpus": s.cpus, "Memory": s.memory, "Labels": s.labels})
}

/// Forwards and reads a JSON answer whole (small answers only).
pub(crate) async fn forward_collect(
    engine: &Engine,
    req: Request<Incoming>,
    upstream: &str,
) -> Result<(StatusCode, Value), Reply> {
    use http_body_util::BodyExt;
    let (parts, incoming) = req.into_parts();
    let up = proxy::upstream_request(&parts, upstream, body::boxed(incoming));
    let resp = engine
        .client()
        .send(up)
        .await
        .map_err(|e| engine_error(engine, &e))?;
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| {
            reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("engine at {}: {e}", engine.addr()),
            )
        })?
        .to_bytes();
    if !status.is_success() {
        return Err(reply::error(
            status,
            shoal_engine::client::error_message(&bytes),
        ));
    }
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((status, v))
}

pub(crate) fn collected_reply(r: Result<(StatusCode, Value), Reply>) -> Reply {
    match r {
        Ok((status, v)) => reply::json(status, &v),
        Err(reply) => reply,
    }
}

/// `POST /containers/{id}/wait`: the 200 and its headers go out at once
/// (the CLI starts the container only after it has them); the body follows
/// when the container exits.
async fn wait(engine: Arc<Engine>, req: Request<Incoming>, upstream: String) -> Reply {
    let (tx, out_body) = body::channel(4);
    let (parts, incoming) = req.into_parts();
    let up = proxy::upstream_request(&parts, &upstream, body::boxed(incoming));
    tokio::spawn(async move {
        use http_body_util::BodyExt;
        let client_gone = tx.clone();
        let relay = async move {
            match engine.client().send(up).await {
                Ok(resp) => {
                    let status = resp.status();
                    let mut b = resp.into_body();
                    let mut error_text = Vec::new();
                    while let Some(Ok(frame)) = b.frame().await {
                        if let Ok(data) = frame.into_data() {
                            if status.is_success() {
                                if tx.send(data).await.is_err() {
                                    return;
                                }
                            } else {
                                error_text.extend_from_slice(&data);
                            }
                        }
                    }
                    if !status.is_success() {
                        let msg = shoal_engine::client::error_message(&error_text);
                        let _ = tx
                            .send(
                                json!({"Error": {"Message": msg}, "StatusCode": -1})
                                    .to_string()
                                    .into(),
                            )
                            .await;
                    }
                }
                Err(e) => {
                    let _ = tx
                        .send(
                            json!({"Error": {"Message": e.to_string()}, "StatusCode": -1})
                                .to_string()
                                .into(),
                        )
                        .await;
                }
            }
        };
        // `docker run -d` hangs up early: stop waiting on the engine then.
        tokio::select! {
            _ = relay => {}
            _ = client_gone.closed() => {}
        }
    });
    let mut r = Response::new(out_body);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// `POST /commit?container=X`: to the container's engine.
pub async fn commit(
    api: &Arc<Api>,
    req: Request<Incoming>,
    path: &Path,
    mut query: Query,
) -> Reply {
    let Some(name) = query.get("container").map(str::to_string) else {
        return reply::error(StatusCode::BAD_REQUEST, "missing container parameter");
    };
    let (engine, id) = match api.cluster.find_container(&name).await {
        Ok(found) => found,
        Err(e) => return cluster_error(&e),
    };
    query.set("container", &id);
    let upstream = format!("{}/commit{}", path.engine_prefix(), query.suffix());
    let r = proxy::forward(&engine, req, &upstream).await;
    let e = engine.clone();
    tokio::spawn(async move {
        let _ = e.refresh_images().await;
    });
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_container_and_op() {
        let m = Method::GET;
        assert_eq!(
            split_op(&["abc", "json"], &m),
            ("abc".into(), vec!["json".into()])
        );
        assert_eq!(
            split_op(&["node1", "web", "json"], &m),
            ("node1/web".into(), vec!["json".into()])
        );
        assert_eq!(
            split_op(&["abc", "attach", "ws"], &m),
            ("abc".into(), vec!["attach".into(), "ws".into()])
        );
        assert_eq!(
            split_op(&["node1", "web"], &Method::DELETE),
            ("node1/web".into(), vec![])
        );
        assert_eq!(split_op(&["abc"], &Method::DELETE), ("abc".into(), vec![]));
        // a container literally named like an operation
        assert_eq!(split_op(&["json"], &m), ("json".into(), vec![]));
    }
}
