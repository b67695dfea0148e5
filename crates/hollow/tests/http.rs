//! A fleet of hollow engines over real loopback HTTP: what the manager's
//! engine client sends, answered in shapes the manager's types decode.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use shoal_api_types::{ContainerInspect, ContainerSummary, Event, ImageSummary, Info, Version};
use shoal_hollow::{EngineSpec, Fleet};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Opens a connection and sends one request, as the manager's client does.
async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> hyper::Response<hyper::body::Incoming> {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let data = body.map(|v| Bytes::from(v.to_string())).unwrap_or_default();
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .body(Full::new(data))
        .expect("request");
    sender.send_request(req).await.expect("send")
}

async fn call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Bytes) {
    let resp = send(addr, method, path, body).await;
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, bytes)
}

async fn json_of<T: serde::de::DeserializeOwned>(addr: SocketAddr, path: &str) -> T {
    let (status, bytes) = call(addr, Method::GET, path, None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{path}: {}",
        String::from_utf8_lossy(&bytes)
    );
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Reads one line of a streaming body within a second.
async fn next_line(body: &mut hyper::body::Incoming, buf: &mut Vec<u8>) -> Vec<u8> {
    loop {
        if let Some(i) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=i).collect();
            return line;
        }
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("a line within 5s")
            .expect("stream open")
            .expect("frame");
        if let Ok(d) = frame.into_data() {
            buf.extend_from_slice(&d);
        }
    }
}

