//! Finding a container in the cluster.

use std::sync::Arc;

use shoal_engine::cache::MatchKind;
use shoal_engine::Engine;

use crate::cluster::Cluster;
use crate::error::ClusterError;

impl Cluster {
    /// Finds a container by full or short ID, swarm ID, name, `/name`,
    /// `node/name` or unique ID prefix: first in the caches, then by asking
    /// the healthy engines (a container made a moment ago straight on an
    /// engine). Returns its engine and full ID.
    pub async fn find_container(&self, query: &str) -> Result<(Arc<Engine>, String), ClusterError> {
        if let Some(found) = self.find_cached(query)? {
            return Ok(found);
        }
        let (engines, name) = match self.split_node(query) {
            Some((engine, name)) => (vec![engine], name),
            None => (self.healthy_engines(), query.to_string()),
        };
        let probes = engines.iter().map(|e| {
            let name = name.clone();
            async move {
                tokio::time::timeout(crate::PROBE_TIMEOUT, e.refresh_container(&name))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .flatten()
                    .map(|id| (e.clone(), id))
            }
        });
        let found: Vec<_> = futures_util::future::join_all(probes)
            .await
            .into_iter()
            .flatten()
            .collect();
        match found.len() {
            0 => Err(ClusterError::NoSuchContainer(query.to_string())),
            1 => Ok(found.into_iter().next().expect("one")),
            _ => Err(ClusterError::Ambiguous(query.to_string())),
        }
    }

    /// `node/name` where `node` is a known node: that engine and `name`.
    fn split_node(&self, query: &str) -> Option<(Arc<Engine>, String)> {
        let q = query.strip_prefix('/').unwrap_or(query);
        let (node, name) = q.split_once('/')?;
        if node.is_empty() || name.is_empty() {
            return None;
        }
        self.engine_by_node(node).map(|e| (e, name.to_string()))
    }

    /// The cache-only part of [`Cluster::find_container`], through the
    /// cluster's container index (brought up to date with the engines that
    /// changed first).
    pub fn find_cached(&self, query: &str) -> Result<Option<(Arc<Engine>, String)>, ClusterError> {
        if query.is_empty() {
            return Ok(None);
        }
        if let Some((engine, name)) = self.split_node(query) {
            let m = engine.with_cache(|c| c.match_containers(&name));
            let exact: Vec<_> = m.iter().filter(|(_, k)| *k == MatchKind::Exact).collect();
            return Ok(exact.first().map(|(id, _)| (engine.clone(), id.clone())));
        }
        let cache = self.nodes();
        cache
            .containers
            .find(query)
            .map_err(|()| ClusterError::Ambiguous(query.to_string()))
    }

    /// Whether a container of that name exists anywhere (cache): its ID.
    pub fn name_taken(&self, name: &str) -> Option<String> {
        let cache = self.nodes();
        let found = cache.containers.named(name).next();
        found.map(|(_, id)| id)
    }
}
