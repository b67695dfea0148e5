//! One container of a node changing, with the node's index kept true:
//! indexing the whole node again (`IndexedNode::new`, what a manager did
//! per change) against changing it in place (`replace_container`, and
//! `insert_container` then `remove_container`), on nodes of 30 to 1,000
//! containers (`UPDATE_CONTAINERS=30,100` for others).
//!
//! Run: `cargo bench -p shoal-scheduler --bench index_update`.

use divan::{black_box, Bencher};
use shoal_scheduler::{ContainerView, ImageView, IndexedNode, NodeView, PortBinding};

fn main() {
    divan::main();
}

const APPS: [&str; 10] = [
    "web", "api", "db", "cache", "queue", "worker", "cron", "proxy", "auth", "search",
];

fn sizes() -> Vec<usize> {
    match std::env::var("UPDATE_CONTAINERS") {
        Ok(list) => list
            .split(',')
            .map(|n| n.trim().parse().expect("UPDATE_CONTAINERS: counts"))
            .collect(),
        Err(_) => vec![30, 100, 1_000],
    }
}

/// Container `j` of a node: a name, a service label, a Swarm ID, a port
/// now and then.
fn container(j: usize) -> ContainerView {
    let app = APPS[j % APPS.len()];
    let mut c = ContainerView {
        id: format!("{:016x}{:016x}{:016x}{:016x}", 7, j, 7 ^ j, 7 * 31 + j).into(),
        name: format!("/{app}-7-{j}").into(),
        image: format!("{app}:1.{}", j % 4).into(),
        ..Default::default()
    };
    c.labels.insert("com.docker.compose.service", app);
    c.labels
        .insert("com.docker.swarm.id", format!("{:064x}", 7000 + j));
    if j % 10 == 0 {
        c.port_bindings = [PortBinding::tcp(8000 + j as u16)].into();
    }
    c
}

fn node(containers: usize) -> NodeView {
    let mut node = NodeView {
        id: "ENGINE-7".into(),
        name: "node-7".into(),
        total_cpus: 16,
        total_memory: 64 << 30,
        healthy: true,
        health_indicator: 100,
        ..Default::default()
    };
    node.labels.insert("region".into(), "us-east".into());
    node.containers = (0..containers).map(container).collect();
    node.images = APPS
        .iter()
        .enumerate()
        .map(|(k, app)| ImageView {
            id: format!("sha256:{k:064x}"),
            repo_tags: vec![format!("{app}:latest")],
        })
        .collect();
    node
}

/// The whole node indexed again after one container changed.
#[divan::bench(args = sizes())]
fn reindex_node(bencher: Bencher, n: usize) {
    let view = node(n);
    bencher
        .with_inputs(|| view.clone())
        .bench_values(|view| IndexedNode::new(black_box(view)));
}

/// One container replaced by a changed one (same ID), in place.
#[divan::bench(args = sizes())]
fn replace_container(bencher: Bencher, n: usize) {
    let mut indexed = IndexedNode::new(node(n));
    let mut changed = container(n / 2);
    changed
        .labels
        .insert("com.docker.compose.service", "changed");
    let original = container(n / 2);
    let mut flip = false;
    bencher.bench_local(|| {
        flip = !flip;
        let next = if flip { &changed } else { &original };
        black_box(indexed.replace_container(next.clone()))
    });
}

/// One container added, then removed again, in place.
#[divan::bench(args = sizes())]
fn insert_then_remove(bencher: Bencher, n: usize) {
    let mut indexed = IndexedNode::new(node(n));
    let added = container(n + 1);
    let id = added.id.clone();
    bencher.bench_local(|| {
        indexed.insert_container(added.clone());
        black_box(indexed.remove_container(&id))
    });
}
