//! Calls sent to every healthy engine, answers merged.

use std::sync::Arc;

use hyper::{Method, StatusCode};
use serde_json::Value;

use crate::reply::{self, Reply};
use crate::route::{Path, Query};
use crate::Api;

/// Merges JSON answers: arrays are concatenated, numbers added, objects
/// merged key by key; anything else keeps the first value.
pub fn merge(into: &mut Value, other: Value) {
    match (into, other) {
        (Value::Array(a), Value::Array(b)) => a.extend(b),
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) if !existing.is_null() => merge(existing, v),
                    _ => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (Value::Number(a), Value::Number(b)) => {
            if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
                *a = (x + y).into();
            }
        }
        (slot @ Value::Null, v) => *slot = v,
        _ => {}
    }
}

/// `POST /{containers,images,networks,volumes}/prune` on every healthy engine.
pub async fn prune(api: &Arc<Api>, path: &Path, what: &str, query: &Query) -> Reply {
    let r = all(api, Method::POST, path, what, query).await;
    for e in api.cluster.healthy_engines() {
        tokio::spawn(async move {
            let _ = e.refresh_images().await;
            let _ = e.refresh_networks().await;
            let _ = e.refresh_volumes().await;
        });
    }
    r
}

/// The same call on every healthy engine, the JSON answers merged
/// (`/system/df`, prunes).
pub async fn all(api: &Arc<Api>, method: Method, path: &Path, what: &str, query: &Query) -> Reply {
    let upstream = format!("{}{}{}", path.engine_prefix(), what, query.suffix());
    let engines = api.cluster.healthy_engines();
    let calls = engines.iter().map(|e| {
        let upstream = upstream.clone();
        let method = method.clone();
        async move { e.client().call(method, &upstream, None).await }
    });
    let mut merged = Value::Null;
    for r in futures_util::future::join_all(calls).await {
        match r {
            Ok((_, bytes)) => merge(
                &mut merged,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            ),
            Err(e) => return reply::error(e.status(), e.to_string()),
        }
    }
    reply::json(StatusCode::OK, &merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merges_prune_answers() {
        let mut a = json!({"ContainersDeleted": ["a"], "SpaceReclaimed": 10});
        merge(
            &mut a,
            json!({"ContainersDeleted": ["b"], "SpaceReclaimed": 5}),
        );
        assert_eq!(
            a,
            json!({"ContainersDeleted": ["a", "b"], "SpaceReclaimed": 15})
        );
        let mut n = Value::Null;
        merge(
            &mut n,
            json!({"ContainersDeleted": null, "SpaceReclaimed": 0}),
        );
        merge(
            &mut n,
            json!({"ContainersDeleted": ["c"], "SpaceReclaimed": 1}),
        );
        assert_eq!(n, json!({"ContainersDeleted": ["c"], "SpaceReclaimed": 1}));
    }
}
