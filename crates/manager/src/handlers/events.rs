//! `GET /events`: every engine's events and the manager's own, merged.

use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use shoal_api_types::{Event, Filters};
use shoal_engine::body;
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

/// Streams events: the kept ones since `since`, then live ones, until
/// `until` (or for ever). Headers go out at once.
pub fn events(api: &Arc<Api>, query: &Query) -> Reply {
    let filters = match Filters::parse(query.get("filters").unwrap_or("")) {
        Ok(f) => f,
        Err(e) => return reply::error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let since = query.get("since").and_then(parse_time);
    let until = query.get("until").and_then(parse_time);
    let (past, mut rx) = api.cluster.hub().subscribe(since);
    let (tx, out) = body::channel(64);
    tokio::spawn(async move {
        let line = |e: &Event| {
            let mut v = serde_json::to_vec(e).unwrap_or_default();
            v.push(b'\n');
            Bytes::from(v)
        };
        for e in past
            .iter()
            .filter(|e| until.is_none_or(|u| e.time_nano <= u))
        {
            if matches(e, &filters) && tx.send(line(e)).await.is_err() {
                return;
            }
        }
        let deadline = until.map(|u| {
            let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
            tokio::time::Instant::now() + std::time::Duration::from_nanos((u - now).max(0) as u64)
        });
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
