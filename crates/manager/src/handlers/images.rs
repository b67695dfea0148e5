//! Images: aggregated list; pull, import, load, tag, rmi on every engine
//! concerned, with per-engine progress lines; the rest on one engine.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;
use shoal_api_types::ImageSummary;
use shoal_engine::{body, Body, Engine};

use super::fanout::merge;
use crate::proxy::{self, upstream_request};
use crate::reply::{self, Reply};
use crate::route::{Path, Query};
use crate::Api;

/// `GET /images/json`: every healthy engine's images, one entry per image ID.
pub async fn list(api: &Arc<Api>, mut query: Query) -> Reply {
    let (path, engines) = match super::node_scoped_list(api, &mut query, "/images/json") {
        Ok(x) => x,
        Err(reply) => return reply,
    };
    let calls = engines.iter().map(|e| {
        let path = path.clone();
        async move {
            match e
                .client()
                .get_json_within::<Vec<ImageSummary>>(&path, super::LIST_TIMEOUT)
                .await
            {
                Ok(l) => l,
                Err(_) => e.with_cache(|c| c.images.clone()),
            }
        }
    });
    let mut by_id: BTreeMap<String, ImageSummary> = BTreeMap::new();
    for list in futures_util::future::join_all(calls).await {
        for img in list {
            match by_id.get_mut(&img.id) {
                Some(have) => {
                    for t in img.repo_tags {
                        if !have.repo_tags.contains(&t) {
                            have.repo_tags.push(t);
                        }
                    }
                    for d in img.repo_digests {
                        if !have.repo_digests.contains(&d) {
                            have.repo_digests.push(d);
                        }
                    }
                }
                None => {
                    by_id.insert(img.id.clone(), img);
                }
            }
        }
    }
    let mut out: Vec<ImageSummary> = by_id.into_values().collect();
    out.sort_by_key(|i| std::cmp::Reverse(i.created));
    reply::json(StatusCode::OK, &out)
}

/// Splits a request body into one streaming copy per engine (no buffering
/// beyond a few chunks: the slowest engine sets the pace).
fn tee(incoming: Incoming, n: usize) -> Vec<Body> {
    let (txs, bodies): (Vec<_>, Vec<_>) = (0..n).map(|_| body::channel(16)).unzip();
    tokio::spawn(async move {
        let mut incoming = incoming;
        while let Some(Ok(frame)) = incoming.frame().await {
            if let Ok(data) = frame.into_data() {
                for tx in &txs {
                    let _ = tx.send(data.clone()).await;
                }
            }
        }
    });
    bodies
}

