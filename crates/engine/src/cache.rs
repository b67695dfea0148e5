//! What the manager knows of one engine between two refreshes.

use std::collections::BTreeMap;

use serde_json::Value;
use shoal_api_types::{ContainerInspect, ContainerSummary, ImageSummary, SWARM_ID_LABEL};

/// One container: its list item and, once fetched, its inspect object.
#[derive(Debug, Clone, Default)]
pub struct CachedContainer {
    pub summary: ContainerSummary,
    pub inspect: Option<ContainerInspect>,
}

impl CachedContainer {
    pub fn id(&self) -> &str {
        &self.summary.id
    }

    /// The name without slash.
    pub fn name(&self) -> &str {
        match &self.inspect {
            Some(i) if !i.name.is_empty() => i.short_name(),
            _ => self.summary.name(),
        }
    }

    pub fn labels(&self) -> &BTreeMap<String, String> {
        match &self.inspect {
            Some(i) => &i.config.labels,
            None => &self.summary.labels,
        }
    }

    pub fn swarm_id(&self) -> Option<&str> {
        self.labels().get(SWARM_ID_LABEL).map(String::as_str)
    }

    pub fn is_running(&self) -> bool {
        match &self.inspect {
            Some(i) => i.state.running,
            None => self.summary.state == "running" || self.summary.state == "paused",
        }
    }

    pub fn is_paused(&self) -> bool {
        match &self.inspect {
            Some(i) => i.state.paused,
            None => self.summary.state == "paused",
        }
    }

    /// CPUs and memory this container reserves on its node.
    pub fn reserved(&self, ncpu: i64) -> (i64, i64) {
        match &self.inspect {
            Some(i) => (i.reserved_cpus(ncpu), i.host_config.memory.max(0)),
            None => (0, 0),
        }
    }
}

/// How a query named a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchKind {
    /// Full ID, swarm ID or exact name: wins over everything.
    Exact,
    /// An ID prefix: only good when unique.
    Prefix,
}

/// Cached containers, images, networks and volumes of one engine.
#[derive(Debug, Clone, Default)]
pub struct EngineCache {
    pub containers: BTreeMap<String, CachedContainer>,
    pub images: Vec<ImageSummary>,
    pub networks: Vec<Value>,
    pub volumes: Vec<Value>,
}

impl EngineCache {
    /// Matches `query` (ID, ID prefix, swarm ID, name or `/name`) against
    /// the containers; returns every match with how it matched.
    pub fn match_containers(&self, query: &str) -> Vec<(String, MatchKind)> {
        let name = query.strip_prefix('/').unwrap_or(query);
        let mut out = Vec::new();
        for c in self.containers.values() {
            if c.id() == query || c.name() == name || c.swarm_id() == Some(query) {
                out.push((c.id().to_string(), MatchKind::Exact));
            } else if !query.is_empty() && c.id().starts_with(query) {
                out.push((c.id().to_string(), MatchKind::Prefix));
            }
        }
        out
    }

    pub fn has_name(&self, name: &str) -> bool {
        self.containers.values().any(|c| c.name() == name)
    }

    /// (total, running, paused, stopped)
    pub fn counts(&self) -> (i64, i64, i64, i64) {
        let mut t = (0, 0, 0, 0);
        for c in self.containers.values() {
            t.0 += 1;
            if c.is_paused() {
                t.2 += 1;
            } else if c.is_running() {
                t.1 += 1;
            } else {
                t.3 += 1;
            }
        }
        t
    }

    /// Sum of CPUs and memory reserved by every container, on a node with
    /// `ncpu` CPUs.
    pub fn reserved(&self, ncpu: i64) -> (i64, i64) {
        self.containers
            .values()
            .map(|c| c.reserved(ncpu))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }

    /// Whether some image here answers to `name`.
    pub fn has_image(&self, name: &str) -> bool {
        self.images.iter().any(|i| i.matches(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cached(id: &str, name: &str, swarm: &str, state: &str) -> CachedContainer {
        let summary: ContainerSummary = serde_json::from_value(json!({
            "Id": id, "Names": [format!("/{name}")], "State": state,
            "Labels": {SWARM_ID_LABEL: swarm}
        }))
        .unwrap();
        CachedContainer {
            summary,
            inspect: None,
        }
    }

    #[test]
    fn matching_and_counts() {
        let mut c = EngineCache::default();
        for x in [
            cached("abc123", "web", "s1", "running"),
            cached("abd456", "db", "s2", "exited"),
            cached("ff", "p", "s3", "paused"),
        ] {
            c.containers.insert(x.id().to_string(), x);
        }
        assert_eq!(
            c.match_containers("web"),
            vec![("abc123".into(), MatchKind::Exact)]
        );
        assert_eq!(
            c.match_containers("/db"),
            vec![("abd456".into(), MatchKind::Exact)]
        );
        assert_eq!(
            c.match_containers("s2"),
            vec![("abd456".into(), MatchKind::Exact)]
        );
        assert_eq!(c.match_containers("ab").len(), 2);
        assert_eq!(
            c.match_containers("abc"),
            vec![("abc123".into(), MatchKind::Prefix)]
        );
        assert!(c.match_containers("zz").is_empty());
        assert_eq!(c.counts(), (3, 1, 1, 1));
        assert!(c.has_name("db"));
    }
}
