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
                    .map(|i| (e.clone(), i.id))
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

    /// The cache-only part of [`Cluster::find_container`].
    pub fn find_cached(&self, query: &str) -> Result<Option<(Arc<Engine>, String)>, ClusterError> {
        if query.is_empty() {
            return Ok(None);
        }
        if let Some((engine, name)) = self.split_node(query) {
            let m = engine.with_cache(|c| c.match_containers(&name));
            let exact: Vec<_> = m.iter().filter(|(_, k)| *k == MatchKind::Exact).collect();
            return Ok(exact.first().map(|(id, _)| (engine.clone(), id.clone())));
        }
        let mut exact = Vec::new();
        let mut prefix = Vec::new();
        for e in self.engines() {
            for (id, kind) in e.with_cache(|c| c.match_containers(query)) {
                match kind {
                    MatchKind::Exact => exact.push((e.clone(), id)),
                    MatchKind::Prefix => prefix.push((e.clone(), id)),
                }
            }
        }
        // A full ID wins outright; then one exact name/swarm ID; then a unique prefix.
        if let Some(i) = exact.iter().position(|(_, id)| id == query) {
            return Ok(Some(exact.swap_remove(i)));
        }
        match (exact.len(), prefix.len()) {
            (1, _) => Ok(exact.pop()),
            (0, 0) => Ok(None),
            (0, 1) => Ok(prefix.pop()),
            _ => Err(ClusterError::Ambiguous(query.to_string())),
        }
    }

    /// Whether a container of that name exists anywhere (cache).
    pub fn name_taken(&self, name: &str) -> Option<String> {
        for e in self.engines() {
            let hit = e.with_cache(|c| {
                c.containers
                    .values()
                    .find(|x| x.name() == name)
                    .map(|x| x.id().to_string())
            });
            if hit.is_some() {
                return hit;
            }
        }
        None
    }
}
