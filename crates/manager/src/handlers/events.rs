//! `GET /events`: every engine's events and the manager's own, merged.

use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use shoal_api_types::{Event, Filters};
use std::time::Duration;

use shoal_engine::{body, Engine};
use tokio::sync::broadcast::error::RecvError;

use crate::reply::{self, Reply};
use crate::route::Query;
use crate::Api;

/// A `since`/`until` value: unix seconds with an optional fraction, or
/// RFC 3339. Returns nanoseconds.
pub fn parse_time(s: &str) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    if let Some((secs, frac)) = s.split_once('.') {
        let secs: i64 = secs.parse().ok()?;
        let mut frac = frac.to_string();
        frac.truncate(9);
        while frac.len() < 9 {
            frac.push('0');
        }
        return Some(secs * 1_000_000_000 + frac.parse::<i64>().ok()?);
    }
    if let Ok(secs) = s.parse::<i64>() {
        return Some(secs * 1_000_000_000);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
}

/// Whether `e` passes the Docker event filters (plus `node`).
pub fn matches(e: &Event, f: &Filters) -> bool {
    let any = |name: &str, pred: &dyn Fn(&str) -> bool| {
        let vals = f.get(name);
        vals.is_empty() || vals.iter().any(|v| pred(v))
    };
    let attr = |k: &str| e.actor.attributes.get(k).map(String::as_str).unwrap_or("");
    let action = e.action.split(':').next().unwrap_or("");
    any("type", &|v| e.kind == v)
        && any("event", &|v| v == action || v == e.action)
        && any("container", &|v| {
            e.kind == "container" && (e.actor.id.starts_with(v) || attr("name") == v)
        })
        && any("image", &|v| {
            attr("image") == v || e.from == v || (e.kind == "image" && e.actor.id == v)
        })
        && any("network", &|v| {
            e.kind == "network" && (e.actor.id.starts_with(v) || attr("name") == v)
        })
        && any("volume", &|v| e.kind == "volume" && (e.actor.id == v))
        && any("node", &|v| {
            attr("node.name") == v || attr("node.id") == v || attr("node.addr") == v
        })
        && f.labels_match(&e.actor.attributes)
}

/// `secs.nanos`, the form engines take for `since` and `until`.
fn secs_nanos(n: i64) -> String {
    format!(
        "{}.{:09}",
        n.div_euclid(1_000_000_000),
        n.rem_euclid(1_000_000_000)
    )
}

/// What every healthy engine recorded between `since` and `upto`
/// (nanoseconds), stamped with its node. An engine that does not answer
/// within a few seconds contributes what it sent by then.
async fn engine_history(engines: Vec<Arc<Engine>>, since: i64, upto: i64) -> Vec<Event> {
    let calls = engines
        .into_iter()
        .filter(|e| e.is_healthy())
        .map(|e| async move {
            let mut out = Vec::new();
            let fetch = async {
                let mut lines = e
                    .client()
                    .events_between(Some(&secs_nanos(since)), Some(&secs_nanos(upto)))
                    .await?;
                let node = e.event_node();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(ev) = serde_json::from_slice::<Event>(&line) {
                        out.push(ev.with_node(&node));
                    }
                }
                Ok::<_, shoal_engine::EngineError>(())
            };
            if let Ok(Err(err)) = tokio::time::timeout(Duration::from_secs(5), fetch).await {
                tracing::debug!(engine = %e.addr(), "no event history: {err}");
            }
            out
        });
    futures_util::future::join_all(calls)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Streams events. With `since` in the past, the engines' own records
