//! Dispatch of every API route to its handler.

mod containers;
mod events;
mod exec;
mod fanout;
mod images;
mod networks;
mod system;
mod volumes;

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::Value;

use crate::reply::{self, Reply};
use crate::route::{Path, Query};
use crate::Api;

/// How long an aggregated list waits for one engine before using what the
/// cache knows of it: a slow engine never holds the others up for long.
pub(crate) const LIST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Answers one request.
pub async fn handle(api: Arc<Api>, req: Request<Incoming>) -> Reply {
    let path = Path::parse(req.uri().path());
    let query = Query::parse(req.uri().query());
    tracing::debug!(method = %req.method(), uri = %req.uri(), "request");
    let mut reply = route(&api, req, &path, query).await;
    reply::stamp(reply.headers_mut(), api.cors);
    reply
}

async fn route(api: &Arc<Api>, req: Request<Incoming>, path: &Path, query: Query) -> Reply {
    let segs = path.strs();
    let m = req.method().clone();
    if m == Method::OPTIONS {
        return reply::status_only(StatusCode::OK);
    }
    match (&m, segs.as_slice()) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => system::ping(&m),
        (&Method::GET, ["version"]) => system::version(api),
        (&Method::GET, ["info"]) => system::info(api),
        (&Method::GET, ["events"]) => events::events(api, &query),
        (&Method::GET, ["containers", "json"]) => containers::list(api, query).await,
        (&Method::POST, ["containers", "create"]) => containers::create(api, req, &query).await,
        (&Method::POST, ["containers", "prune"]) => {
            fanout::prune(api, path, "/containers/prune", &query).await
        }
        (_, ["containers", rest @ ..]) if !rest.is_empty() => {
            containers::op(api, req, path, query).await
        }
        (&Method::POST, ["commit"]) => containers::commit(api, req, path, query).await,
        (_, ["exec", id, ..]) => exec::op(api, req, path, id, query).await,
        (&Method::GET, ["images", "json"]) => images::list(api, query).await,
        (&Method::POST, ["images", "create"]) => images::create(api, req, path, query).await,
        (&Method::POST, ["images", "load"]) => images::load(api, req, path, query).await,
        (&Method::POST, ["images", "prune"]) => {
            fanout::prune(api, path, "/images/prune", &query).await
        }
        (&Method::GET, ["images", "search"]) => images::search(api, req, path, query).await,
        (&Method::GET, ["images", "get"]) => images::save(api, req, path, query).await,
        (_, ["images", rest @ ..]) if !rest.is_empty() => images::op(api, req, path, query).await,
        (&Method::GET, ["networks"]) => networks::list(api, query).await,
        (&Method::POST, ["networks", "create"]) => networks::create(api, req, path).await,
        (&Method::POST, ["networks", "prune"]) => {
            fanout::prune(api, path, "/networks/prune", &query).await
        }
        (_, ["networks", rest @ ..]) if !rest.is_empty() => {
            networks::op(api, req, path, query).await
        }
        (&Method::GET, ["volumes"]) => volumes::list(api, query).await,
        (&Method::POST, ["volumes", "create"]) => volumes::create(api, req, path).await,
        (&Method::POST, ["volumes", "prune"]) => {
            fanout::prune(api, path, "/volumes/prune", &query).await
        }
        (_, ["volumes", rest @ ..]) if !rest.is_empty() => volumes::op(api, req, path, query).await,
        (&Method::GET, ["system", "df"]) => {
            fanout::all(api, Method::GET, path, "/system/df", &query).await
        }
        (&Method::POST, ["build"]) => images::build(api, req, path, query).await,
        (&Method::POST, ["auth"]) => match api.cluster.healthy_engines().first() {
            Some(e) => {
                crate::proxy::forward(e, req, &format!("{}/auth", path.engine_prefix())).await
            }
            None => reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "No healthy node available in the cluster",
            ),
        },
        (_, ["swarm" | "nodes" | "services" | "tasks" | "secrets" | "configs", ..]) => {
            reply::error(
                StatusCode::NOT_FOUND,
                "swarm mode is not available: this is a classic (standalone) Swarm manager",
            )
        }
        _ => reply::not_found_route(),
    }
}

/// Reads a whole (small) request body.
pub(crate) async fn read_body(
    req: Request<Incoming>,
) -> Result<(hyper::http::request::Parts, Bytes), Reply> {
    let (parts, body) = req.into_parts();
    // Bodies read whole are JSON documents (a create is ~2 KB); streams
    // (image load/import, archives) never come through here.
    let limited = http_body_util::Limited::new(body, MAX_JSON_BODY);
    let bytes = limited
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                reply::error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body larger than {} bytes", MAX_JSON_BODY),
                )
            } else {
                reply::error(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read request body: {e}"),
                )
            }
        })?
        .to_bytes();
    Ok((parts, bytes))
}

/// The largest JSON body the manager reads whole.
pub(crate) const MAX_JSON_BODY: usize = 4 << 20;

/// What an aggregated list (`/images/json`, `/networks`, `/volumes`) asks
/// of the engines: the path with the query minus Shoal's own `node` filter,
/// and the healthy engines that filter keeps.
pub(crate) fn node_scoped_list(
    api: &Arc<Api>,
    query: &mut Query,
    base: &str,
) -> Result<(String, Vec<Arc<shoal_engine::Engine>>), Reply> {
    let mut filters = shoal_api_types::Filters::parse(query.get("filters").unwrap_or(""))
        .map_err(|e| reply::error(StatusCode::BAD_REQUEST, e.to_string()))?;
    let nodes = filters.take("node");
    if filters.is_empty() {
        query.remove("filters");
    } else {
        query.set("filters", &filters.to_json());
    }
    let engines = api
        .cluster
        .healthy_engines()
        .into_iter()
        .filter(|e| nodes.is_empty() || nodes.contains(&e.name()))
        .collect();
    Ok((format!("{base}{}", query.suffix()), engines))
}

/// Parses a JSON request body (an empty body is `null`).
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, Reply> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes)
        .map_err(|e| reply::error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

/// The answer for a cluster error.
pub(crate) fn cluster_error(e: &shoal_cluster::ClusterError) -> Reply {
    reply::error(e.status(), e.to_string())
}

/// Unix time now, seconds.
pub(crate) fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}
