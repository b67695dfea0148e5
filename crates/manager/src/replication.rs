//! Replicated managers (`shoal manage --replication --advertise ADDR`):
//! every manager runs the whole cluster view (discovery, engines, caches),
//! one of them, the primary, elected through the discovery backend's lock
//! (`shoal_discovery::election`), serves the API; the replicas answer
//! `/_ping`, `/info` and `/metrics` themselves and forward everything else
//! to the primary, hijacked attach/exec and long streams included.
//!
//! During a failover a replica holds the requests it gets rather than
//! failing them: while it knows no primary (not elected yet, the store
//! unreachable, its lock lost) or cannot connect to the one it knows, it
//! waits for the election to move on, at most twice the ttl plus a round,
//! then forwards to the new primary, or serves the request itself if it
//! is the new primary. Nothing was sent yet, so nothing is done twice.
//! Past that bound it answers 503 with the reason. A request already
//! forwarded by another manager is never forwarded again (two
//! managers that briefly disagree on the primary cannot bounce it).

use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, StatusCode};
use shoal_discovery::Leadership;
use shoal_engine::{body, Client, Endpoint};
use tokio::sync::watch;

use crate::reply::{self, Reply};

/// The header a replica puts on what it forwards: its own address.
pub const FORWARDED_HEADER: &str = "shoal-forwarded-by";

/// Connecting to the primary may take this long before the client gets an
/// error (a primary that died is noticed by the election within the ttl).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// This manager's place among the replicated managers.
#[derive(Debug)]
pub struct Replication {
    /// `--advertise`: how the other managers reach this one.
    pub advertise: String,
    leadership: watch::Receiver<Leadership>,
    /// How long a request may wait for a primary during a failover.
    hold: Duration,
    /// TLS to the primary (the manager's own client settings, as to engines).
    tls: Option<shoal_engine::tls::ClientTls>,
}

impl Replication {
    /// `ttl`: the leader lock's (`--replication-ttl`).
    pub fn new(advertise: String, leadership: watch::Receiver<Leadership>, ttl: Duration) -> Self {
        Replication {
            advertise,
            leadership,
            hold: ttl * 2 + shoal_discovery::election::round_period(ttl),
            tls: None,
        }
    }

    /// Speaks TLS to the primary (managers started with `--tls`).
    pub fn with_tls(mut self, tls: Option<shoal_engine::tls::ClientTls>) -> Self {
        self.tls = tls;
        self
    }

    pub fn state(&self) -> Leadership {
        self.leadership.borrow().clone()
    }

    /// `primary` or `replica` (also while no primary is known).
    pub fn role(&self) -> &'static str {
        match self.state() {
            Leadership::Primary => "primary",
            _ => "replica",
        }
    }

    /// The SystemStatus lines after `Role` in `docker info` (classic
    /// Swarm: a replica shows its primary).
    pub fn status_lines(&self) -> Vec<[String; 2]> {
        match self.state() {
            Leadership::Primary => Vec::new(),
            Leadership::Replica(p) => vec![["Primary".into(), p]],
            Leadership::Unknown(why) => vec![["Primary".into(), format!("none ({why})")]],
        }
    }

    /// Whether this manager serves `route` (a route template) itself.
    pub fn serves_locally(&self, route: &str) -> bool {
        matches!(route, "/_ping" | "/info" | "/metrics") || self.state() == Leadership::Primary
    }

    /// Sends `req` to the primary and streams its answer back (upgrades
    /// spliced through); gives the request back (`Err`) when this manager
    /// has become the primary meanwhile.
    pub async fn forward(&self, mut req: Request<Incoming>) -> Result<Reply, Request<Incoming>> {
        if let Some(by) = req.headers().get(FORWARDED_HEADER) {
            let by = by.to_str().unwrap_or("?").to_string();
            return Ok(no_primary(&format!(
                "{} forwarded this request to {}, which is not the primary either",
                by, self.advertise
            )));
        }
        let deadline = tokio::time::Instant::now() + self.hold;
        let mut rx = self.leadership.clone();
        let primary = loop {
            let state = rx.borrow_and_update().clone();
            let why = match &state {
                Leadership::Primary => return Err(req),
                Leadership::Replica(p) => match reachable(p).await {
                    Ok(()) => break p.clone(),
                    Err(e) => format!("cannot reach the primary manager {p}: {e}"),
                },
                Leadership::Unknown(why) => why.clone(),
            };
            // wait for the election to move on
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => return Ok(no_primary(&why)),
            }
        };
        let endpoint = match Endpoint::parse(&format!("tcp://{primary}")) {
            Ok(e) => e,
            Err(e) => return Ok(no_primary(&format!("primary address {primary:?}: {e}"))),
        };
        // No request timeout: the answer may stream for as long as the
        // client wants it (events, logs -f, wait).
        let client = Client::new(endpoint, CONNECT_TIMEOUT, Duration::from_secs(24 * 3600))
            .with_tls(self.tls.clone());
        if let Ok(v) = HeaderValue::from_str(&self.advertise) {
            req.headers_mut().insert(FORWARDED_HEADER, v);
        }
        let path_and_query = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let sent = if crate::hijack::wants_upgrade(&req) {
            crate::hijack::proxy_via(&client, req, &path_and_query).await
        } else {
            let (parts, incoming) = req.into_parts();
            let up = crate::proxy::upstream_request(&parts, &path_and_query, body::boxed(incoming));
            client.send(up).await.map(crate::proxy::pass_response)
        };
        Ok(sent.unwrap_or_else(|e| {
            reply::error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot reach the primary manager {primary}: {e}"),
            )
        }))
    }
}

