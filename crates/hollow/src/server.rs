//! The Docker API of one hollow engine over HTTP/1.1 (hyper), routes with
//! and without the `/vX.Y` prefix, errors as `{"message": ...}`.

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use shoal_api_types::Filters;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};

use crate::create_body::CreateBody;
use crate::engine::{EventRecord, HollowEngine, WaitCondition, WaitStart};
use crate::error::HollowError;

pub type Body = UnsyncBoxBody<Bytes, Infallible>;
pub type Reply = Response<Body>;

fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into()).boxed_unsync()
}

fn empty() -> Body {
    Empty::<Bytes>::new().boxed_unsync()
}

/// A body fed by a channel, each chunk flushed as it comes.
fn channel(capacity: usize) -> (mpsc::Sender<Bytes>, Body) {
    let (tx, rx) = mpsc::channel::<Bytes>(capacity);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    (tx, StreamBody::new(stream).boxed_unsync())
}

fn json_reply(status: StatusCode, v: &Value) -> Reply {
    text_reply(status, serde_json::to_vec(v).unwrap_or_default())
}

/// A reply of JSON text already written.
fn text_reply(status: StatusCode, text: Vec<u8>) -> Reply {
    let mut r = Response::new(full(text));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn status_only(status: StatusCode) -> Reply {
    let mut r = Response::new(empty());
    *r.status_mut() = status;
    r
}

fn error_reply(status: StatusCode, message: &str) -> Reply {
    json_reply(status, &json!({ "message": message }))
}

fn from_error(e: HollowError) -> Reply {
    match e {
        HollowError::NotModified => status_only(StatusCode::NOT_MODIFIED),
        other => error_reply(other.status(), &other.to_string()),
    }
}

fn done(r: Result<(), HollowError>) -> Reply {
    match r {
        Ok(()) => status_only(StatusCode::NO_CONTENT),
        Err(e) => from_error(e),
    }
}

/// The query string, decoded.
#[derive(Debug, Default)]
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: Option<&str>) -> Self {
        Query(
            form_urlencoded::parse(q.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    /// Go's strconv.ParseBool as dockerd reads flags (`1`, `true`, ...).
    fn flag(&self, k: &str) -> bool {
        matches!(
            self.get(k),
            Some("1" | "true" | "True" | "TRUE" | "t" | "T")
        )
    }
}

/// The path without its `/vX.Y` prefix, split into percent-decoded
/// segments (borrowed from `path` unless decoded).
pub fn segments(path: &str) -> Vec<Cow<'_, str>> {
    let mut segs: Vec<Cow<'_, str>> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            if !s.contains(['%', '+']) {
                return Cow::Borrowed(s);
            }
            Cow::Owned(
                form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default(),
            )
        })
        .collect();
    let versioned = segs.first().is_some_and(|s| {
        s.len() > 1 && s.starts_with('v') && s[1..].chars().all(|c| c.is_ascii_digit() || c == '.')
    });
    if versioned {
        segs.remove(0);
    }
    segs
}

/// Unix time `secs[.nanos]` (as `since`/`until` carry it) to nanoseconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut nanos: i64 = 0;
    if !frac.is_empty() {
        let f: String = frac.chars().take(9).collect();
        nanos = f.parse::<i64>().ok()? * 10i64.pow(9 - f.len() as u32);
    }
    Some(secs * 1_000_000_000 + nanos)
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, Reply> {
    Ok(req
        .into_body()
        .collect()
        .await
        .map_err(|e| error_reply(StatusCode::BAD_REQUEST, &format!("reading body: {e}")))?
        .to_bytes())
}

async fn read_json(req: Request<Incoming>) -> Result<Value, Reply> {
    let bytes = read_body(req).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| error_reply(StatusCode::BAD_REQUEST, &format!("invalid JSON: {e}")))
}

/// Requests answered by this process, by route (method and path with IDs
/// as `*`): where the manager's engine traffic goes.
static ROUTES: std::sync::Mutex<std::collections::BTreeMap<String, u64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// The counts of [`ROUTES`], as `METHOD /path=N` items.
pub fn route_counts() -> Vec<String> {
    ROUTES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(k, n)| format!("{k}={n}"))
        .collect()
}