/// (stamped with their node) and the manager's engine events come first,
/// in time order; then live ones, until `until` (or for ever). Headers go
/// out at once.
pub fn events(api: &Arc<Api>, query: &Query) -> Reply {
    let filters = match Filters::parse(query.get("filters").unwrap_or("")) {
        Ok(f) => f,
        Err(e) => return reply::error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let since = query.get("since").and_then(parse_time);
    let until = query.get("until").and_then(parse_time);
    let (past, mut rx) = api.cluster.hub().subscribe(since);
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let engines = api.cluster.engines();
    let (tx, out) = body::channel(64);
    tokio::spawn(async move {
        let line = |e: &Event| {
            let mut v = serde_json::to_vec(e).unwrap_or_default();
            v.push(b'\n');
            Bytes::from(v)
        };
        // Engine events up to `boundary` come from the engines' records;
        // later ones (and every manager event) from the hub.
        let boundary = until.map_or(now, |u| u.min(now));
        let backlog: Vec<Event> = match since {
            Some(s) if s <= boundary => {
                let mut evs = engine_history(engines, s, boundary).await;
                // The hub adds the manager's own events and those of engines
                // that cannot answer now; what both have is kept once.
                let key = |e: &Event| {
                    let addr = e
                        .actor
                        .attributes
                        .get("node.addr")
                        .cloned()
                        .unwrap_or_default();
                    (addr, e.time_nano, e.action.clone(), e.actor.id.clone())
                };
                let seen: std::collections::HashSet<_> = evs.iter().map(key).collect();
                evs.extend(
                    past.iter()
                        .filter(|e| e.time_nano <= boundary && !seen.contains(&key(e)))
                        .map(|e| (**e).clone()),
                );
                evs.sort_by_key(|e| e.time_nano);
                evs
            }
            _ => Vec::new(),
        };
        for e in &backlog {
            if matches(e, &filters) && tx.send(line(e)).await.is_err() {
                return;
            }
        }
        if until.is_some_and(|u| u <= now) {
            return;
        }
        let deadline = until.map(|u| {
            let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
            tokio::time::Instant::now() + std::time::Duration::from_nanos((u - now).max(0) as u64)
        });
        // An engine event the engines' records already gave (it reached the
        // hub after this stream began); the manager's own events never are.
        let covered = |e: &Event| since.is_some() && e.kind != "engine" && e.time_nano <= boundary;
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, rx.recv()).await.ok(),
                    None => Some(rx.recv().await),
                }
            };
            tokio::select! {
                got = next => match got {
                    None => return, // until reached
                    Some(Ok(e)) => {
                        if until.is_some_and(|u| e.time_nano > u) {
                            return;
                        }
                        if covered(&e) {
                            continue;
                        }
                        if matches(&e, &filters) && tx.send(line(&e)).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(RecvError::Lagged(n))) => tracing::warn!("events subscriber lagged, {n} events skipped"),
                    Some(Err(RecvError::Closed)) => return,
                },
                _ = tx.closed() => return,
            }
        }
    });
    let mut r = Response::new(out);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_time_form() {
        assert_eq!(secs_nanos(10_000_000_001), "10.000000001");
        assert_eq!(secs_nanos(0), "0.000000000");
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("10"), Some(10_000_000_000));
        assert_eq!(parse_time("10.5"), Some(10_500_000_000));
        assert_eq!(parse_time("10.000000001"), Some(10_000_000_001));
        assert_eq!(parse_time("1970-01-01T00:00:10Z"), Some(10_000_000_000));
        assert_eq!(parse_time(""), None);
        assert_eq!(parse_time("x"), None);
    }

    #[test]
    fn filtering() {
        let mut e = Event {
            kind: "container".into(),
            action: "start".into(),
            ..Default::default()
        };
        e.actor.id = "abc123".into();
        e.actor.attributes.insert("name".into(), "web".into());
        e.actor.attributes.insert("node.name".into(), "n1".into());
        e.actor.attributes.insert("app".into(), "x".into());
        let f = |s: &str| Filters::parse(s).unwrap();
        assert!(matches(&e, &f("")));
        assert!(matches(
            &e,
            &f(r#"{"type":["container"],"event":["start"]}"#)
        ));
        assert!(!matches(&e, &f(r#"{"type":["image"]}"#)));
        assert!(matches(&e, &f(r#"{"container":["web"]}"#)));
        assert!(matches(&e, &f(r#"{"container":["abc"]}"#)));
        assert!(matches(&e, &f(r#"{"node":["n1"]}"#)));
        assert!(!matches(&e, &f(r#"{"node":["n2"]}"#)));
        assert!(matches(&e, &f(r#"{"label":["app=x"]}"#)));
        assert!(!matches(&e, &f(r#"{"label":["app=y"]}"#)));
    }
}
