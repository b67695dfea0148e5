//! What every request passes through before and after the handlers:
//! `/metrics` is answered here; a replica forwards to its primary
//! ([`crate::replication`]); every request is counted and timed by its
//! route template; `/_ping` carries the manager's health; the endless
//! streams end when a graceful shutdown begins.

use std::sync::Arc;
use std::time::Instant;

use hyper::body::{Body as _, Incoming};
use hyper::header::HeaderValue;
use hyper::{Method, Request, StatusCode};

use crate::metrics;
use crate::reply::Reply;
use crate::route::Path;
use crate::Api;

/// Answers one request.
pub async fn handle(api: Arc<Api>, req: Request<Incoming>) -> Reply {
    let start = Instant::now();
    let route = metrics::route_template(&Path::parse(req.uri().path()));
    let method = method_label(req.method());
    let reply = if route == "/metrics" {
        let mut r = if req.method() == Method::GET {
            api.metrics.reply(&api.cluster)
        } else {
            metrics::method_not_allowed()
        };
        crate::reply::stamp(r.headers_mut(), api.cors);
        r
    } else {
        let forwarded = match api.replication.get().filter(|r| !r.serves_locally(&route)) {
            // Err: this manager became the primary meanwhile
            Some(rep) => rep.forward(req).await,
            None => Err(req),
        };
        let mut r = match forwarded {
            Ok(r) => r,
            Err(req) => crate::handlers::handle(api.clone(), req).await,
        };
        if route == "/_ping" && r.status() == StatusCode::OK {
            stamp_health(&api, &mut r);
        }
        if ENDLESS.contains(&route.as_str()) && r.body().size_hint().exact().is_none() {
            let (parts, body) = r.into_parts();
            r = Reply::from_parts(parts, api.shutdown.until_shutdown(body));
        }
        r
    };
    api.metrics
        .request(&route, method, reply.status(), start.elapsed());
    reply
}

/// The method as a label: the ones the API knows, else `other`.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Routes whose answer may stream forever (`docker events`, `logs -f`,
/// `stats`): ended cleanly when the shutdown begins, where every other
/// answer gets the grace period.
const ENDLESS: &[&str] = &["/events", "/containers/:id/logs", "/containers/:id/stats"];

/// The header of `/_ping` that tells the manager's health.
pub const HEALTH_HEADER: &str = "shoal-health";

/// How the manager is, as `/_ping` tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Every engine is healthy.
    Healthy,
    /// Some engine is not healthy, at least one is.
    Degraded,
    /// No engine is healthy, the manager is shutting down, or (replicated)
    /// no primary is known: nothing can be placed or run here now.
    Unavailable,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Degraded => "degraded",
            Health::Unavailable => "unavailable",
        }
    }
}

/// The manager's health now.
pub fn health(api: &Api) -> Health {
    let no_primary = api
        .replication
        .get()
        .is_some_and(|r| matches!(r.state(), shoal_discovery::Leadership::Unknown(_)));
    if api.shutdown.is_begun() || no_primary {
        return Health::Unavailable;
    }
    let engines = api.cluster.engines();
    let healthy = engines.iter().filter(|e| e.is_healthy()).count();
    if healthy == 0 {
        Health::Unavailable
    } else if healthy < engines.len() {
        Health::Degraded
    } else {
        Health::Healthy
    }
}

/// `/_ping` keeps its `OK` body and its negotiation headers in every state
/// (docker CLI 28 reads those even from a failed ping, then retries the
/// ping with GET and goes on), adds `Shoal-Health`, and answers 503 when
/// the manager is unavailable, so load balancers and health checks see it.
fn stamp_health(api: &Api, r: &mut Reply) {
    let h = health(api);
    r.headers_mut()
        .insert(HEALTH_HEADER, HeaderValue::from_static(h.as_str()));
    if h == Health::Unavailable {
        *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    }
}