/// Sends the same call to several engines and streams their JSON-lines
/// progress merged, each line's status and error prefixed with the node.
fn fan_out_progress(engines: Vec<Arc<Engine>>, reqs: Vec<Request<Body>>) -> Reply {
    let (tx, out) = body::channel(64);
    for (engine, req) in engines.into_iter().zip(reqs) {
        let tx = tx.clone();
        tokio::spawn(async move {
            let node = engine.name();
            let send_line = |v: Value| {
                let mut b = serde_json::to_vec(&v).unwrap_or_default();
                b.extend_from_slice(b"\r\n");
                Bytes::from(b)
            };
            match engine.client().send(req).await {
                Ok(resp) => {
                    let ok = resp.status().is_success();
                    let mut lines = shoal_engine::client::LineReader::new(resp.into_body());
                    while let Ok(Some(line)) = lines.next_line().await {
                        let v = match serde_json::from_slice::<Value>(&line) {
                            Ok(v) if ok => prefix_line(v, &node),
                            Ok(v) => error_line(
                                &node,
                                v.get("message").and_then(Value::as_str).unwrap_or("failed"),
                            ),
                            Err(_) => error_line(&node, &String::from_utf8_lossy(&line)),
                        };
                        if tx.send(send_line(v)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    let _ = tx.send(send_line(error_line(&node, &e.to_string()))).await;
                }
            }
            let _ = engine.refresh_images().await;
        });
    }
    let mut r = Response::new(out);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error_line(node: &str, msg: &str) -> Value {
    let m = format!("{node}: {msg}");
    serde_json::json!({"errorDetail": {"message": m}, "error": m})
}

/// Puts the node in front of a progress line's status and error.
pub fn prefix_line(mut v: Value, node: &str) -> Value {
    if let Some(obj) = v.as_object_mut() {
        if let Some(s) = obj.get("status").and_then(Value::as_str) {
            let s = format!("{node}: {s}");
            obj.insert("status".into(), s.into());
        }
        if let Some(s) = obj.get("error").and_then(Value::as_str) {
            let s = format!("{node}: {s}");
            obj.insert("error".into(), s.clone().into());
            obj.insert("errorDetail".into(), serde_json::json!({"message": s}));
        }
    }
    v
}

/// `POST /images/create`: pull (`fromImage`) on every healthy engine, or
/// import (`fromSrc`) with the body sent to every healthy engine.
pub async fn create(api: &Arc<Api>, req: Request<Incoming>, path: &Path, query: Query) -> Reply {
    let engines = api.cluster.healthy_engines();
    if engines.is_empty() {
        return reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "No healthy node available in the cluster",
        );
    }
    let upstream = format!("{}/images/create{}", path.engine_prefix(), query.suffix());
    let (parts, incoming) = req.into_parts();
    let bodies = if query.get("fromSrc") == Some("-") {
        tee(incoming, engines.len())
    } else {
        (0..engines.len()).map(|_| body::empty()).collect()
    };
    let reqs = bodies
        .into_iter()
        .map(|b| upstream_request(&parts, &upstream, b))
        .collect();
    fan_out_progress(engines, reqs)
}

/// `POST /images/load`: the tarball to every healthy engine.
pub async fn load(api: &Arc<Api>, req: Request<Incoming>, path: &Path, query: Query) -> Reply {
    let engines = api.cluster.healthy_engines();
    if engines.is_empty() {
        return reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "No healthy node available in the cluster",
        );
    }
    let mut q = query;
    q.set("quiet", "0");
    let upstream = format!("{}/images/load{}", path.engine_prefix(), q.suffix());
    let (parts, incoming) = req.into_parts();
    let bodies = tee(incoming, engines.len());
    let reqs = bodies
        .into_iter()
        .map(|b| upstream_request(&parts, &upstream, b))
        .collect();
    fan_out_progress(engines, reqs)
}

/// `POST /build`: on one healthy node (the image then lives there, and
/// creates from it prefer that node).
pub async fn build(api: &Arc<Api>, req: Request<Incoming>, path: &Path, query: Query) -> Reply {
    let healthy = api.cluster.healthy_engines();
    if healthy.is_empty() {
        return reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "No healthy node available in the cluster",
        );
    }
    let pick = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as usize)
        .unwrap_or(0)
        % healthy.len();
    let engine = healthy[pick].clone();
    let r = proxy::forward(
        &engine,
        req,
        &format!("{}/build{}", path.engine_prefix(), query.suffix()),
    )
    .await;
    tokio::spawn(async move {
        // the build streams on; the image event refreshes the cache too
        let _ = engine.refresh_images().await;
    });
    r
}

/// `GET /images/search`: any healthy engine.
pub async fn search(api: &Arc<Api>, req: Request<Incoming>, path: &Path, query: Query) -> Reply {
    match api.cluster.healthy_engines().first() {
        Some(e) => {
            proxy::forward(
                e,
                req,
                &format!("{}/images/search{}", path.engine_prefix(), query.suffix()),
            )
            .await
        }
        None => reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "No healthy node available in the cluster",
        ),
    }
}

/// `GET /images/get?names=...`: the engine that has the first image.
pub async fn save(api: &Arc<Api>, req: Request<Incoming>, path: &Path, query: Query) -> Reply {
    let first = query
        .0
        .iter()
        .find(|(k, _)| k == "names")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let engines = holders(api, &first);
    match engines.first() {
        Some(e) => {
            proxy::forward(
                e,
                req,
                &format!("{}/images/get{}", path.engine_prefix(), query.suffix()),
            )
            .await
        }
        None => reply::error(StatusCode::NOT_FOUND, format!("No such image: {first}")),
    }
}

