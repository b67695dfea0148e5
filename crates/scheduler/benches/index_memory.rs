//! Memory of the node index per container: resident bytes the process
//! grows by when `SELECT_NODES` nodes (default 10,000) of the `select`
//! bench's make (30 containers, 10 services, 6 labels, 5 images) are
//! indexed, less what their views take, per container.
//!
//! Run: `cargo bench -p shoal-scheduler --bench index_memory`. Resident
//! memory (Linux `/proc/self/statm`), so malloc's own overhead counts;
//! what nodes share (their labels, their images) counts once.

use shoal_scheduler::{ContainerView, ImageView, IndexedNode, NodeView, PortBinding};

const GIB: i64 = 1 << 30;
const CONTAINERS_PER_NODE: usize = 30;
const REGIONS: [&str; 4] = ["us-east", "us-west", "eu-west", "ap-south"];
const APPS: [&str; 10] = [
    "web", "api", "db", "cache", "queue", "worker", "cron", "proxy", "auth", "search",
];

/// The `select` bench's node `i`.
fn build_node(i: usize) -> NodeView {
    let mut node = NodeView {
        id: format!("{:08X}-ENGINE-ID-{i:08}", i.wrapping_mul(2_654_435_761)),
        name: format!("node-{i}"),
        addr: format!("10.{}.{}.{}:2375", i >> 16, (i >> 8) & 255, i & 255),
        total_cpus: 16,
        total_memory: 64 * GIB,
        reserved_cpus: (i % 13) as i64,
        reserved_memory: (i % 29) as i64 * GIB,
        healthy: true,
        health_indicator: 100,
        ..Default::default()
    };
    for (k, v) in [
        ("storagedriver", "overlay2"),
        ("kernelversion", "6.1.0-18-amd64"),
        ("operatingsystem", "Debian GNU/Linux 12 (bookworm)"),
        ("ostype", "linux"),
        ("region", REGIONS[i % REGIONS.len()]),
        ("storage", if i % 3 == 0 { "ssd" } else { "disk" }),
    ] {
        node.labels.insert(k.into(), v.into());
    }
    for j in 0..CONTAINERS_PER_NODE {
        let app = APPS[(i + j) % APPS.len()];
        let mut c = ContainerView {
            id: format!("{:016x}{:016x}{:016x}{:016x}", i, j, i ^ j, i * 31 + j).into(),
            name: format!("/{app}-{i}-{j}").into(),
            image: format!("{app}:1.{}", j % 4).into(),
            ..Default::default()
        };
        c.labels.insert("com.docker.compose.service", app);
        c.labels
            .insert("com.docker.swarm.id", format!("{:064x}", i * 1000 + j));
        if j == 0 {
            c.port_bindings = [PortBinding::tcp(8000 + (i % 100) as u16)].into();
        }
        node.containers.push(c);
    }
    for (k, app) in APPS.iter().enumerate().take(5) {
        node.images.push(ImageView {
            id: format!("sha256:{:064x}", (i % 7) * 100 + k),
            repo_tags: vec![format!("{app}:1.{}", k % 4), format!("{app}:latest")],
        });
    }
    node
}

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