/// The [`ROUTES`] key of a request: method, then the path with IDs as `*`.
fn route_key(method: &Method, path: &str, key: &mut String) {
    key.push_str(method.as_str());
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        let id = seg.len() >= 12 && seg.bytes().all(|b| b.is_ascii_hexdigit());
        key.push_str(if id { "/*" } else { "/" });
        if !id {
            key.push_str(seg);
        }
    }
}

fn count_route(method: &Method, path: &str) {
    thread_local! {
        /// The key is written here: no allocation for a route seen before.
        static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    KEY.with_borrow_mut(|key| {
        key.clear();
        route_key(method, path, key);
        let mut routes = ROUTES.lock().unwrap_or_else(|p| p.into_inner());
        match routes.get_mut(key.as_str()) {
            Some(n) => *n += 1,
            None => {
                routes.insert(key.clone(), 1);
            }
        }
    });
}

/// Answers one request.
pub async fn handle(engine: Arc<HollowEngine>, req: Request<Incoming>) -> Reply {
    engine.count_request();
    count_route(req.method(), req.uri().path());
    // A handle on the URI's bytes (no copy), borrowed from while the body
    // is read.
    let uri = req.uri().clone();
    let segs = segments(uri.path());
    let query = Query::parse(uri.query());
    let method = req.method().clone();
    let s: Vec<&str> = segs.iter().map(|s| s.as_ref()).collect();
    match (&method, s.as_slice()) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => ping(&method),
        (&Method::GET, ["version"]) => json_reply(StatusCode::OK, &crate::shapes::version()),
        (&Method::GET, ["info"]) => json_reply(StatusCode::OK, &engine.info()),
        (&Method::GET, ["events"]) => events(&engine, &query),
        (&Method::GET, ["containers", "json"]) => list(&engine, &query),
        (&Method::POST, ["containers", "create"]) => {
            let body = match read_body(req).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let body = match CreateBody::parse(&body) {
                Ok(b) => b,
                Err(e) => return from_error(e),
            };
            match engine.create(query.get("name"), &body) {
                Ok(id) => text_reply(
                    StatusCode::CREATED,
                    format!(r#"{{"Id":"{id}","Warnings":[]}}"#).into_bytes(),
                ),
                Err(e) => from_error(e),
            }
        }
        (&Method::DELETE, ["containers", id]) => done(engine.remove(id, query.flag("force"))),
        (&Method::GET, ["containers", id, "json"]) => match engine.inspect(id) {
            Ok(text) => text_reply(StatusCode::OK, text),
            Err(e) => from_error(e),
        },
        (&Method::GET, ["containers", id, "logs"]) => match engine.inspect(id) {
            Ok(_) => status_only(StatusCode::OK),
            Err(e) => from_error(e),
        },
        (&Method::POST, ["containers", id, op]) => container_op(&engine, id, op, &query),
        (&Method::GET, ["images", "json"]) => {
            json_reply(StatusCode::OK, &Value::Array(engine.images()))
        }
        (&Method::POST, ["images", "create"]) => pull(&engine, &query),
        (&Method::GET, ["images", rest @ .., "json"]) if !rest.is_empty() => {
            match engine.image_inspect(&rest.join("/")) {
                Ok(v) => json_reply(StatusCode::OK, &v),
                Err(e) => from_error(e),
            }
        }
        (&Method::DELETE, ["images", rest @ ..]) if !rest.is_empty() => {
            match engine.remove_image(&rest.join("/"), query.flag("force")) {
                Ok(v) => json_reply(StatusCode::OK, &v),
                Err(e) => from_error(e),
            }
        }
        (&Method::GET, ["networks"]) => {
            json_reply(StatusCode::OK, &Value::Array(engine.networks()))
        }
        (&Method::POST, ["networks", "create"]) => {
            let body = match read_json(req).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            match engine.create_network(&body) {
                Ok(v) => json_reply(StatusCode::CREATED, &v),
                Err(e) => from_error(e),
            }
        }
        (&Method::GET, ["networks", id]) => match engine.network(id) {
            Ok(v) => json_reply(StatusCode::OK, &v),
            Err(e) => from_error(e),
        },
        (&Method::DELETE, ["networks", id]) => done(engine.remove_network(id)),
        (&Method::POST, ["networks", id, "connect" | "disconnect"]) => match engine.network(id) {
            Ok(_) => status_only(StatusCode::OK),
            Err(e) => from_error(e),
        },
        (&Method::GET, ["volumes"]) => json_reply(StatusCode::OK, &engine.volumes()),
        (&Method::POST, ["volumes", "create"]) => {
            let body = match read_json(req).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            json_reply(StatusCode::CREATED, &engine.create_volume(&body))
        }
        (&Method::GET, ["volumes", name]) => match engine.volume(name) {
            Ok(v) => json_reply(StatusCode::OK, &v),
            Err(e) => from_error(e),
        },
        (&Method::DELETE, ["volumes", name]) => done(engine.remove_volume(name)),
        _ => error_reply(StatusCode::NOT_FOUND, "page not found"),
    }
}

fn ping(method: &Method) -> Reply {
    let body = if method == Method::HEAD {
        empty()
    } else {
        full("OK")
    };
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        "api-version",
        HeaderValue::from_static(crate::shapes::API_VERSION),
    );
    h.insert("ostype", HeaderValue::from_static("linux"));
    h.insert("docker-experimental", HeaderValue::from_static("false"));
    h.insert("builder-version", HeaderValue::from_static("2"));
    h.insert(
        "cache-control",
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert("pragma", HeaderValue::from_static("no-cache"));
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn list(engine: &HollowEngine, query: &Query) -> Reply {
    let filters = match Filters::parse(query.get("filters").unwrap_or("")) {
        Ok(f) => f,
        Err(e) => return error_reply(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .filter(|l| *l > 0)
        .map(|l| l as usize);
    let all = query.flag("all") || limit.is_some();
    json_reply(
        StatusCode::OK,
        &Value::Array(engine.list(all, &filters, limit)),
    )
}

fn container_op(engine: &Arc<HollowEngine>, id: &str, op: &str, query: &Query) -> Reply {
    match op {
        "start" => done(engine.start(id)),
        "stop" => done(engine.stop(id)),
        "kill" => done(engine.kill(id)),
        "restart" => done(engine.restart(id)),
        "pause" => done(engine.pause(id, true)),
        "unpause" => done(engine.pause(id, false)),
        "rename" => done(engine.rename(id, query.get("name").unwrap_or(""))),
        "wait" => {
            let cond = match WaitCondition::parse(query.get("condition").unwrap_or("")) {
                Ok(c) => c,
                Err(e) => return from_error(e),
            };
            match engine.wait(id, cond) {
                Ok(start) => wait(start, cond),
                Err(e) => from_error(e),
            }
        }
        _ => error_reply(StatusCode::NOT_FOUND, "page not found"),
    }
}

fn wait_body(code: i64) -> Bytes {
    Bytes::from(format!("{{\"Error\":null,\"StatusCode\":{code}}}\n"))
}

/// The 200 goes out at once; the body when the condition is met.
fn wait(start: WaitStart, cond: WaitCondition) -> Reply {
    let (tx, body) = channel(1);
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    match start {
        WaitStart::Done(code) => {
            // A fresh channel of capacity 1 always has room.
            let _ = tx.try_send(wait_body(code));
        }
        WaitStart::Watch { id, mut rx } => {
            let want = if cond == WaitCondition::Removed {
                "destroy"
            } else {
                "die"
            };
            tokio::spawn(async move {
                let mut code = 0;
                loop {
                    match rx.recv().await {
                        Ok(ev) => {
                            let Ok(v) = serde_json::from_slice::<Value>(&ev.line) else {
                                continue;
                            };
                            if v["Actor"]["ID"] != id.as_str() {
                                continue;
                            }
                            if v["Action"] == "die" {
                                code = v["Actor"]["Attributes"]["exitCode"]
                                    .as_str()
                                    .and_then(|c| c.parse().ok())
                                    .unwrap_or(0);
                            }
                            if v["Action"] == want {
                                let _ = tx.send(wait_body(code)).await;
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            });
        }
    }
    r
}

fn pull(engine: &HollowEngine, query: &Query) -> Reply {
    let from = query.get("fromImage").unwrap_or("");
    let tag = query.get("tag").unwrap_or("");
    match engine.pull(from, tag) {
        Ok(reference) => {
            let (repo, tag) = reference.rsplit_once(':').unwrap_or((&reference, "latest"));
            let lines = [
                json!({"status": format!("Pulling from {repo}"), "id": tag}),
                json!({"status": format!("Digest: sha256:{}", crate::engine::image_digest(&reference))}),
                json!({"status": format!("Status: Downloaded newer image for {reference}")}),
            ];
            let mut text = String::new();
            for l in lines {
                text.push_str(&l.to_string());
                text.push_str("\r\n");
            }
            let mut r = Response::new(full(text));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        Err(e) => from_error(e),
    }
}

/// What an `/events` answer still has to send.
struct EventFeed {
    replay: std::vec::IntoIter<EventRecord>,
    rx: broadcast::Receiver<EventRecord>,
    /// Unix nanoseconds: the last event time to send.
    until: Option<i64>,
    /// When `until` comes.
    deadline: Option<tokio::time::Instant>,
}

impl EventFeed {
    fn keeps(&self, e: &EventRecord) -> bool {
        self.until.is_none_or(|u| e.time_nano <= u)
    }

    /// The next line to send, `None` once the answer ends.
    async fn next(&mut self) -> Option<Bytes> {
        while let Some(e) = self.replay.next() {
            if self.keeps(&e) {
                return Some(e.line);
            }
        }
        loop {
            let next = match self.deadline {
                Some(d) => tokio::time::timeout_at(d, self.rx.recv()).await.ok()?,
                None => self.rx.recv().await,
            };
            match next {
                Ok(e) if self.keeps(&e) => return Some(e.line),
                Ok(_) | Err(broadcast::error::RecvError::Closed) => return None,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
            }
        }
    }
}

/// `GET /events[?since=&until=]`: replay, then live lines until `until`;
/// the body reads the engine's event channel itself (no task, no second
/// channel per stream).
fn events(engine: &HollowEngine, query: &Query) -> Reply {
    let since = query.get("since").and_then(parse_timestamp);
    let until = query.get("until").and_then(parse_timestamp);
    let (replay, rx) = engine.subscribe(since);
    let now = crate::engine::now_nanos();
    let deadline = until.map(|u| {
        tokio::time::Instant::now() + Duration::from_nanos(u.saturating_sub(now).max(0) as u64)
    });
    let feed = EventFeed {
        replay: replay.into_iter(),
        rx,
        until,
        deadline,
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        let line = feed.next().await?;
        Some((Ok::<_, Infallible>(Frame::data(line)), feed))
    });
    let mut r = Response::new(StreamBody::new(stream).boxed_unsync());
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Serves one engine on `listener` until the task is dropped. Accept
/// errors (out of file descriptors) pause the loop briefly instead of
/// ending it. Give the listener `TCP_NODELAY` (as [`crate::Fleet`] does):
/// on Linux the connections it accepts inherit it, with no `setsockopt`
/// per connection; elsewhere each connection is set.
pub async fn serve(listener: TcpListener, engine: Arc<HollowEngine>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        #[cfg(not(target_os = "linux"))]
        let _ = stream.set_nodelay(true);
        engine.count_connection();
        let engine = engine.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let engine = engine.clone();
                async move { Ok::<_, Infallible>(handle(engine, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(crate::accepted::Accepted(stream)), svc)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_counted_with_ids_as_stars() {
        let mut key = String::new();
        route_key(
            &Method::POST,
            "/v1.41/containers/0123456789abcdef0123/start",
            &mut key,
        );
        assert_eq!(key, "POST/v1.41/containers/*/start");
        key.clear();
        route_key(&Method::GET, "/containers/web/json", &mut key);
        assert_eq!(key, "GET/containers/web/json");
        count_route(&Method::DELETE, "/test-route/0123456789abcdef");
        count_route(&Method::DELETE, "/test-route/fedcba9876543210");
        assert!(route_counts().contains(&"DELETE/test-route/*=2".to_string()));
    }

    #[test]
    fn paths_and_times() {
        assert_eq!(segments("/v1.41/containers/json"), ["containers", "json"]);
        assert_eq!(
            segments("/containers/a%2Fb/json"),
            ["containers", "a/b", "json"]
        );
        assert_eq!(segments("/version"), ["version"]);
        assert_eq!(segments("/v/x"), ["v", "x"]);
        assert_eq!(parse_timestamp("12"), Some(12_000_000_000));
        assert_eq!(parse_timestamp("12.5"), Some(12_500_000_000));
        assert_eq!(parse_timestamp("1.000000001"), Some(1_000_000_001));
        assert_eq!(parse_timestamp("x"), None);
        let q = Query::parse(Some("all=1&force=true&name=a%20b"));
        assert!(q.flag("all") && q.flag("force") && !q.flag("size"));
        assert_eq!(q.get("name"), Some("a b"));
    }
}
