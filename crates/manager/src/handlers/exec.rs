//! `/exec/{id}/...`: start (hijacked), inspect, resize, on the exec's engine.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::Request;

use super::cluster_error;
use crate::reply::Reply;
use crate::route::{Path, Query};
use crate::{hijack, proxy, Api};

pub async fn op(
    api: &Arc<Api>,
    req: Request<Incoming>,
    path: &Path,
    id: &str,
    query: Query,
) -> Reply {
    let engine = match api.cluster.find_exec(id).await {
        Ok(e) => e,
        Err(e) => return cluster_error(&e),
    };
    let rest: Vec<&str> = path.strs().into_iter().skip(2).collect();
    let upstream = format!(
        "{}/exec/{}{}{}{}",
        path.engine_prefix(),
        shoal_engine::client::encode(id),
        if rest.is_empty() { "" } else { "/" },
        rest.join("/"),
        query.suffix()
    );
    if hijack::wants_upgrade(&req) {
        return hijack::proxy(&engine, req, &upstream).await;
    }
    proxy::forward(&engine, req, &upstream).await
}
