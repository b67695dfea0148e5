//! The nodes of the scheduler benches (`select`, `index_memory`), one
//! make for both: node `i` has 30 containers of 10 services (one replica
//! of `frontend` on every fourth node), 6 labels and 5 images; every 50th
//! node is unhealthy.

use shoal_scheduler::{ContainerView, ImageView, NodeView, PortBinding};

pub const GIB: i64 = 1 << 30;
pub const CONTAINERS_PER_NODE: usize = 30;
const REGIONS: [&str; 4] = ["us-east", "us-west", "eu-west", "ap-south"];
const APPS: [&str; 10] = [
    "web", "api", "db", "cache", "queue", "worker", "cron", "proxy", "auth", "search",
];

/// Node `i` of a bench cluster.
pub fn build_node(i: usize) -> NodeView {
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
