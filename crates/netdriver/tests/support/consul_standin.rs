//! A STAND-IN for Consul (no Consul package here): a loopback HTTP/1.1
//! server answering exactly the endpoints the netdriver's Consul store uses,
//! as Consul documents them:
//!
//! - `GET /v1/kv/<key>`, `?recurse`, `?keys&separator=/` with blocking
//!   `index=`/`wait=`; `X-Consul-Index` on every answer (here: one index for
//!   the whole store, which Consul's contract allows: it is opaque);
//! - `DELETE /v1/kv/<key>[?recurse]`;
//! - `PUT /v1/txn` with the KV verbs `set`, `cas`, `lock`, `delete`,
//!   `delete-cas`: all or nothing, 409 with `Errors[].OpIndex` on failure;
//! - `PUT /v1/session/create` (TTL, Behavior delete), `renew/<id>`,
//!   `destroy/<id>`, `GET /v1/session/list`; a session not renewed within
//!   its TTL is invalidated and its locked keys deleted (Consul may take up
//!   to twice the TTL; this one takes the TTL).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

#[derive(Clone, Default)]
struct State {
    index: i64,
    /// key → (value, modify index, locking session)
    kv: BTreeMap<String, (Vec<u8>, i64, Option<String>)>,
    /// session → (ttl, deadline)
    sessions: HashMap<String, (Duration, Instant)>,
    next_session: u64,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stop: AtomicBool,
}

/// The stand-in, stopped when dropped.
pub struct ConsulStandIn {
    pub port: u16,
    shared: Arc<Shared>,
}

impl Drop for ConsulStandIn {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes accept
    }
}

impl ConsulStandIn {
    pub fn start() -> ConsulStandIn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                index: 1,
                ..State::default()
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(&s, conn));
            }
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            while !s.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                let mut st = s.state.lock().unwrap();
                let now = Instant::now();
                let dead: Vec<String> = st
                    .sessions
                    .iter()
                    .filter(|(_, (_, deadline))| *deadline < now)
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in dead {
                    destroy(&mut st, &id);
                }
                drop(st);
                s.changed.notify_all();
            }
        });
        ConsulStandIn { port, shared }
    }

    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn destroy(st: &mut State, id: &str) {
    if st.sessions.remove(id).is_some() {
        st.index += 1;
        st.kv.retain(|_, v| v.2.as_deref() != Some(id));
    }
}

fn entry(key: &str, v: &(Vec<u8>, i64, Option<String>)) -> Value {
    json!({"Key": key, "Value": B64.encode(&v.0), "ModifyIndex": v.1, "CreateIndex": v.1,
           "Flags": 0, "LockIndex": 0, "Session": v.2})
}

