//! Hostile input to `shoal manage` in front of a real engine: garbage on the
//! socket, malformed and mistyped JSON, huge bodies and headers, bad
//! constraints, unknown objects, bad query values, unknown routes, wrong
//! methods, clients that hang up mid-request or mid-stream.
//!
//! Every answer to a Docker request must be a JSON `{"message": ...}` error
//! with the right status, nothing may panic the manager (its log is checked
//! for panics), and `/_ping` must answer after each case. Requests are
//! hand-written HTTP over the manager's unix socket, so that nothing in a
//! client library smooths them over; the docker CLI is used where it is the
//! natural client.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{timeout, Lab, Machine, ManagerProcess, Run};

/// The harness's manager, with the path of its unix socket for raw requests.
struct Manager {
    process: ManagerProcess,
    sock: PathBuf,
}

impl Manager {
    fn start(lab: &Lab, machines: &[&Machine]) -> Manager {
        let process = ManagerProcess::over(lab, machines, &[]);
        let sock = PathBuf::from(process.host.trim_start_matches("unix://"));
        Manager { process, sock }
    }

    fn docker(&self, args: &[&str]) -> Run {
        self.process.docker(args)
    }

    fn log_text(&self) -> String {
        self.process.log_text()
    }

    /// The manager process is alive, answers `/_ping` with `OK`, and has not
    /// logged a panic.
    fn assert_healthy(&mut self, after: &str) {
        if !self.process.running() {
            panic!(
                "the manager exited after {after}; log:\n{}",
                self.log_text()
            );
        }
        let ping = request(
            &self.sock,
            b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(
            ping.as_ref()
                .is_ok_and(|a| a.status == 200 && a.body == b"OK"),
            "/_ping after {after}: {ping:?}; log:\n{}",
            self.log_text()
        );
        let log = self.log_text();
        assert!(
            !log.contains("panicked at"),
            "the manager panicked after {after}; log:\n{log}"
        );
    }

    /// Sends `raw`, expects a JSON error with `status`, and a healthy manager
    /// after it. Returns the message.
    fn expect_error(&mut self, raw: &[u8], status: u16) -> String {
        let what = describe(raw);
        let answer = request(&self.sock, raw)
            .unwrap_or_else(|e| panic!("{what}: {e}; log:\n{}", self.log_text()));
        let message = answer.json_error(&what);
        assert_eq!(
            answer.status, status,
            "{what}: status {} (message {message:?})",
            answer.status
        );
        self.assert_healthy(&what);
        message
    }
}

/// The first line of a raw request, for messages.
fn describe(raw: &[u8]) -> String {
    let line = raw.split(|&b| b == b'\r').next().unwrap_or_default();
    String::from_utf8_lossy(&line[..line.len().min(120)]).into_owned()
}

/// One HTTP answer read off the socket.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts a Docker error (status 4xx/5xx, JSON, a string `message`) and
    /// returns the message.
    fn json_error(&self, what: &str) -> String {
        assert!(
            self.status >= 400,
            "{what}: expected an error, got {} {:?}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{what}: error {} is not JSON: {:?}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        let v: Value = serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{what}: error body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        });
        let message = v["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: error without a message: {v}"));
        assert!(!message.is_empty(), "{what}: empty message");
        message.to_string()
    }
}

/// Connects, writes `raw` (a write error is fine: the manager may answer
/// and close before reading everything), reads one answer. Bounded: an
/// answer that does not come within 20 s (scaled) is an error.
fn request(sock: &Path, raw: &[u8]) -> Result<Answer, String> {
    let mut s = UnixStream::connect(sock).map_err(|e| format!("connect: {e}"))?;
    let limit = timeout(20);
    s.set_read_timeout(Some(limit)).ok();
    s.set_write_timeout(Some(limit)).ok();
    let _ = s.write_all(raw);
    read_answer(&mut s, limit)
}

