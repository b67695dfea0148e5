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
use shoal_scheduler::{
    ContainerRequest, ContainerView, ImageView, IndexedNode, NodeView, PortBinding, Scheduler,
};

fn main() {
    divan::main();
}

const GIB: i64 = 1 << 30;
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
const CONTAINERS_PER_NODE: usize = 30;
const REGIONS: [&str; 4] = ["us-east", "us-west", "eu-west", "ap-south"];
const APPS: [&str; 10] = [
    "web", "api", "db", "cache", "queue", "worker", "cron", "proxy", "auth", "search",
];

fn build_node(i: usize) -> NodeView {
    let mut node = NodeView {
        id: format!("{:08X}-ENGINE-ID-{i:08}", i.wrapping_mul(2_654_435_761)),
        name: format!("node-{i}"),
        addr: format!("10.{}.{}.{}:2375", i >> 16, (i >> 8) & 255, i & 255),
        total_cpus: 16,
        total_memory: 64 * GIB,
        reserved_cpus: (i % 13) as i64,
        reserved_memory: (i % 29) as i64 * GIB,
        healthy: i % 50 != 0,
        health_indicator: if i % 50 == 0 {
            0
        } else {
            100 - (i % 3) as i64 * 25
        },
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
        // One replica of `frontend` on every fourth node.
        let app = if j == CONTAINERS_PER_NODE - 1 && i % 4 == 0 {
            "frontend"
        } else {
            APPS[(i + j) % APPS.len()]
        };
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
