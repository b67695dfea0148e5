//! The API surface without engines: routing with and without the version
//! prefix, the ping headers, errors as JSON with the right status, CORS.

use std::time::Duration;

use http_body_util::BodyExt;
use hyper::{Method, Request, StatusCode};
use serde_json::Value;
use shoal_cluster::{Cluster, ClusterOpts};
use shoal_engine::{body, Client, Endpoint};
use shoal_manager::{serve, Api, Listener};
use shoal_scheduler::{Scheduler, SchedulerConfig};

async fn manager(cors: bool) -> Client {
    let scheduler = Scheduler::new(&SchedulerConfig::default()).unwrap();
    let cluster = Cluster::new(scheduler, ClusterOpts::default());
    let api = Api::new(cluster, cors);
    let l = Listener::bind("tcp://127.0.0.1:0").await.unwrap();
    let addr = l.local_addr();
    tokio::spawn(serve(api, l));
    Client::new(
        Endpoint::parse(&addr).unwrap(),
        Duration::from_secs(5),
        Duration::from_secs(5),
    )
}

async fn raw(c: &Client, method: Method, path: &str) -> (StatusCode, hyper::HeaderMap, Vec<u8>) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .body(body::empty())
        .unwrap();
    let resp = c.send(req).await.unwrap();
    let (parts, b) = resp.into_parts();
    (
        parts.status,
        parts.headers,
        b.collect().await.unwrap().to_bytes().to_vec(),
    )
}

#[tokio::test]
async fn ping_has_the_headers_the_cli_reads() {
    let c = manager(false).await;
    for method in [Method::HEAD, Method::GET] {
        let (status, h, body) = raw(&c, method.clone(), "/_ping").await;
        // no engine at all: unavailable, with every header the CLI reads
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(h["shoal-health"], "unavailable");
        assert_eq!(h["api-version"], "1.41");
        assert_eq!(h["ostype"], "linux");
        assert_eq!(h["docker-experimental"], "false");
        assert_eq!(h["swarm"], "inactive");
        assert!(h.contains_key("builder-version"));
        assert_eq!(
            body,
            if method == Method::GET {
                b"OK".to_vec()
            } else {
                vec![]
            }
        );
    }
}

#[tokio::test]
async fn routes_with_and_without_version_prefix() {
    let c = manager(false).await;
    for path in ["/version", "/v1.41/version", "/v1.24/version"] {
        let v: Value = c.get_json(path).await.unwrap();
        assert_eq!(v["ApiVersion"], "1.41");
        assert_eq!(v["MinAPIVersion"], "1.12");
        assert!(v["Components"][0]["Details"]
            .as_object()
            .unwrap()
            .values()
            .all(Value::is_string));
    }
    let info: Value = c.get_json("/v1.41/info").await.unwrap();
    assert_eq!(info["Swarm"]["LocalNodeState"], "inactive");
    let status: Vec<(String, String)> =
        serde_json::from_value(info["SystemStatus"].clone()).unwrap();
    assert_eq!(status[0], ("Role".into(), "primary".into()));
    assert_eq!(status[1], ("Strategy".into(), "spread".into()));
    assert_eq!(status[3], ("Nodes".into(), "0".into()));
    let list: Vec<Value> = c.get_json("/v1.41/containers/json?all=1").await.unwrap();
    assert!(list.is_empty());
    let events_filters = "/v1.41/events?since=0&until=1";
    let (status, _, body) = raw(&c, Method::GET, events_filters).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_empty(), "no event before the epoch's first second");
}

#[tokio::test]
async fn errors_are_json_with_the_right_status() {
    let c = manager(false).await;
    let cases = [
        (
            Method::GET,
            "/v1.41/containers/nope/json",
            StatusCode::NOT_FOUND,
            "No such container: nope",
        ),
        (
            Method::POST,
            "/containers/node-x/nope/start",
            StatusCode::NOT_FOUND,
            "No such container: node-x/nope",
        ),
        (
            Method::GET,
            "/v1.41/exec/abc/json",
            StatusCode::NOT_FOUND,
            "No such exec instance: abc",
        ),
        (
            Method::GET,
            "/v1.41/swarm",
            StatusCode::NOT_FOUND,
            "swarm mode is not available",
        ),
        (
            Method::GET,
            "/v1.41/services",
            StatusCode::NOT_FOUND,
            "swarm mode is not available",
        ),
        (
            Method::GET,
            "/v1.41/no/such/route",
            StatusCode::NOT_FOUND,
            "page not found",
        ),
        (
            Method::GET,
            "/containers/json?filters=notjson",
            StatusCode::BAD_REQUEST,
            "invalid filter",
        ),
        (
            Method::POST,
            "/containers/create",
            StatusCode::BAD_REQUEST,
            "config cannot be empty",
        ),
    ];
    for (method, path, want, text) in cases {
        let (status, h, body) = raw(&c, method, path).await;
        assert_eq!(status, want, "{path}");
        assert_eq!(h["content-type"], "application/json", "{path}");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert!(v["message"].as_str().unwrap().contains(text), "{path}: {v}");
    }
    // a create with no node to run on
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1.41/containers/create?name=x")
        .header("content-type", "application/json")
        .body(body::full(r#"{"Image":"busybox","Cmd":["true"]}"#))
        .unwrap();
    let resp = c.send(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let v: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(v["message"], "No healthy node available in the cluster");
}

#[tokio::test]
async fn cors_when_enabled() {
    let c = manager(true).await;
    let (status, h, _) = raw(&c, Method::OPTIONS, "/v1.41/containers/json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["access-control-allow-origin"], "*");
    let plain = manager(false).await;
    let (_, h, _) = raw(&plain, Method::GET, "/_ping").await;
    assert!(!h.contains_key("access-control-allow-origin"));
}

/// A create body that is not a JSON object: a 400 whose message is what
/// it always was (serde_json's error for the whole body, with its
/// position), before any node is looked for.
#[tokio::test]
async fn malformed_create_bodies_get_400_with_the_json_error() {
    let c = manager(false).await;
    let mut cases: Vec<(&[u8], String)> = Vec::new();
    for text in [
        &b"{"[..],
        b"{\"Image\":\"busybox\",}",
        b"{\"Image\":\"busybox\"} trailing",
        b"{\"Image\":\"busybox\",\"HostConfig\":{\"Memory\":[1,}}",
        b"{\"Image\":\"bus\xffbox\"}",
        b"\x00\x01",
    ] {
        let e = serde_json::from_slice::<Value>(text).unwrap_err();
        cases.push((text, format!("invalid JSON body: {e}")));
    }
    let empty = "config cannot be empty in order to create a container";
    cases.push((b" \n", empty.into()));
    cases.push((b"null", empty.into()));
    for not_object in [&b"[]"[..], b"\"busybox\"", b"12"] {
        cases.push((not_object, "container config must be a JSON object".into()));
    }
    for (text, want) in cases {
        let req = Request::builder()
            .method(Method::POST)
            .uri("/v1.41/containers/create")
            .header("content-type", "application/json")
            .body(body::full(text.to_vec()))
            .unwrap();
        let resp = c.send(req).await.unwrap();
        let shown = String::from_utf8_lossy(text).to_string();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{shown}");
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["message"], want.as_str(), "{shown}");
    }
}
