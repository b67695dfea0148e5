//! The engine lifecycle against a fake engine on loopback: validation,
//! refusal, failure counting to unhealthy, reconnect, the manager's events,
//! and the cache fed by the engine's event stream.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use shoal_api_types::NodeStatus;
use shoal_engine::{Engine, EngineOpts, EventHub};
use tokio::net::TcpListener;

type FakeBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// A scriptable engine: answers what the lifecycle asks, or 500 when down.
struct Fake {
    down: AtomicBool,
    ncpu: AtomicI64,
    containers: Mutex<Vec<serde_json::Value>>,
    events: tokio::sync::broadcast::Sender<String>,
    /// Connections accepted, requests answered.
    accepted: AtomicUsize,
    requests: AtomicUsize,
}

impl Fake {
    fn new() -> Arc<Fake> {
        Arc::new(Fake {
            down: AtomicBool::new(false),
            ncpu: AtomicI64::new(2),
            containers: Mutex::new(Vec::new()),
            events: tokio::sync::broadcast::channel(16).0,
            accepted: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
        })
    }

    fn answer(&self, req: &Request<hyper::body::Incoming>) -> Response<FakeBody> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let json = |v: serde_json::Value| {
            let mut r = Response::new(Full::new(Bytes::from(v.to_string())).boxed());
            r.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            r
        };
        if self.down.load(Ordering::SeqCst) {
            let mut r = json(serde_json::json!({"message": "down for the test"}));
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            return r;
        }
        let path = req.uri().path();
        match path {
            "/_ping" => Response::new(Full::new(Bytes::from("OK")).boxed()),
            "/info" => json(
                serde_json::json!({"ID": "FAKE:ID", "Name": "fake-node", "NCPU": self.ncpu.load(Ordering::SeqCst),
                "MemTotal": 1024, "ServerVersion": "20.10.24", "OSType": "linux", "Driver": "overlay2", "Labels": ["zone=a"]}),
            ),
            "/version" => json(serde_json::json!({"Version": "20.10.24", "ApiVersion": "1.41"})),
            "/containers/json" => json(serde_json::Value::Array(
                self.containers.lock().unwrap().clone(),
            )),
            "/images/json" | "/networks" => json(serde_json::json!([])),
            "/volumes" => json(serde_json::json!({"Volumes": []})),
            "/events" => {
                let rx = self.events.subscribe();
                let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                    match rx.recv().await {
                        Ok(line) => Some((
                            Ok::<_, Infallible>(Frame::data(Bytes::from(line + "\n"))),
                            rx,
                        )),
                        Err(_) => None,
                    }
                });
                Response::new(StreamBody::new(stream).boxed())
            }
            p if p.starts_with("/containers/") && p.ends_with("/json") => {
                let id = p
                    .trim_start_matches("/containers/")
                    .trim_end_matches("/json");
                match self
                    .containers
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|c| c["Id"] == id)
                {
                    Some(c) => json(serde_json::json!({"Id": c["Id"], "Name": c["Names"][0],
                        "State": {"Status": "running", "Running": true}, "Config": {"Image": "busybox"},
                        "HostConfig": {"NanoCpus": 1_000_000_000, "Memory": 100}})),
                    None => {
                        let mut r = json(
                            serde_json::json!({"message": format!("No such container: {id}")}),
                        );
                        *r.status_mut() = StatusCode::NOT_FOUND;
                        r
                    }
                }
            }
            _ => {
                let mut r = json(serde_json::json!({"message": "page not found"}));
                *r.status_mut() = StatusCode::NOT_FOUND;
                r
            }
        }
    }

    async fn serve(self: Arc<Self>) -> String {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            loop {
                let (s, _) = l.accept().await.unwrap();
                self.accepted.fetch_add(1, Ordering::SeqCst);
                let fake = self.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let r = fake.answer(&req);
                        async move { Ok::<_, Infallible>(r) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(s), svc)
                        .await;
                });
            }
        });
        addr
    }
}

