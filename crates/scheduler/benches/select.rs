//! One placement decision among 100 to 100,000 nodes of ~30 containers each,
//! with the default filters; each scenario with plain node views
//! (`INDEXED = false`) and with indexed nodes (`INDEXED = true`).
//!
//! Run: `cargo bench -p shoal-scheduler --bench select`; a subset of
//! scenarios by name (`-- anti_affinity`), of sizes with
//! `SELECT_NODES=1000,10000`.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use divan::{black_box, Bencher};
use shoal_scheduler::{ContainerRequest, IndexedNode, NodeView, PortBinding, Scheduler};

fn main() {
    divan::main();
}

#[path = "shared/cluster_nodes.rs"]
mod cluster_nodes;

use cluster_nodes::{build_node, GIB};

const SIZES: [usize; 4] = [100, 1_000, 10_000, 100_000];

/// [`SIZES`], or the node counts listed in `SELECT_NODES`.
fn sizes() -> Vec<usize> {
    match std::env::var("SELECT_NODES") {
        Ok(list) => list
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .expect("SELECT_NODES: node counts, comma-separated")
            })
            .collect(),
        Err(_) => SIZES.to_vec(),
    }
}
/// Clusters are built once per size and kept for the whole run.
fn cluster(n: usize) -> &'static [NodeView] {
    static CLUSTERS: OnceLock<Mutex<HashMap<usize, &'static [NodeView]>>> = OnceLock::new();
    let mut clusters = CLUSTERS.get_or_init(Default::default).lock().unwrap();
    clusters.entry(n).or_insert_with(|| {
        Box::leak(
            (0..n)
                .map(build_node)
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        )
    })
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The same clusters with every node indexed (as a manager keeps them).
fn indexed_cluster(n: usize) -> &'static [IndexedNode] {
    static CLUSTERS: OnceLock<Mutex<HashMap<usize, &'static [IndexedNode]>>> = OnceLock::new();
    let mut clusters = CLUSTERS.get_or_init(Default::default).lock().unwrap();
    clusters.entry(n).or_insert_with(|| {
        Box::leak(
            cluster(n)
                .iter()
                .cloned()
                .map(IndexedNode::new)
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        )
    })
}

/// Benches one request against the cluster of `n` nodes (indexed or not),
/// after checking that it places (or fails) as the scenario means to.
fn bench_request(bencher: Bencher, n: usize, indexed: bool, req: ContainerRequest, places: bool) {
    let scheduler = Scheduler::default();
    if indexed {
        let nodes = indexed_cluster(n);
        let result = scheduler.select(nodes, &req);
        assert_eq!(result.is_ok(), places, "{result:?}");
        assert_eq!(
            result,
            scheduler.select(cluster(n), &req),
            "indexed and plain differ"
        );
        bencher.bench(|| scheduler.select(black_box(nodes), black_box(&req)));
    } else {
        let nodes = cluster(n);
        let result = scheduler.select(nodes, &req);
        assert_eq!(result.is_ok(), places, "{result:?}");
        bencher.bench(|| scheduler.select(black_box(nodes), black_box(&req)));
    }
}

/// `docker run -m 1g -c 1 busybox`: the default filters, nothing else.
#[divan::bench(consts = [false, true], args = sizes())]
fn plain<const INDEXED: bool>(bencher: Bencher, n: usize) {
    let req = ContainerRequest {
        cpus: 1,
        memory: GIB,
        ..ContainerRequest::new("busybox")
    };
    bench_request(bencher, n, INDEXED, req, true);
}

/// Two constraints on node labels and the node name, with `-m`.
#[divan::bench(consts = [false, true], args = sizes())]
fn constraints<const INDEXED: bool>(bencher: Bencher, n: usize) {
    let req = ContainerRequest {
        memory: GIB,
        constraints: strings(&["region==us-*", "node!=node-7"]),
        ..ContainerRequest::new("busybox")
    };
    bench_request(bencher, n, INDEXED, req, true);
}

/// A label anti-affinity (spreading replicas): every container of every node
/// is looked at.
#[divan::bench(consts = [false, true], args = sizes())]
fn anti_affinity<const INDEXED: bool>(bencher: Bencher, n: usize) {
    let req = ContainerRequest {
        memory: GIB,
        affinities: strings(&["com.docker.compose.service!=frontend"]),
        ..ContainerRequest::new("frontend")
    };
    bench_request(bencher, n, INDEXED, req, true);
}

/// Four constraints (one soft), a label anti-affinity, a container affinity by
/// glob, a published port, `-m` and `-c`.
#[divan::bench(consts = [false, true], args = sizes())]
fn everything<const INDEXED: bool>(bencher: Bencher, n: usize) {
    let req = ContainerRequest {
        cpus: 1,
        memory: 2 * GIB,
        constraints: strings(&[
            "region==us-*",
            "node!=node-7",
            "storage==~ssd",
            "ostype==linux",
        ]),
        affinities: strings(&["com.docker.compose.service!=frontend", "container==api-*"]),
        port_bindings: vec![PortBinding::tcp(8042)],
        ..ContainerRequest::new("api:1.0")
    };
    bench_request(bencher, n, INDEXED, req, true);
}

/// `/regex/` constraints (compiled per request) and an image affinity.
#[divan::bench(consts = [false, true], args = sizes())]
fn regex_and_image<const INDEXED: bool>(bencher: Bencher, n: usize) {
    let req = ContainerRequest {
        memory: GIB,
        constraints: strings(&["kernelversion==/^6\\.1\\./", "region!=/ap-/"]),
        affinities: strings(&["image==cache"]),
        ..ContainerRequest::new("cache")
    };
    bench_request(bencher, n, INDEXED, req, true);
}

/// No node satisfies the request: the filters are replayed in order to say
/// which condition failed.
#[divan::bench(consts = [false, true], args = sizes())]
fn unsatisfiable<const INDEXED: bool>(bencher: Bencher, n: usize) {
    let req = ContainerRequest {
        constraints: strings(&["region==us-*"]),
        affinities: strings(&["container==no-such-container"]),
        ..ContainerRequest::new("busybox")
    };
    bench_request(bencher, n, INDEXED, req, false);
}
