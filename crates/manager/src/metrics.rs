//! `GET /metrics`: the manager's Prometheus metrics in the OpenMetrics text
//! format (prometheus-client).
//!
//! - `shoal_placements_total{outcome}`: container creates the manager
//!   placed (`placed`), could not place (`no_node`: no node passed the
//!   filters) or placed but the engine refused (`failed`), or refused
//!   before placement (`rejected`: bad request, name in use);
//! - `shoal_placement_duration_seconds`: time of a create from the parsed
//!   body to the engine's answer (scheduling, reservation, engine call);
//! - `shoal_api_requests_total{route,method,status}` and
//!   `shoal_api_request_duration_seconds{route}`: every API request, by
//!   route template (`/containers/:id/start`: IDs and names never become
//!   labels), timed to the answer's headers (a stream's or an attach's
//!   length is the client's business, not the manager's latency);
//! - `shoal_engines{state}`: engines by state (`pending`, `healthy`,
//!   `unhealthy`, `disconnected`), counted from the cluster at scrape time.

use std::sync::Arc;
use std::time::Duration;

use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use shoal_api_types::node::NodeStatus;
use shoal_cluster::Cluster;
use shoal_engine::body;

use crate::reply::{self, Reply};
use crate::route::Path;

/// The content type of the OpenMetrics text format.
pub const CONTENT_TYPE_OPENMETRICS: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How a create ended, for `shoal_placements_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    Placed,
    NoNode,
    Failed,
    Rejected,
}

impl Placement {
    fn as_str(self) -> &'static str {
        match self {
            Placement::Placed => "placed",
            Placement::NoNode => "no_node",
            Placement::Failed => "failed",
            Placement::Rejected => "rejected",
        }
    }

    /// The outcome of a create that ended with `e`.
    pub fn of_error(e: &shoal_cluster::ClusterError) -> Placement {
        use shoal_cluster::ClusterError as E;
        match e {
            E::Schedule(shoal_scheduler::ScheduleError::InvalidExpression { .. }) => {
                Placement::Rejected
            }
            E::Schedule(_) => Placement::NoNode,
            E::Engine(_) => Placement::Failed,
            _ => Placement::Rejected,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// Latency buckets: 0.5 ms to about 16 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The manager's metrics. Cheap to share; recording takes no lock but the
/// label family's.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    placements: Family<OutcomeLabels, Counter>,
    placement_seconds: Histogram,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram, fn() -> Histogram>,
    engines: Family<StateLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("shoal");
        let placements = Family::<OutcomeLabels, Counter>::default();
        let placement_seconds = latency_histogram();
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        let engines = Family::<StateLabels, Gauge>::default();
        registry.register(
            "placements",
            "Container creates by outcome (placed, no_node, failed, rejected)",
            placements.clone(),
        );
        registry.register(
            "placement_duration_seconds",
            "Time of a create: scheduling, reservation and the engine's answer",
            placement_seconds.clone(),
        );
        registry.register(
            "api_requests",
            "API requests by route template, method and status",
            requests.clone(),
        );
        registry.register(
            "api_request_duration_seconds",
            "Time to the answer's headers, by route template",
            request_seconds.clone(),
        );
        registry.register(
            "engines",
            "Engines by state, counted at scrape time",
            engines.clone(),
        );
        Metrics {
            registry,
            placements,
            placement_seconds,
            requests,
            request_seconds,
            engines,
        }
    }

    /// Records one create.
    pub fn placement(&self, outcome: Placement, took: Duration) {
        self.placements
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .inc();
        self.placement_seconds.observe(took.as_secs_f64());
    }

    /// Records one API request.
    pub fn request(&self, route: &str, method: &str, status: StatusCode, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                method: method.to_string(),
                status: status.as_u16(),
            })
            .inc();
        self.request_seconds
            .get_or_create(&RouteLabels {
                route: route.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// The text exposition, with the engine gauge counted from `cluster` now.
    pub fn render(&self, cluster: &Cluster) -> String {
        let mut counts = [0i64; 4];
        for e in cluster.engines() {
            counts[state_index(e.status())] += 1;
        }
        for (i, state) in STATES.iter().enumerate() {
            self.engines
                .get_or_create(&StateLabels { state })
                .set(counts[i]);
        }
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!("encoding metrics: {e}");
        }
        out
    }

    /// `GET /metrics`.
    pub fn reply(&self, cluster: &Arc<Cluster>) -> Reply {
        let mut r = Response::new(body::full(self.render(cluster)));
        *r.status_mut() = StatusCode::OK;
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static(CONTENT_TYPE_OPENMETRICS),
        );
        r
    }
}

const STATES: [&str; 4] = ["pending", "healthy", "unhealthy", "disconnected"];

fn state_index(s: NodeStatus) -> usize {
    match s {
        NodeStatus::Pending => 0,
        NodeStatus::Healthy => 1,
        NodeStatus::Unhealthy => 2,
        NodeStatus::Disconnected => 3,
    }
}

/// Per-container and per-exec operations that name a route (the last
/// segment of `/containers/:id/OP`).
const CONTAINER_OPS: &[&str] = &[
    "json", "start", "stop", "kill", "restart", "pause", "unpause", "wait", "logs", "attach",
    "exec", "top", "stats", "rename", "update", "archive", "export", "changes", "resize", "ws",
];

/// The route template of a path, for labels: fixed words stay, IDs and
/// names become `:id` / `:name`, and anything unknown is `other` (a
/// client cannot grow the label set).
pub fn route_template(path: &Path) -> String {
    let segs = path.strs();
    let fixed = |s: &str| format!("/{s}");
    match segs.as_slice() {
        [] => "/".into(),
        ["_ping" | "version" | "info" | "events" | "metrics" | "auth" | "build" | "commit"] => {
            fixed(segs[0])
        }
        ["system", "df"] => "/system/df".into(),
        ["containers", "json" | "create" | "prune"] => format!("/containers/{}", segs[1]),
        ["containers", .., op] if segs.len() >= 3 && CONTAINER_OPS.contains(op) => {
            format!("/containers/:id/{op}")
        }
        ["containers", _, ..] => "/containers/:id".into(),
        ["exec", _, op] if ["start", "resize", "json"].contains(op) => {
            format!("/exec/:id/{op}")
        }
        ["images", "json" | "create" | "load" | "prune" | "search" | "get"] => {
            format!("/images/{}", segs[1])
        }
        ["images", .., op]
            if segs.len() >= 3 && ["json", "history", "push", "tag", "get"].contains(op) =>
        {
            format!("/images/:name/{op}")
        }
        ["images", _, ..] => "/images/:name".into(),
        ["networks"] | ["volumes"] => fixed(segs[0]),
        ["networks" | "volumes", "create" | "prune"] => format!("/{}/{}", segs[0], segs[1]),
        ["networks", _, op @ ("connect" | "disconnect")] => format!("/networks/:id/{op}"),
        ["networks" | "volumes", _, ..] => format!("/{}/:id", segs[0]),
        _ => "other".into(),
    }
}

/// Answers for a `/metrics` request with a wrong method.
pub fn method_not_allowed() -> Reply {
    reply::error(StatusCode::METHOD_NOT_ALLOWED, "/metrics answers GET only")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(p: &str) -> String {
        route_template(&Path::parse(p))
    }

    #[test]
    fn routes_never_carry_ids_or_names() {
        assert_eq!(t("/v1.41/containers/abc123/start"), "/containers/:id/start");
        assert_eq!(t("/containers/node1/web/json"), "/containers/:id/json");
        assert_eq!(t("/v1.41/containers/abc"), "/containers/:id");
        assert_eq!(t("/v1.41/containers/json"), "/containers/json");
        assert_eq!(t("/_ping"), "/_ping");
        assert_eq!(t("/v1.41/exec/e1/start"), "/exec/:id/start");
        assert_eq!(t("/images/busybox:latest/json"), "/images/:name/json");
        assert_eq!(t("/images/busybox"), "/images/:name");
        assert_eq!(t("/networks/n1/connect"), "/networks/:id/connect");
        assert_eq!(t("/volumes/v1"), "/volumes/:id");
        assert_eq!(t("/no/such/thing/at/all"), "other");
        assert_eq!(t("/%00weird"), "other");
    }

    #[test]
    fn placements_and_requests_are_counted() {
        let m = Metrics::new();
        m.placement(Placement::Placed, Duration::from_millis(3));
        m.placement(Placement::Placed, Duration::from_millis(4));
        m.placement(Placement::NoNode, Duration::from_millis(1));
        m.request(
            "/containers/create",
            "POST",
            StatusCode::CREATED,
            Duration::from_millis(5),
        );
        let cluster = Cluster::new(
            shoal_scheduler::Scheduler::new(&Default::default()).unwrap(),
            Default::default(),
        );
        let text = m.render(&cluster);
        assert!(
            text.contains("shoal_placements_total{outcome=\"placed\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("shoal_placements_total{outcome=\"no_node\"} 1\n"));
        assert!(text.contains("shoal_placement_duration_seconds_count 3\n"));
        assert!(text.contains(
            "shoal_api_requests_total{route=\"/containers/create\",method=\"POST\",status=\"201\"} 1\n"
        ));
        assert!(text.contains("shoal_engines{state=\"healthy\"} 0\n"));
        assert!(text.ends_with("# EOF\n"));
    }
}