fn opts() -> EngineOpts {
    EngineOpts {
        refresh_min: Duration::from_millis(100),
        refresh_max: Duration::from_millis(200),
        failure_retry: 2,
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        ..EngineOpts::default()
    }
}

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..300 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test]
async fn lifecycle_connect_fail_reconnect() {
    let fake = Fake::new();
    fake.containers
        .lock()
        .unwrap()
        .push(serde_json::json!({"Id": "c1", "Names": ["/one"], "State": "running"}));
    let addr = fake.clone().serve().await;
    let hub = Arc::new(EventHub::new(64));
    let (_, mut events) = hub.subscribe(None);
    let engine = Engine::new(&addr, opts(), hub.clone()).unwrap();
    assert_eq!(engine.status(), NodeStatus::Pending);
    engine.start();
    until("healthy", || engine.is_healthy()).await;
    assert_eq!(engine.name(), "fake-node");
    assert_eq!(engine.snapshot().labels["zone"], "a");
    assert_eq!(
        engine.with_cache(|c| c.reserved(engine.snapshot().cpus)),
        (1, 100)
    );
    assert_eq!(events.recv().await.unwrap().action, "engine_connect");

    // an event from the engine updates the cache and reaches the hub, node-stamped
    fake.containers
        .lock()
        .unwrap()
        .push(serde_json::json!({"Id": "c2", "Names": ["/two"], "State": "running"}));
    until("event stream open", || fake.events.receiver_count() > 0).await;
    // validation, the full load and the checks since went one after the
    // other on one kept-alive connection; the event stream has its own
    assert_eq!(fake.accepted.load(Ordering::SeqCst), 2);
    let ev = serde_json::json!({"Type": "container", "Action": "start", "Actor": {"ID": "c2", "Attributes": {"name": "two"}},
        "time": 1, "timeNano": 1_000_000_001});
    fake.events.send(ev.to_string()).unwrap();
    let got = events.recv().await.unwrap();
    assert_eq!(got.action, "start");
    assert_eq!(got.node_name(), Some("fake-node"));
    until("container from the event cached", || {
        engine.with_cache(|c| c.has_name("two"))
    })
    .await;

    // failures count up to unhealthy, then one good refresh reconnects
    fake.down.store(true, Ordering::SeqCst);
    until("unhealthy", || engine.status() == NodeStatus::Unhealthy).await;
    assert_eq!(events.recv().await.unwrap().action, "engine_disconnect");
    assert!(engine.snapshot().error.contains("down for the test"));
    fake.down.store(false, Ordering::SeqCst);
    until("healthy again", || engine.is_healthy()).await;
    assert_eq!(events.recv().await.unwrap().action, "engine_reconnect");
    engine.stop();
}

#[tokio::test]
async fn an_engine_without_cpus_is_refused() {
    let fake = Fake::new();
    fake.ncpu.store(0, Ordering::SeqCst);
    let addr = fake.clone().serve().await;
    let engine = Engine::new(&addr, opts(), Arc::new(EventHub::new(8))).unwrap();
    engine.start();
    until("refusal recorded", || {
        engine.snapshot().error.contains("is this a swarm manager?")
    })
    .await;
    assert_eq!(engine.status(), NodeStatus::Pending);
    // once it reports CPUs, it is validated
    fake.ncpu.store(4, Ordering::SeqCst);
    until("healthy", || engine.is_healthy()).await;
    assert_eq!(engine.snapshot().cpus, 4);
    engine.stop();
}

#[tokio::test]
async fn short_calls_reuse_one_connection() {
    let fake = Fake::new();
    let addr = fake.clone().serve().await;
    let client = shoal_engine::Client::new(
        shoal_engine::Endpoint::parse(&addr).unwrap(),
        Duration::from_secs(2),
        Duration::from_secs(2),
    );
    for _ in 0..5 {
        assert_eq!(client.info().await.unwrap().name, "fake-node");
        assert!(client.inspect("nope").await.unwrap_err().is_not_found());
    }
    assert_eq!(fake.requests.load(Ordering::SeqCst), 10);
    assert_eq!(fake.accepted.load(Ordering::SeqCst), 1);
    // a long stream gets a connection of its own
    let _events = client.events(None).await.unwrap();
    client.ping().await.unwrap();
    assert_eq!(fake.accepted.load(Ordering::SeqCst), 2);
    assert_eq!(fake.requests.load(Ordering::SeqCst), 12);
}
