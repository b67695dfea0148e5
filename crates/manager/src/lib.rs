//! shoal-manager: the Docker Remote API in front of the cluster.
//!
//! - [`server`]: listeners (`tcp://`, `unix://`) and HTTP/1.1 connections
//!   with upgrades;
//! - [`route`]: paths with or without `/vX.Y`, query parameters;
//! - [`handlers`]: one module per API area (system, containers, exec,
//!   images, networks, volumes, events): aggregation over engines or
//!   forwarding to the engine concerned;
//! - [`proxy`] and [`hijack`]: streaming forwarding, and upgraded
//!   (attach/exec) connections spliced both ways;
//! - [`gate`]: what every request passes before and after the handlers
//!   (`/metrics`, request metrics);
//! - [`metrics`]: the Prometheus metrics;
//! - [`shutdown`]: the graceful stop (SIGTERM, SIGINT);
//! - [`replication`]: replicated managers, a replica forwarding to the
//!   primary.
//!
//! How a request flows: `server` accepts, `handlers::handle` parses the
//! path and routes. Aggregated answers (`/info` from the engine caches;
//! `/containers/json`, `/images/json`, `/networks`, `/volumes` asked live
//! of every healthy engine, at most 3 s each, the cache standing in for an
//! engine that does not answer) are built here; `/events` merges the hub
//! (engines' events stamped with their node, plus the manager's
//! `engine_connect`/`engine_disconnect`/`engine_reconnect`) with the
//! engines' own records for `since`. A create goes to the cluster (scheduler,
//! reservation, engine call). Everything about one container or exec is
//! found in the cluster and forwarded to its engine with the real ID, body
//! and answer streaming (`wait` answers its headers at once; attach and exec
//! start are hijacked). Pull, import, load, tag, rmi, prune and `system df`
//! go to every engine concerned; build to one.

#![recursion_limit = "256"]
// Handlers return early with a ready answer (`Err(Reply)`); boxing it buys nothing.
#![allow(clippy::result_large_err)]

pub mod gate;
pub mod handlers;
pub mod hijack;
pub mod metrics;
pub mod proxy;
pub mod replication;
pub mod reply;
pub mod route;
pub mod server;
pub mod shutdown;
pub mod tls;

use std::sync::Arc;

use shoal_cluster::Cluster;

pub use server::{serve, Listener, ServerError};

/// What the API serves and how.
pub struct Api {
    pub cluster: Arc<Cluster>,
    /// `--api-enable-cors`.
    pub cors: bool,
    /// `primary` (replication comes with high availability).
    pub role: String,
    /// Name shown in `docker info` (the manager's host name).
    pub name: String,
    /// What `/metrics` shows.
    pub metrics: metrics::Metrics,
    /// The graceful stop every listener and connection follows.
    pub shutdown: Arc<shutdown::Shutdown>,
    /// `--replication`: this manager's place among the managers, set once
    /// at start.
    pub replication: std::sync::OnceLock<replication::Replication>,
}

impl Api {
    pub fn new(cluster: Arc<Cluster>, cors: bool) -> Arc<Self> {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "shoal".into());
        Arc::new(Self {
            cluster,
            cors,
            role: "primary".into(),
            name,
            metrics: metrics::Metrics::new(),
            shutdown: Arc::new(shutdown::Shutdown::new()),
            replication: std::sync::OnceLock::new(),
        })
    }

    /// `Role` in `docker info`: `primary`, or with replication what the
    /// election says.
    pub fn role(&self) -> String {
        match self.replication.get() {
            Some(r) => r.role().to_string(),
            None => self.role.clone(),
        }
    }

    /// The SystemStatus lines that follow `Role` (`Primary: ADDR` on a
    /// replica).
    pub fn role_lines(&self) -> Vec<[String; 2]> {
        self.replication
            .get()
            .map(|r| r.status_lines())
            .unwrap_or_default()
    }
}