#[tokio::test]
async fn engines_have_their_own_identity() {
    let specs = vec![
        EngineSpec::varied(0),
        EngineSpec::varied(1).with_size(3, 3 << 30),
    ];
    let fleet = Fleet::start(LOCALHOST, 0, specs).expect("fleet");
    let (a, b) = (fleet.engines()[0].0, fleet.engines()[1].0);
    let ia: Info = json_of(a, "/v1.41/info").await;
    let ib: Info = json_of(b, "/info").await;
    assert_ne!(ia.id, ib.id);
    assert_eq!(ia.name, "hollow-00000");
    assert_eq!((ib.ncpu, ib.mem_total), (3, 3 << 30));
    assert!(ia.labels.contains(&"zone=z0".to_string()));
    let v: Version = json_of(a, "/version").await;
    assert_eq!(v.api_version, "1.41");
    let ping = send(a, Method::HEAD, "/_ping", None).await;
    assert_eq!(ping.status(), StatusCode::OK);
    assert_eq!(ping.headers()["api-version"], "1.41");
    let (status, _) = call(a, Method::GET, "/v1.41/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn container_lifecycle_over_http_with_events_and_wait() {
    let fleet = Fleet::start_varied(LOCALHOST, 0, 5, 1).expect("fleet");
    let addr = fleet.engines()[0].0;

    let mut events = send(addr, Method::GET, "/events", None).await;
    assert_eq!(events.status(), StatusCode::OK);
    let events = events.body_mut();
    let mut buf = Vec::new();

    let body = json!({"Image": "busybox", "Cmd": ["sleep", "9"], "Labels": {"com.docker.swarm.id": "abc"},
                      "HostConfig": {"Memory": 4096}});
    let (status, bytes) = call(
        addr,
        Method::POST,
        "/v1.41/containers/create?name=web",
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = serde_json::from_slice::<Value>(&bytes).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, bytes) = call(
        addr,
        Method::POST,
        "/containers/create?name=web",
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(String::from_utf8_lossy(&bytes).contains("\"message\""));

    let ev: Event = serde_json::from_slice(&next_line(events, &mut buf).await).unwrap();
    assert_eq!(
        (ev.kind.as_str(), ev.action.as_str(), ev.actor.id.as_str()),
        ("container", "create", id.as_str())
    );

    // what the manager's refresh_container asks: inspect, then the list item by ID
    let i: ContainerInspect = json_of(addr, &format!("/containers/{id}/json")).await;
    assert_eq!(i.short_name(), "web");
    assert_eq!(i.host_config.memory, 4096);
    let filters = form_urlencoded::byte_serialize(format!("{{\"id\":[\"{id}\"]}}").as_bytes())
        .collect::<String>();
    let list: Vec<ContainerSummary> =
        json_of(addr, &format!("/containers/json?all=1&filters={filters}")).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].labels["com.docker.swarm.id"], "abc");

    // wait for the next exit: headers at once, body at the stop
    let mut waiter = send(
        addr,
        Method::POST,
        &format!("/v1.41/containers/{id}/wait?condition=next-exit"),
        None,
    )
    .await;
    assert_eq!(waiter.status(), StatusCode::OK);
    let (status, _) = call(
        addr,
        Method::POST,
        &format!("/v1.41/containers/{id}/start"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        addr,
        Method::POST,
        &format!("/v1.41/containers/{id}/start"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let running: Vec<ContainerSummary> = json_of(addr, "/containers/json").await;
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].state, "running");
    let (status, _) = call(addr, Method::POST, "/containers/web/stop", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let mut wbuf = Vec::new();
    let w: Value = serde_json::from_slice(&next_line(waiter.body_mut(), &mut wbuf).await).unwrap();
    assert_eq!(w["StatusCode"], 143);

    let actions: Vec<String> = {
        let mut out = Vec::new();
        for _ in 0..4 {
            let ev: Event = serde_json::from_slice(&next_line(events, &mut buf).await).unwrap();
            out.push(ev.action);
        }
        out
    };
    assert_eq!(actions, ["start", "kill", "die", "stop"]);

    let (status, _) = call(
        addr,
        Method::DELETE,
        &format!("/containers/{}", &id[..12]),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, bytes) = call(addr, Method::GET, &format!("/containers/{id}/json"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        serde_json::from_slice::<Value>(&bytes).unwrap()["message"],
        format!("No such container: {id}")
    );
    let all: Vec<ContainerSummary> = json_of(addr, "/containers/json?all=1").await;
    assert!(all.is_empty());
}

#[tokio::test]
async fn images_pull_networks_volumes() {
    let fleet = Fleet::start_varied(LOCALHOST, 0, 9, 1).expect("fleet");
    let addr = fleet.engines()[0].0;
    let (status, bytes) = call(
        addr,
        Method::POST,
        "/containers/create",
        Some(json!({"Image": "redis"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(String::from_utf8_lossy(&bytes).contains("No such image: redis:latest"));
    let (status, bytes) = call(
        addr,
        Method::POST,
        "/images/create?fromImage=docker.io%2Flibrary%2Fredis&tag=7",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let last = String::from_utf8_lossy(&bytes)
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert!(
        last.contains("Downloaded newer image for redis:7"),
        "{last}"
    );
    let images: Vec<ImageSummary> = json_of(addr, "/images/json").await;
    assert!(images.iter().any(|i| i.matches("redis:7")));
    let inspected: Value = json_of(addr, "/images/redis:7/json").await;
    assert_eq!(inspected["RepoTags"][0], "redis:7");
    let nets: Vec<Value> = json_of(addr, "/networks").await;
    let names: Vec<&str> = nets.iter().filter_map(|n| n["Name"].as_str()).collect();
    assert_eq!(names, ["bridge", "host", "none"]);
    let vols: Value = json_of(addr, "/volumes").await;
    assert_eq!(vols["Volumes"], json!([]));
}

#[tokio::test]
async fn hundreds_of_engines_in_one_process() {
    let fleet = Fleet::start_varied(LOCALHOST, 0, 0, 300).expect("fleet");
    assert_eq!(fleet.len(), 300);
    let infos = futures_util::future::join_all(
        fleet
            .engines()
            .iter()
            .map(|(addr, _)| json_of::<Info>(*addr, "/info")),
    )
    .await;
    let ids: std::collections::HashSet<&str> = infos.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids.len(), 300);
}

#[tokio::test]
async fn events_since_until_replay_then_end() {
    let fleet = Fleet::start_varied(LOCALHOST, 0, 4, 1).expect("fleet");
    let addr = fleet.engines()[0].0;
    let (status, bytes) = call(
        addr,
        Method::POST,
        "/containers/create?name=old",
        Some(json!({"Image": "busybox"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{bytes:?}");
    let id = serde_json::from_slice::<Value>(&bytes).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = call(addr, Method::POST, "/containers/old/start", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    // Both past events, then the answer ends (until is now): not a live stream.
    let path = format!(
        "/events?since={}&until={}.{:09}",
        now.as_secs() - 60,
        now.as_secs(),
        now.subsec_nanos()
    );
    let (status, bytes) =
        tokio::time::timeout(Duration::from_secs(5), call(addr, Method::GET, &path, None))
            .await
            .expect("the answer ends at until");
    assert_eq!(status, StatusCode::OK);
    let events: Vec<Event> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["create", "start"]);
    assert!(events
        .iter()
        .all(|e| e.actor.id == id && e.from == "busybox"));
    // An until in the future: live events until then, then the end.
    let until = now.as_secs_f64() + 1.5;
    let resp = send(
        addr,
        Method::GET,
        &format!("/events?until={until:.3}"),
        None,
    )
    .await;
    let (status, _) = call(addr, Method::POST, "/containers/old/stop", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let bytes = tokio::time::timeout(Duration::from_secs(5), resp.into_body().collect())
        .await
        .expect("the stream ends at until")
        .unwrap()
        .to_bytes();
    let lines = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    let actions: Vec<String> = lines
        .map(|l| serde_json::from_slice::<Event>(l).unwrap().action)
        .collect();
    assert_eq!(actions, ["kill", "die", "stop"]);
}

/// Reads a raw connection until the engine ends it (within 5 s).
async fn read_to_end(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut text = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut text))
        .await
        .expect("the engine ends the connection within 5s")
        .expect("read");
    String::from_utf8(text).expect("text")
}

#[tokio::test]
async fn connections_end_with_every_answer_sent() {
    use tokio::io::AsyncWriteExt;
    let fleet = Fleet::start_varied(LOCALHOST, 0, 5, 1).expect("fleet");
    let addr = fleet.engines()[0].0;
    // `Connection: close`: the answer whole, then the end of the stream.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /v1.41/_ping HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let text = read_to_end(&mut s).await;
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nOK"), "{text}");
    // Two requests kept alive, then the client's end: both answers, then
    // the engine's end.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"GET /_ping HTTP/1.1\r\nHost: e\r\n\r\nGET /v1.41/version HTTP/1.1\r\nHost: e\r\n\r\n",
    )
    .await
    .unwrap();
    s.shutdown().await.unwrap();
    let text = read_to_end(&mut s).await;
    assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{text}");
    assert!(text.ends_with('}'), "{text}");
    let (conns, reqs) = fleet.traffic();
    assert_eq!((conns, reqs), (2, 3));
}