/// Reads one answer (status line, headers, a body by content-length, chunks
/// or up to the end of the connection).
fn read_answer(s: &mut UnixStream, limit: Duration) -> Result<Answer, String> {
    let start = Instant::now();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if start.elapsed() > limit {
            return Err(format!("no answer within {limit:?}"));
        }
        match s.read(&mut chunk) {
            Ok(0) => {
                return Err(format!(
                    "connection closed without an answer (read {:?})",
                    String::from_utf8_lossy(&buf)
                ))
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("no answer: {e}")),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut answer = Answer {
        status,
        headers,
        body: buf[head_end..].to_vec(),
    };
    let read_more = |s: &mut UnixStream, body: &mut Vec<u8>| -> Result<bool, String> {
        if start.elapsed() > limit {
            return Err(format!("answer body not complete within {limit:?}"));
        }
        let mut chunk = [0u8; 65536];
        match s.read(&mut chunk) {
            Ok(0) => Ok(false),
            Ok(n) => {
                body.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) => Err(format!("reading the body: {e}")),
        }
    };
    if let Some(len) = answer
        .header("content-length")
        .and_then(|l| l.parse::<usize>().ok())
    {
        while answer.body.len() < len {
            if !read_more(s, &mut answer.body)? {
                return Err("connection closed inside the body".into());
            }
        }
        answer.body.truncate(len);
    } else if answer.header("transfer-encoding") == Some("chunked") {
        let mut raw = std::mem::take(&mut answer.body);
        loop {
            if let Some(body) = dechunk(&raw) {
                answer.body = body;
                break;
            }
            if !read_more(s, &mut raw)? {
                return Err("connection closed inside a chunked body".into());
            }
        }
    } else if status != 101 && status != 204 && status != 304 {
        while read_more(s, &mut answer.body)? {}
    }
    Ok(answer)
}

/// The body of a complete chunked encoding, or `None` if more is needed.
fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&raw[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if raw.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// A request with a JSON body.
fn with_body(method: &str, path: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A request without a body.
fn bare(method: &str, path: &str) -> Vec<u8> {
    format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").into_bytes()
}

fn one_node(lab: &Lab, tag: &str) -> (Machine, Manager) {
    let m = lab.create(tag, &[]);
    let manager = Manager::start(lab, &[&m]);
    (m, manager)
}

/// Malformed and mistyped create bodies, bad constraints and hints: each a
/// 400 with a JSON message naming the problem; no container is left behind.
#[test]
fn hostile_create_bodies() {
    let lab = Lab::new();
    let (_m, mut mgr) = one_node(&lab, "hb");
    let create = "/v1.41/containers/create";

    for (body, status, needle) in [
        ("{", 400, "invalid JSON"),
        ("{\"Image\": \"busybox\",}", 400, "invalid JSON"),
        ("\u{0}\u{1}\u{2}", 400, "invalid JSON"),
        ("", 400, "config cannot be empty"),
        ("null", 400, "config cannot be empty"),
        ("[]", 400, "JSON object"),
        ("\"busybox\"", 400, "JSON object"),
        ("12", 400, "JSON object"),
        (
            r#"{"Image":"busybox","Labels":{"com.docker.swarm.constraints":"node==x"}}"#,
            400,
            "com.docker.swarm.constraints",
        ),
        (
            r#"{"Image":"busybox","Labels":{"com.docker.swarm.affinities":"[1,2]"}}"#,
            400,
            "com.docker.swarm.affinities",
        ),
        (
            r#"{"Image":"busybox","Env":["reschedule:always"]}"#,
            400,
            "reschedule",
        ),
        (
            r#"{"Image":"busybox","Env":["reschedule:off","reschedule:on-node-failure"]}"#,
            400,
            "reschedule",
        ),
    ] {
        let message = mgr.expect_error(&with_body("POST", create, body), status);
        assert!(
            message.contains(needle),
            "body {body:?}: message {message:?} lacks {needle:?}"
        );
    }

    // Wrong JSON types inside an object: the engine's own decoding error,
    // passed on as it gave it (dockerd 20.10 answers these with a 500).
    for body in [
        r#"{"Image":"busybox","Cmd":"true","HostConfig":{"Memory":"lots"}}"#,
        r#"{"Image":"busybox","Env":{"A":"1"},"HostConfig":{"PortBindings":[1]}}"#,
        r#"{"Image":["busybox"]}"#,
    ] {
        let answer = request(&mgr.sock, &with_body("POST", create, body)).expect("an answer");
        let message = answer.json_error(body);
        assert!(
            message.contains("cannot unmarshal"),
            "{body}: {} {message}",
            answer.status
        );
        mgr.assert_healthy(body);
    }

    // A valid expression no node satisfies: classic Swarm's error text.
    let message = mgr.expect_error(
        &with_body(
            "POST",
            create,
            r#"{"Image":"busybox","Env":["constraint:node==nowhere"]}"#,
        ),
        500,
    );
    assert!(
        message.contains("Unable to find a node that satisfies"),
        "{message}"
    );

    // Nothing of the above made a container.
    let ps = mgr.docker(&["ps", "-aq"]);
    assert_eq!(ps.code, 0, "{}", ps.stderr);
    assert_eq!(ps.stdout.trim(), "", "containers left behind");
}

/// Expressions that do not parse are the client's fault: 400, with the
/// expression named in the message.
#[test]
fn hostile_bad_constraints_are_client_errors() {
    let lab = Lab::new();
    let (_m, mut mgr) = one_node(&lab, "hc");
    for env in [
        "constraint:region=us",
        "constraint:r==us",
        "constraint:node==/(/",
        "constraint:node==a,b",
        "affinity:container~~web",
        "affinity:image==é",
    ] {
        let body = format!(r#"{{"Image":"busybox","Env":["{env}"]}}"#);
        let message = mgr.expect_error(&with_body("POST", "/containers/create", &body), 400);
        let expr = env.split_once(':').map(|(_, e)| e).unwrap_or(env);
        assert!(message.contains(expr), "{env}: {message}");
    }
    // The docker CLI shows the message and fails.
    let run = mgr.docker(&["run", "-d", "-e", "constraint:node=x", "busybox", "true"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("node=x"), "{}", run.stderr);
}

/// Unknown containers, images, networks, volumes and execs; bad query
/// values; unknown routes and wrong methods.
#[test]
fn hostile_unknown_objects_routes_and_queries() {
    let lab = Lab::new();
    let (_m, mut mgr) = one_node(&lab, "hu");

    for (method, path, status, needle) in [
        ("GET", "/v1.41/containers/nosuch/json", 404, "nosuch"),
        ("POST", "/containers/nosuch/start", 404, "nosuch"),
        ("POST", "/containers/nosuch/kill?signal=KILL", 404, "nosuch"),
        ("DELETE", "/containers/nosuch?force=1", 404, "nosuch"),
        ("GET", "/containers/hu/nosuch/json", 404, "nosuch"),
        ("GET", "/containers/nonode/x/logs", 404, "x"),
        ("POST", "/containers/nosuch/exec", 404, "nosuch"),
        ("GET", "/containers/%00%ff/json", 404, "No such container"),
        ("GET", "/images/nosuch:notag/json", 404, "nosuch"),
        ("DELETE", "/images/nosuch:notag", 404, "nosuch"),
        ("GET", "/networks/nosuch", 404, "nosuch"),
        ("DELETE", "/networks/nosuch", 404, "nosuch"),
        ("GET", "/volumes/nosuch", 404, "nosuch"),
        ("DELETE", "/volumes/nosuch", 404, "nosuch"),
        ("GET", "/exec/nosuch/json", 404, "nosuch"),
        ("POST", "/exec/nosuch/start", 404, "nosuch"),
        ("POST", "/exec/nosuch/resize?h=1&w=1", 404, "nosuch"),
        ("GET", "/containers/json?filters=notjson", 400, "notjson"),
        (
            "GET",
            "/containers/json?filters=%7B%22status%22%3A5%7D",
            400,
            "filter",
        ),
        ("GET", "/images/json?filters=notjson", 400, "notjson"),
        ("GET", "/networks?filters=notjson", 400, "notjson"),
        ("GET", "/volumes?filters=notjson", 400, "notjson"),
        ("GET", "/events?filters=notjson", 400, "notjson"),
        ("GET", "/nosuch", 404, "page not found"),
        ("GET", "/v1.41/nosuch/route/at/all", 404, "page not found"),
        ("GET", "/vx.y/_ping", 404, "page not found"),
        ("DELETE", "/_ping", 404, "page not found"),
        ("PUT", "/info", 404, "page not found"),
        ("POST", "/version", 404, "page not found"),
        ("PATCH", "/containers/json", 404, "json"),
        ("GET", "/swarm", 404, "swarm mode"),
        ("POST", "/commit", 400, "container"),
        ("POST", "/commit?container=nosuch", 404, "nosuch"),
    ] {
        let message = mgr.expect_error(&bare(method, path), status);
        assert!(
            message.contains(needle),
            "{method} {path}: message {message:?} lacks {needle:?}"
        );
    }

    // Odd but harmless query values are read as dockerd reads them.
    for path in [
        "/containers/json?all=maybe",
        "/containers/json?limit=-5",
        "/containers/json?limit=notanumber&size=yes",
        "/containers/json?all=1&all=0&filters=",
        "/images/json?all=%ZZ",
        "/v1.12/info",
        "/v99.99/version",
    ] {
        let answer = request(&mgr.sock, &bare("GET", path)).expect("an answer");
        assert_eq!(
            answer.status,
            200,
            "{path}: {:?}",
            String::from_utf8_lossy(&answer.body)
        );
        serde_json::from_slice::<Value>(&answer.body)
            .unwrap_or_else(|e| panic!("{path}: not JSON: {e}"));
        mgr.assert_healthy(path);
    }

    // The docker CLI, as a user would hit these.
    for (args, needle) in [
        (&["inspect", "nosuch"][..], "nosuch"),
        (&["logs", "nosuch"][..], "nosuch"),
        (&["exec", "nosuch", "true"][..], "nosuch"),
        (&["rm", "nosuch"][..], "nosuch"),
        (&["network", "rm", "nosuch"][..], "nosuch"),
        (&["volume", "inspect", "nosuch"][..], "nosuch"),
        (&["image", "inspect", "nosuch:notag"][..], "nosuch"),
    ] {
        let r = mgr.docker(args);
        assert_ne!(r.code, 0, "docker {args:?} succeeded: {}", r.stdout);
        assert!(
            r.stderr.contains(needle),
            "docker {args:?}: stderr {:?} lacks {needle:?}",
            r.stderr
        );
        mgr.assert_healthy(&format!("docker {args:?}"));
    }
}

/// Garbage on the socket, broken framing, huge headers, and clients that
/// hang up in the middle: hyper's own answers (400/431) or a JSON error,
/// never a hang, never a panic.
#[test]
fn hostile_garbage_and_hangups() {
    let lab = Lab::new();
    let (_m, mut mgr) = one_node(&lab, "hg");

    for raw in [
        &b"\x00\xff\xfe garbage \x01\x02\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"POST /containers/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /_ping HTTP/1.1\r\nBad Header Without Colon\r\n\r\n",
    ] {
        let what = describe(raw);
        let answer = request(&mgr.sock, raw)
            .unwrap_or_else(|e| panic!("{what:?}: {e}; log:\n{}", mgr.log_text()));
        assert_eq!(answer.status, 400, "{what:?}: {answer:?}");
        mgr.assert_healthy(&what);
    }

    // Non-UTF-8 and odd bytes in the path: decoded lossily, answered.
    for path in [
        "/containers/%a\u{e9}/json",
        "/containers/%/json",
        "/containers/%%%/json",
        "/containers/%e9%/json",
        "/v1.41/containers/a%2F..%2F..%2Fb/json",
    ] {
        let raw = bare("GET", path);
        let answer = request(&mgr.sock, &raw)
            .unwrap_or_else(|e| panic!("{path:?}: {e}; log:\n{}", mgr.log_text()));
        assert!(
            answer.status == 400 || answer.status == 404,
            "{path:?}: {answer:?}"
        );
        if answer.status == 404 {
            answer.json_error(path);
        }
        mgr.assert_healthy(path);
    }

    // A huge header, and very many headers: refused by size (431).
    let big = format!(
        "GET /_ping HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let answer = request(&mgr.sock, big.as_bytes()).expect("an answer to a huge header");
    assert_eq!(answer.status, 431, "{:?}", answer.headers);
    mgr.assert_healthy("a 1 MiB header");
    let mut many = String::from("GET /_ping HTTP/1.1\r\nHost: x\r\n");
    for i in 0..500 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let answer = request(&mgr.sock, many.as_bytes()).expect("an answer to 500 headers");
    assert!(answer.status == 431 || answer.status == 400, "{answer:?}");
    mgr.assert_healthy("500 headers");

    // A URL of 1 MiB.
    let long = bare("GET", &format!("/containers/{}/json", "x".repeat(1 << 20)));
    let answer = request(&mgr.sock, &long).expect("an answer to a 1 MiB URL");
    assert!(
        answer.status == 414
            || answer.status == 431
            || answer.status == 400
            || answer.status == 404,
        "{:?}",
        answer.status
    );
    mgr.assert_healthy("a 1 MiB URL");

    // A body that promises more than it sends, then a hang-up.
    for _ in 0..20 {
        let mut s = UnixStream::connect(&mgr.sock).expect("connect");
        s.write_all(
            b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"Image\":",
        )
        .expect("write");
        drop(s);
    }
    mgr.assert_healthy("20 clients hanging up inside a body");

    // Half a request line, then a hang-up.
    for raw in [
        &b"GET /_pi"[..],
        b"POST /containers/create HTTP/1.1\r\nHost:",
    ] {
        let mut s = UnixStream::connect(&mgr.sock).expect("connect");
        s.write_all(raw).expect("write");
        drop(s);
    }
    mgr.assert_healthy("hang-ups inside the head");

    // Streams the client leaves: events, and logs -f of a chatty container.
    mgr.docker(&[
        "run",
        "-d",
        "--name",
        "chatty",
        "busybox",
        "sh",
        "-c",
        "while true; do echo x; done",
    ]);
    for path in [
        "/events",
        "/containers/chatty/logs?follow=1&stdout=1",
        "/containers/chatty/stats",
    ] {
        for _ in 0..5 {
            let mut s = UnixStream::connect(&mgr.sock).expect("connect");
            s.set_read_timeout(Some(timeout(20))).ok();
            s.write_all(&bare("GET", path)).expect("write");
            let mut first = [0u8; 64];
            let n = s.read(&mut first).expect("the stream starts");
            assert!(
                first[..n].starts_with(b"HTTP/1.1 200"),
                "{path}: {:?}",
                String::from_utf8_lossy(&first[..n])
            );
            drop(s);
        }
        mgr.assert_healthy(&format!("clients leaving {path}"));
    }
    // An attach whose client hangs up after the upgrade.
    let mut s = UnixStream::connect(&mgr.sock).expect("connect");
    s.set_read_timeout(Some(timeout(20))).ok();
    s.write_all(b"POST /containers/chatty/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
        .expect("write");
    let mut first = [0u8; 64];
    let n = s.read(&mut first).expect("the attach answers");
    assert!(
        first[..n].starts_with(b"HTTP/1.1 101"),
        "{:?}",
        String::from_utf8_lossy(&first[..n])
    );
    drop(s);
    mgr.assert_healthy("a client leaving an attach");
    let rm = mgr.docker(&["rm", "-f", "chatty"]);
    assert_eq!(rm.code, 0, "{}", rm.stderr);

    // Pipelined requests on one connection, the last one garbage: three
    // answers, then hyper's 400 and the end of the connection.
    let mut pipelined = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n".repeat(3);
    pipelined.extend_from_slice(b"\x16\x03\x01 not http\r\n\r\n");
    let mut s = UnixStream::connect(&mgr.sock).expect("connect");
    s.set_read_timeout(Some(timeout(20))).ok();
    s.write_all(&pipelined).expect("write");
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("the connection ends");
    let text = String::from_utf8_lossy(&all);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 3, "{text}");
    assert!(text.contains("HTTP/1.1 400"), "{text}");
    drop(s);
    mgr.assert_healthy("pipelined requests");
}

/// Request bodies are bounded: a create body far larger than any container
/// config is refused (413, or a 400) without the manager reading it whole.
#[test]
fn hostile_huge_body_is_refused() {
    let lab = Lab::new();
    let (_m, mut mgr) = one_node(&lab, "hh");
    let mut s = UnixStream::connect(&mgr.sock).expect("connect");
    s.set_read_timeout(Some(timeout(20))).ok();
    s.set_write_timeout(Some(timeout(20))).ok();
    // 4 GiB announced; 64 MiB sent at most: a bounded manager answers before.
    s.write_all(
        b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4294967296\r\n\r\n{\"Image\":\"busybox\",\"Cmd\":[\"",
    )
    .expect("write the head");
    let block = vec![b'a'; 1 << 20];
    for _ in 0..64 {
        if s.write_all(&block).is_err() {
            break;
        }
    }
    let answer = read_answer(&mut s, timeout(20))
        .unwrap_or_else(|e| panic!("huge body: {e}; log:\n{}", mgr.log_text()));
    let message = answer.json_error("huge body");
    assert!(
        answer.status == 413 || answer.status == 400,
        "{}: {message}",
        answer.status
    );
    drop(s);
    mgr.assert_healthy("a 4 GiB body");
}

/// Create values that overflow the manager's arithmetic are answered, not
/// a panic (the debug build checks overflows).
#[test]
fn hostile_create_huge_numbers() {
    let lab = Lab::new();
    let (_m, mut mgr) = one_node(&lab, "hn");
    for host in [
        r#"{"NanoCpus":9223372036854775807}"#,
        r#"{"NanoCpus":9223372036000000000}"#,
        r#"{"Memory":9223372036854775807}"#,
        r#"{"CpuShares":-9223372036854775808}"#,
    ] {
        let body = format!(r#"{{"Image":"busybox","HostConfig":{host}}}"#);
        let raw = with_body("POST", "/containers/create", &body);
        let answer = request(&mgr.sock, &raw)
            .unwrap_or_else(|e| panic!("{host}: {e}; log:\n{}", mgr.log_text()));
        if answer.status >= 400 {
            answer.json_error(host);
        } else {
            // The engine took it: remove it again.
            let v: Value = serde_json::from_slice(&answer.body).expect("create answer");
            let id = v["Id"].as_str().expect("an Id").to_string();
            mgr.docker(&["rm", "-f", &id]);
        }
        mgr.assert_healthy(host);
    }
}

/// A filter no engine knows is refused as dockerd refuses it (400), not
/// silently dropped: `docker ps --filter nosuchfilter=1` must not list
/// every container.
#[test]
fn hostile_unknown_filter_is_refused() {
    let lab = Lab::new();
    let (_m, mut mgr) = one_node(&lab, "hf");
    let message = mgr.expect_error(
        &bare(
            "GET",
            "/containers/json?filters=%7B%22nosuchfilter%22%3A%5B%221%22%5D%7D",
        ),
        400,
    );
    assert!(message.contains("nosuchfilter"), "{message}");
    let r = mgr.docker(&["ps", "--filter", "nosuchfilter=1"]);
    assert_ne!(
        r.code, 0,
        "docker ps with an unknown filter succeeded: {}",
        r.stdout
    );
    assert!(r.stderr.contains("nosuchfilter"), "{}", r.stderr);
}