/// Healthy engines whose cache has the image (all healthy ones if none does:
/// the cache may be behind).
fn holders(api: &Arc<Api>, name: &str) -> Vec<Arc<Engine>> {
    let healthy = api.cluster.healthy_engines();
    let with: Vec<_> = healthy
        .iter()
        .filter(|e| e.with_cache(|c| c.has_image(name)))
        .cloned()
        .collect();
    if with.is_empty() {
        healthy
    } else {
        with
    }
}

const IMAGE_OPS: &[&str] = &["json", "tag", "history", "push"];

/// `/images/{name}/{json,tag,history,push}` and `DELETE /images/{name}`.
pub async fn op(api: &Arc<Api>, req: Request<Incoming>, path: &Path, query: Query) -> Reply {
    let segs = path.strs();
    let rest = &segs[1..];
    let (name, op) = match rest.last() {
        Some(last)
            if rest.len() >= 2 && IMAGE_OPS.contains(last) && *req.method() != Method::DELETE =>
        {
            (rest[..rest.len() - 1].join("/"), *last)
        }
        _ => (rest.join("/"), ""),
    };
    let enc = shoal_engine::client::encode(&name);
    let op_path = if op.is_empty() {
        String::new()
    } else {
        format!("/{op}")
    };
    let upstream = format!(
        "{}/images/{}{}{}",
        path.engine_prefix(),
        enc,
        op_path,
        query.suffix()
    );
    let engines = holders(api, &name);
    match (req.method().clone(), op) {
        (Method::POST, "tag") | (Method::DELETE, "") => {
            let method = req.method().clone();
            let calls = engines.iter().map(|e| {
                let upstream = upstream.clone();
                let method = method.clone();
                async move { (e.clone(), e.client().call(method, &upstream, None).await) }
            });
            let mut merged = Value::Null;
            let mut ok = false;
            let mut first_err: Option<shoal_engine::EngineError> = None;
            for (e, r) in futures_util::future::join_all(calls).await {
                match r {
                    Ok((_, bytes)) => {
                        ok = true;
                        merge(
                            &mut merged,
                            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                        );
                        let e = e.clone();
                        tokio::spawn(async move {
                            let _ = e.refresh_images().await;
                        });
                    }
                    Err(err) => {
                        let better = match &first_err {
                            None => true,
                            Some(prev) => prev.is_not_found() && !err.is_not_found(),
                        };
                        if better {
                            first_err = Some(err);
                        }
                    }
                }
            }
            match (ok, first_err) {
                (true, Some(err)) if !err.is_not_found() => {
                    reply::error(err.status(), err.to_string())
                }
                (true, _) if op == "tag" => reply::status_only(StatusCode::CREATED),
                (true, _) => reply::json(StatusCode::OK, &merged),
                (false, Some(err)) => reply::error(err.status(), err.to_string()),
                (false, None) => {
                    reply::error(StatusCode::NOT_FOUND, format!("No such image: {name}"))
                }
            }
        }
        _ => {
            // Read-only calls: the first engine that has it answers.
            let (parts, incoming) = req.into_parts();
            let mut incoming = Some(incoming);
            let mut last = None;
            for e in &engines {
                let b = match incoming.take() {
                    Some(i) => body::boxed(i),
                    None => body::empty(),
                };
                let up = upstream_request(&parts, &upstream, b);
                match e.client().send(up).await {
                    Ok(resp) if resp.status() == StatusCode::NOT_FOUND => {
                        last = Some(proxy::pass_response(resp))
                    }
                    Ok(resp) => return proxy::pass_response(resp),
                    Err(err) => last = Some(proxy::engine_error(e, &err)),
                }
            }
            last.unwrap_or_else(|| {
                reply::error(StatusCode::NOT_FOUND, format!("No such image: {name}"))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn progress_lines_carry_the_node() {
        let v = prefix_line(
            json!({"status": "Pulling from library/busybox", "id": "latest"}),
            "n1",
        );
        assert_eq!(v["status"], "n1: Pulling from library/busybox");
        assert_eq!(v["id"], "latest");
        let v = prefix_line(
            json!({"error": "not found", "errorDetail": {"message": "not found"}}),
            "n2",
        );
        assert_eq!(v["error"], "n2: not found");
        assert_eq!(v["errorDetail"]["message"], "n2: not found");
    }
}
