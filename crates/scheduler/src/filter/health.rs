//! `health`: only healthy nodes. When it leaves no node, the error is its
//! own: "No healthy node available in the cluster".

use super::{Filter, PreparedRequest};
use crate::index::NodeRef;

/// The `health` filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Health;

impl Filter for Health {
    fn name(&self) -> &'static str {
        "health"
    }

    fn is_active(&self, _: &PreparedRequest<'_>, _: bool) -> bool {
        true
    }

    fn accepts(&self, _: &PreparedRequest<'_>, node: NodeRef<'_>, _: bool) -> bool {
        node.healthy()
    }

    fn conditions(&self, _: &PreparedRequest<'_>, _: &mut Vec<String>) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn keeps_healthy_nodes_only() {
        let nodes = [
            node("a"),
            node("b").health(false, 0),
            node("c").health(true, 30),
        ];
        assert_eq!(
            accepted(&Health, &request(&[], &[]), &nodes, true),
            ["a", "c"]
        );
        assert!(conditions(&Health, &request(&[], &[])).is_empty());
    }
}
