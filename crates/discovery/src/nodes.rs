//! `nodes://a:p,b:p` (or a bare `a:p,b:p`): a static list of nodes.

use std::sync::Arc;
use std::time::Duration;

use crate::{addr, ranges, validate_addr, Discovery, DiscoveryError, Watch};

/// A fixed list of nodes given in the URL.
#[derive(Clone, Debug)]
pub struct NodesDiscovery {
    nodes: Arc<Vec<String>>,
}

impl NodesDiscovery {
    /// Parses the part after `nodes://`: comma-separated `host:port` entries,
    /// each with at most one `[from:to]` range.
    pub fn parse(list: &str) -> Result<Self, DiscoveryError> {
        let mut nodes = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            for a in ranges::expand(entry)? {
                validate_addr(&a)?;
                nodes.push(a);
            }
        }
        if nodes.is_empty() {
            return Err(DiscoveryError::url(
                &format!("nodes://{list}"),
                "names no node",
            ));
        }
        Ok(NodesDiscovery {
            nodes: Arc::new(addr::dedup(nodes)),
        })
    }

    /// The expanded list.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }
}

#[async_trait::async_trait]
impl Discovery for NodesDiscovery {
    fn scheme(&self) -> &'static str {
        "nodes"
    }

    async fn fetch(&self) -> Result<Vec<String>, DiscoveryError> {
        Ok(self.nodes.to_vec())
    }

    fn watch(&self, _heartbeat: Duration) -> Watch {
        let nodes = self.nodes.to_vec();
        Watch::spawn(move |tx| async move {
            if tx.send(Ok(nodes)).await.is_ok() {
                // The list never changes: stay open until the receiver goes.
                tx.closed().await;
            }
        })
    }

    async fn register(&self, _addr: &str, _ttl: Duration) -> Result<(), DiscoveryError> {
        Err(DiscoveryError::Unsupported {
            backend: "nodes",
            operation: "register (the list is static)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_with_ranges_and_duplicates() {
        let d = NodesDiscovery::parse("a:1, 10.0.0.[1:2]:2375,a:1,,").unwrap();
        assert_eq!(d.nodes(), ["a:1", "10.0.0.1:2375", "10.0.0.2:2375"]);
    }

    #[test]
    fn refuses_bad_entries() {
        assert!(NodesDiscovery::parse("")
            .unwrap_err()
            .to_string()
            .contains("names no node"));
        assert!(NodesDiscovery::parse("a:1,b")
            .unwrap_err()
            .to_string()
            .contains("\"b\""));
        assert!(NodesDiscovery::parse("a:[5:1]")
            .unwrap_err()
            .to_string()
            .contains("[5:1]"));
    }

    #[tokio::test]
    async fn watch_sends_the_list_once_and_register_is_refused() {
        let d = NodesDiscovery::parse("a:1,b:2").unwrap();
        let mut w = d.watch(Duration::from_millis(10));
        assert_eq!(w.next().await.unwrap().unwrap(), ["a:1", "b:2"]);
        let again = tokio::time::timeout(Duration::from_millis(100), w.next()).await;
        assert!(again.is_err(), "a static list sends nothing more");
        let err = d.register("c:3", Duration::from_secs(1)).await.unwrap_err();
        assert!(err.to_string().contains("does not support register"));
    }
}
