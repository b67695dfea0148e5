//! Memory of the node index per container: resident bytes the process
//! grows by when `SELECT_NODES` nodes (default 10,000) of the `select`
//! bench's make (`shared/cluster_nodes.rs`: 30 containers, 10 services,
//! 6 labels, 5 images) are indexed, less what their views take, per
//! container.
//!
//! Run: `cargo bench -p shoal-scheduler --bench index_memory`. Resident
//! memory (Linux `/proc/self/statm`), so malloc's own overhead counts;
//! what nodes share (their labels, their images) counts once.

use shoal_scheduler::{IndexedNode, NodeView};

#[path = "shared/cluster_nodes.rs"]
mod cluster_nodes;

use cluster_nodes::{build_node, CONTAINERS_PER_NODE};

/// Resident bytes of the process.
fn resident() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

fn main() {
    let nodes: usize = std::env::var("SELECT_NODES")
        .ok()
        .and_then(|n| n.split(',').next_back()?.trim().parse().ok())
        .unwrap_or(10_000);
    let start = resident();
    let views: Vec<NodeView> = (0..nodes).map(build_node).collect();
    let with_views = resident();
    let copies: Vec<NodeView> = views.clone();
    let with_copies = resident();
    let indexed: Vec<IndexedNode> = copies.into_iter().map(IndexedNode::new).collect();
    let with_index = resident();
    let containers = nodes * CONTAINERS_PER_NODE;
    let view_bytes = with_copies - with_views;
    let index_bytes = with_index - with_copies;
    println!(
        "{nodes} nodes, {containers} containers: views {} B per container, \
         index {} B per container ({} B in place per node, IndexedNode {} B)",
        view_bytes / containers,
        index_bytes / containers,
        std::mem::size_of::<shoal_scheduler::NodeIndex>(),
        std::mem::size_of::<IndexedNode>(),
    );
    println!(
        "(views built from scratch: {} B per container)",
        (with_views - start) / containers
    );
    std::hint::black_box((&views, &indexed));
}
