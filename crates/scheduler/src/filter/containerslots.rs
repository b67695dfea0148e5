//! `containerslots`: the engine label `containerslots=N` caps the number of
//! containers (of any state, in-flight ones included) on a node. A node
//! without the label, or whose label is not an integer, has no cap.

use super::{Filter, PreparedRequest};
use crate::index::NodeRef;
use crate::node::NodeView;

/// The engine label read by the filter.
pub const SLOTS_LABEL: &str = "containerslots";

/// The cap the node's label sets: none without the label or when it is not
/// an integer.
pub(crate) fn slots_of(node: &NodeView) -> Option<i64> {
    node.label(SLOTS_LABEL)?.parse().ok()
}

/// The `containerslots` filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContainerSlots;

impl Filter for ContainerSlots {
    fn name(&self) -> &'static str {
        "containerslots"
    }

    /// Always active: classic Swarm failed on an empty node list here.
    fn is_active(&self, _: &PreparedRequest<'_>, _: bool) -> bool {
        true
    }

    fn accepts(&self, _: &PreparedRequest<'_>, node: NodeRef<'_>, _: bool) -> bool {
        match node.container_slots() {
            Some(slots) => (node.container_count() as i64) < slots,
            None => true,
        }
    }

    fn conditions(&self, _: &PreparedRequest<'_>, out: &mut Vec<String>) {
        out.push("available container slots".to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn caps_containers_per_node() {
        let nodes = [
            node("free")
                .label("containerslots", "2")
                .with(container("a")),
            node("full")
                .label("containerslots", "2")
                .with(container("b"))
                .with(container("c")),
            node("zero").label("containerslots", "0"),
            node("nolabel")
                .with(container("d"))
                .with(container("e"))
                .with(container("f")),
            node("garbage")
                .label("containerslots", "two")
                .with(container("g")),
        ];
        assert_eq!(
            accepted(&ContainerSlots, &request(&[], &[]), &nodes, true),
            ["free", "nolabel", "garbage"]
        );
    }

    #[test]
    fn always_lists_its_condition() {
        assert_eq!(
            conditions(&ContainerSlots, &request(&[], &[])),
            ["available container slots"]
        );
    }
}
