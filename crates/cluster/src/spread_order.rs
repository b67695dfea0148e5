//! The healthy nodes in the order `spread` prefers them for a container
//! that asks for no CPU and no memory, kept as nodes are rebuilt: then the
//! scheduler's weight is the same on every node but for the health term,
//! so its choice among the nodes the filters accept is the first of this
//! order they accept (healthiest, then fewest containers, then first).
//!
//! A placement takes the first node of the order (counting the containers
//! in flight), asks the scheduler about that one node, and when the
//! scheduler takes it, that is the node the pass over every node would
//! have chosen: no node the filters accept comes before it. When the
//! scheduler refuses it, the placement passes over every node as before.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::nodes::CachedNode;

/// (minus the health indicator, containers, position).
type Key = (i64, usize, usize);

#[derive(Debug, Default)]
pub(crate) struct SpreadOrder {
    order: BTreeSet<Key>,
    /// Per position, its key when the node is healthy.
    keys: Vec<Option<Key>>,
}

fn key(node: &CachedNode, position: usize) -> Option<Key> {
    let view = node.view();
    view.healthy
        .then(|| (-view.health_indicator, view.containers.len(), position))
}

impl SpreadOrder {
    /// Orders `nodes` afresh.
    pub(crate) fn reset(&mut self, nodes: &[Arc<CachedNode>]) {
        self.keys = nodes.iter().enumerate().map(|(i, n)| key(n, i)).collect();
        self.order = self.keys.iter().flatten().copied().collect();
    }

    /// The node at `position` was rebuilt.
    pub(crate) fn replace(&mut self, position: usize, node: &CachedNode) {
        let Some(slot) = self.keys.get_mut(position) else {
            return;
        };
        if let Some(old) = slot.take() {
            self.order.remove(&old);
        }
        *slot = key(node, position);
        if let Some(new) = *slot {
            self.order.insert(new);
        }
    }

    /// The first node of the order once `in_flight` (position, containers
    /// in flight there) are counted: the node `spread` would choose if the
    /// filters accept it.
    pub(crate) fn first(&self, in_flight: &[(usize, usize)]) -> Option<usize> {
        let settled = self
            .order
            .iter()
            .find(|(_, _, p)| !in_flight.iter().any(|(q, _)| q == p))
            .copied();
        let flying = in_flight.iter().filter_map(|&(p, n)| {
            let (health, containers, p) = (*self.keys.get(p)?)?;
            Some((health, containers + n, p))
        });
        settled.into_iter().chain(flying).min().map(|(_, _, p)| p)
    }
}
