//! What the manager holds per container, layer by layer, measured as the
//! growth of this process's resident memory (allocator overhead included)
//! over 100,000 containers like those of the scale run (`busybox sleep`,
//! unnamed, a Swarm ID label, inspect answers of the hollow engines):
//!
//! ```text
//! cargo test --release -p shoal-cluster memory_per_container -- --ignored --nocapture --test-threads=1
//! ```

use std::sync::Arc;

use shoal_api_types::{Info, NodeStatus, SWARM_ID_LABEL};
use shoal_engine::{Engine, EngineCache, EngineOpts, EventHub};
use shoal_hollow::container::{Container, RunState};
use shoal_scheduler::{ContainerView, Scheduler, SchedulerConfig};

use crate::nodes::ContainerIndex;
use crate::{Cluster, ClusterOpts};

const CONTAINERS: usize = 100_000;
const PER_NODE: usize = 100;

/// Resident bytes of this process.
fn rss() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

fn hex(n: u64, len: usize) -> String {
    let mut s = String::new();
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while s.len() < len {
        s.push_str(&format!("{x:016x}"));
        x = x.rotate_left(7).wrapping_mul(0x2545_F491_4F6C_DD1D);
    }
    s.truncate(len);
    s
}

/// The `n`th container as a hollow engine answers its inspect once started.
fn inspect_answer(n: usize) -> Vec<u8> {
    let c = Container {
        id: hex(n as u64, 64),
        name: format!("hollow_{}", hex(n as u64 + 7, 10)),
        image: "busybox".into(),
        image_id: format!("sha256:{}", hex(1, 64)),
        cmd: vec!["sleep".into(), "1000000".into()],
        env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
        labels: vec![(SWARM_ID_LABEL.into(), hex(n as u64 + 3, 64))],
        tty: false,
        open_stdin: false,
        nano_cpus: 0,
        cpu_shares: 0,
        memory: 0,
        network_mode: "default".into(),
        port_bindings: None,
        exposed_ports: Vec::new(),
        created: 1_764_000_000_000_000_000,
        started: 1_764_000_001_000_000_000,
        finished: 0,
        state: RunState::Running,
        exit_code: 0,
        pid: 4242,
        ip_host: (n % 60_000) as u16,
    };
    serde_json::to_vec(&shoal_hollow::shapes::container_inspect(&c)).expect("json")
}

fn per_container(from: i64, to: i64) -> i64 {
    (to - from) / CONTAINERS as i64
}

fn engine(node: usize, cache: EngineCache) -> Arc<Engine> {
    let e = Engine::new(
        &format!("10.{}.{}.1:2375", node / 250, node % 250),
        EngineOpts::default(),
        Arc::new(EventHub::new(8)),
    )
    .expect("engine");
    let info = Info {
        id: format!("ID-{node}"),
        name: format!("node-{node}"),
        ncpu: 2,
        mem_total: 1 << 30,
        ..Default::default()
    };
    e.seed_for_tests(info, NodeStatus::Healthy, cache);
    e
}

fn cluster_of(engines: &[Arc<Engine>]) -> Arc<Cluster> {
    let c = Cluster::new(
        Scheduler::new(&SchedulerConfig::default()).expect("scheduler"),
        ClusterOpts::default(),
    );
    for e in engines {
        c.insert_engine(e.clone());
    }
    c
}

/// The same containers arriving one at a time, as in a fill: each one
/// inserted in its engine's cache and the nodes brought up to date (one
/// container changed per node update), so that the nodes grow their
/// tables step by step.
#[test]
#[ignore = "a measurement, run by hand in release (see the module doc)"]
fn memory_per_container_filled_one_by_one() {
    let engines: Vec<Arc<Engine>> = (0..CONTAINERS / PER_NODE)
        .map(|node| engine(node, EngineCache::default()))
        .collect();
    let c = cluster_of(&engines);
    drop(c.nodes());
    let base = rss();
    for n in 0..CONTAINERS {
        let record =
            shoal_engine::inspect::record_from_slice(&inspect_answer(n)).expect("inspect answer");
        engines[n % engines.len()].insert_container(record);
        drop(c.nodes());
    }
    let filled = rss();
    let stats = c.node_cache_stats();
    println!(
        "filled one by one: {} bytes per container (records, nodes and index; {stats:?})",
        per_container(base, filled)
    );
    assert_eq!(stats.containers_changed, CONTAINERS as u64);
}

#[test]
#[ignore = "a measurement, run by hand in release (see the module doc)"]
fn memory_per_container() {
    let base = rss();
    // 1. the engines' cache records
    let engines: Vec<Arc<Engine>> = (0..CONTAINERS / PER_NODE)
        .map(|node| {
            let mut cache = EngineCache::default();
            for n in node * PER_NODE..(node + 1) * PER_NODE {
                let record = shoal_engine::inspect::record_from_slice(&inspect_answer(n))
                    .expect("inspect answer");
                cache.containers.insert(record.id().to_string(), record);
            }
            engine(node, cache)
        })
        .collect();
    let records = rss();
    // 2. the cluster's nodes (container views, node indexes) and its
    // container index, as placements and lookups use them
    let c = cluster_of(&engines);
    let nodes = c.nodes().list().clone();
    let cluster = rss();
    // what the cluster holds, by part: the views alone, and a second
    // container index
    let views: Vec<ContainerView> = nodes
        .iter()
        .flat_map(|n| n.view().containers.iter().cloned())
        .collect();
    let with_views = rss();
    let mut index = ContainerIndex::default();
    for (n, e) in nodes.iter().zip(&engines) {
        for v in &n.view().containers {
            index.insert(e, v);
        }
    }
    let with_index = rss();
    let record = per_container(base, records);
    let node_all = per_container(records, cluster);
    let view = per_container(cluster, with_views);
    let container_index = per_container(with_views, with_index);
    println!(
        "bytes per container, {CONTAINERS} containers on {} nodes:",
        engines.len()
    );
    println!("  engine cache record          {record:>6}");
    println!("  cluster (nodes + index)      {node_all:>6}");
    println!("    of it: container views     {view:>6}");
    println!("    of it: container index     {container_index:>6}");
    println!(
        "    of it: node index (rest)   {:>6}",
        node_all - view - container_index
    );
    println!("  manager beyond the record    {node_all:>6}");
    assert_eq!(views.len(), CONTAINERS);
    assert!(record > 0 && node_all > 0, "{record} {node_all}");
}