fn serve(s: &Shared, conn: TcpStream) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut len = 0;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params: HashMap<&str, &str> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    let (status, text, index) = handle(s, method, path, &params, &body);
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        409 => "Conflict",
        _ => "Bad Request",
    };
    let mut conn = conn;
    let _ = write!(
        conn,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nX-Consul-Index: {index}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn handle(
    s: &Shared,
    method: &str,
    path: &str,
    params: &HashMap<&str, &str>,
    body: &[u8],
) -> (u16, String, i64) {
    let mut st = s.state.lock().unwrap();
    if let Some(key) = path.strip_prefix("/v1/kv/") {
        if method == "GET" {
            if let Some(after) = params.get("index").and_then(|i| i.parse::<i64>().ok()) {
                let wait = params
                    .get("wait")
                    .and_then(|w| w.strip_suffix("ms"))
                    .and_then(|w| w.parse().ok())
                    .map(Duration::from_millis)
                    .unwrap_or(Duration::from_secs(300));
                let deadline = Instant::now() + wait;
                while st.index <= after && Instant::now() < deadline {
                    st = s
                        .changed
                        .wait_timeout(st, deadline - Instant::now())
                        .unwrap()
                        .0;
                }
            }
            let index = st.index;
            let found: Vec<Value> = if params.contains_key("recurse") || params.contains_key("keys")
            {
                st.kv
                    .range(key.to_string()..)
                    .take_while(|(k, _)| k.starts_with(key))
                    .map(|(k, v)| {
                        if params.contains_key("keys") {
                            json!(k)
                        } else {
                            entry(k, v)
                        }
                    })
                    .collect()
            } else {
                st.kv.get(key).map(|v| entry(key, v)).into_iter().collect()
            };
            return if found.is_empty() {
                (404, String::new(), index)
            } else {
                (200, Value::Array(found).to_string(), index)
            };
        }
        if method == "DELETE" {
            if params.contains_key("recurse") {
                st.kv.retain(|k, _| !k.starts_with(key));
            } else {
                st.kv.remove(key);
            }
            st.index += 1;
            s.changed.notify_all();
            return (200, "true".into(), st.index);
        }
    }
    if method == "PUT" && path == "/v1/txn" {
        let ops: Vec<Value> = serde_json::from_slice(body).unwrap_or_default();
        let mut next = st.clone();
        let at = next.index + 1;
        for (i, op) in ops.iter().enumerate() {
            let kv = &op["KV"];
            let key = kv["Key"].as_str().unwrap_or("").to_string();
            let value = kv["Value"]
                .as_str()
                .and_then(|v| B64.decode(v).ok())
                .unwrap_or_default();
            let index = kv["Index"].as_i64().unwrap_or(0);
            let current = next.kv.get(&key).cloned();
            let fail = |what: &str| {
                (
                    409,
                    json!({"Results": null, "Errors": [{"OpIndex": i, "What": what}]}).to_string(),
                    st.index,
                )
            };
            match kv["Verb"].as_str().unwrap_or("") {
                "set" => {
                    let session = current.and_then(|c| c.2);
                    next.kv.insert(key, (value, at, session));
                }
                "cas" => {
                    let ok = match &current {
                        None => index == 0,
                        Some(c) => index != 0 && c.1 == index,
                    };
                    if !ok {
                        return fail("failed to set key: index mismatch");
                    }
                    let session = current.and_then(|c| c.2);
                    next.kv.insert(key, (value, at, session));
                }
                "lock" => {
                    let session = kv["Session"].as_str().unwrap_or("").to_string();
                    if !next.sessions.contains_key(&session) {
                        return fail(&format!("invalid session {session:?}"));
                    }
                    if let Some((_, _, Some(holder))) = &current {
                        if *holder != session {
                            return fail("key is locked by another session");
                        }
                    }
                    next.kv.insert(key, (value, at, Some(session)));
                }
                "delete" => {
                    next.kv.remove(&key);
                }
                "delete-cas" => {
                    if current.map(|c| c.1) != Some(index) {
                        return fail("failed to delete key: index mismatch");
                    }
                    next.kv.remove(&key);
                }
                other => return fail(&format!("unknown verb {other:?}")),
            }
        }
        next.index = at;
        *st = next;
        s.changed.notify_all();
        return (200, json!({"Results": [], "Errors": null}).to_string(), at);
    }
    if let Some(what) = path.strip_prefix("/v1/session/") {
        let index = st.index;
        if method == "PUT" && what == "create" {
            let v: Value = serde_json::from_slice(body).unwrap_or_default();
            let ttl = v["TTL"]
                .as_str()
                .and_then(|t| t.strip_suffix('s'))
                .and_then(|t| t.parse().ok())
                .map(Duration::from_secs)
                .unwrap_or(Duration::from_secs(86400));
            if ttl < Duration::from_secs(10) || v["Behavior"] != "delete" {
                return (
                    400,
                    "TTL must be 10s at least; Behavior delete".into(),
                    index,
                );
            }
            st.next_session += 1;
            let n = st.next_session;
            let id = format!("{n:08x}-5eed-4c0e-8a11-{:012x}", n * 7919);
            st.sessions.insert(id.clone(), (ttl, Instant::now() + ttl));
            return (200, json!({"ID": id}).to_string(), index);
        }
        if method == "PUT" {
            if let Some(id) = what.strip_prefix("renew/") {
                return match st.sessions.get_mut(id) {
                    Some((ttl, deadline)) => {
                        *deadline = Instant::now() + *ttl;
                        (200, json!([{"ID": id}]).to_string(), index)
                    }
                    None => (404, format!("Session id '{id}' not found"), index),
                };
            }
            if let Some(id) = what.strip_prefix("destroy/") {
                destroy(&mut st, id);
                s.changed.notify_all();
                return (200, "true".into(), st.index);
            }
        }
        if method == "GET" && what == "list" {
            let list: Vec<Value> = st.sessions.keys().map(|id| json!({"ID": id})).collect();
            return (200, Value::Array(list).to_string(), index);
        }
    }
    (
        400,
        format!("stand-in: {method} {path} not served"),
        st.index,
    )
}