/// Whether the primary accepts connections (checked before the request is
/// spent on it).
async fn reachable(addr: &str) -> Result<(), String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string().to_lowercase()),
        Err(_) => Err(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())),
    }
}

fn no_primary(why: &str) -> Reply {
    reply::error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("no primary manager to forward to: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use serde_json::Value;
    use shoal_cluster::Cluster;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::{serve, Api, Listener};

    /// One HTTP/1.0 request; (status, body).
    async fn call(addr: &str, head: &str) -> (u16, String) {
        let hp = addr.trim_start_matches("tcp://");
        let mut s = tokio::net::TcpStream::connect(hp).await.unwrap();
        s.write_all(format!("{head}\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (h, body) = text.split_once("\r\n\r\n").unwrap();
        let status = h.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, body.to_string())
    }

    fn status_pairs(body: &str) -> Vec<(String, String)> {
        let v: Value = serde_json::from_str(body).unwrap();
        v["SystemStatus"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
            .collect()
    }

    #[tokio::test]
    async fn info_tells_the_role_and_a_replica_forwards_nothing_twice() {
        let scheduler = shoal_scheduler::Scheduler::new(&Default::default()).unwrap();
        let api: Arc<Api> = Api::new(Cluster::new(scheduler, Default::default()), false);
        let (tx, rx) = watch::channel(Leadership::Replica("127.0.0.1:9".into()));
        api.replication
            .set(Replication::new(
                "127.0.0.1:8".into(),
                rx,
                Duration::from_secs(2),
            ))
            .unwrap();
        let l = Listener::bind("tcp://127.0.0.1:0").await.unwrap();
        let addr = l.local_addr();
        tokio::spawn(serve(api.clone(), l));

        // a replica answers /info itself, with its primary after its role
        let (code, body) = call(&addr, "GET /v1.41/info HTTP/1.0").await;
        assert_eq!(code, 200, "{body}");
        let pairs = status_pairs(&body);
        assert_eq!(pairs[0], ("Role".into(), "replica".into()));
        assert_eq!(pairs[1], ("Primary".into(), "127.0.0.1:9".into()));

        // something another manager forwarded is never forwarded again
        let (code, body) = call(
            &addr,
            "GET /v1.41/containers/json HTTP/1.0\r\nShoal-Forwarded-By: 127.0.0.1:7",
        )
        .await;
        assert_eq!(code, 503, "{body}");
        assert!(body.contains("not the primary either"), "{body}");

        // elected: no Primary line, and the API is served here
        tx.send_replace(Leadership::Primary);
        let (_, body) = call(&addr, "GET /v1.41/info HTTP/1.0").await;
        let pairs = status_pairs(&body);
        assert_eq!(pairs[0], ("Role".into(), "primary".into()));
        assert_eq!(pairs[1].0, "Strategy");
        let (code, body) = call(&addr, "GET /v1.41/containers/json HTTP/1.0").await;
        assert_eq!((code, body.as_str()), (200, "[]"));
    }
}
