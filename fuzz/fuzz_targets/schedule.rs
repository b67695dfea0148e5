//! A placement with arbitrary nodes and an arbitrary request: expressions
//! built from small alphabets (so they often parse and often match), sizes
//! anywhere in the i64 range, every strategy and overcommits.
//!
//! Checked: never panics (no overflow either: the fuzz build has overflow
//! checks); a chosen node is one of the given nodes and healthy; a hard
//! plain `node==NAME` constraint that placed without dropping soft
//! expressions chose a node called NAME; plain and indexed nodes place alike.

#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use shoal_scheduler::{
    ContainerRequest, ContainerView, ImageView, IndexedNode, NodeView, PortBinding, Scheduler,
    SchedulerConfig,
};

const WORDS: [&str; 10] = [
    "n1", "n2", "web", "db", "redis", "busybox", "us-east", "eu", "ssd", "node",
];
const KEYS: [&str; 8] = [
    "node",
    "container",
    "image",
    "region",
    "storage",
    "Region",
    "com.x",
    "zz",
];
const OPS: [&str; 4] = ["==", "!=", "==~", "!=~"];
const VALUE_CHARS: &[u8] = b"n12web*./|^$?+()[]~ -:_";

fn word(u: &mut Unstructured) -> Result<String> {
    if u.ratio(1, 8)? {
        let len = u.int_in_range(0..=6)?;
        let mut s = String::new();
        for _ in 0..len {
            s.push(*u.choose(VALUE_CHARS)? as char);
        }
        return Ok(s);
    }
    Ok(u.choose(&WORDS)?.to_string())
}

fn expression(u: &mut Unstructured) -> Result<String> {
    if u.ratio(1, 10)? {
        return u.arbitrary::<String>();
    }
    let value = if u.ratio(1, 6)? {
        format!("/{}/", word(u)?)
    } else {
        word(u)?
    };
    Ok(format!("{}{}{}", u.choose(&KEYS)?, u.choose(&OPS)?, value))
}

fn size(u: &mut Unstructured) -> Result<i64> {
    Ok(match u.int_in_range(0..=3)? {
        0 => 0,
        1 => u.int_in_range(0..=8)?,
        2 => u.int_in_range(0..=8)? << 30,
        _ => u.arbitrary()?,
    })
}

fn labels(u: &mut Unstructured) -> Result<shoal_scheduler::Labels> {
    let mut labels = shoal_scheduler::Labels::new();
    for _ in 0..u.int_in_range(0..=3)? {
        labels.insert(u.choose(&KEYS)?.to_ascii_lowercase(), word(u)?);
    }
    Ok(labels)
}

fn port(u: &mut Unstructured) -> Result<PortBinding> {
    Ok(PortBinding {
        host_ip: (*u.choose(&["", "0.0.0.0", "10.0.0.1"])?).into(),
        host_port: u.int_in_range(0..=3)?,
        protocol: (*u.choose(&["", "tcp", "udp"])?).into(),
    })
}

fn node(u: &mut Unstructured, i: usize) -> Result<NodeView> {
    let mut containers = Vec::new();
    for c in 0..u.int_in_range(0..=3)? {
        containers.push(ContainerView {
            id: format!("{i:02}{c:062}").into(),
            name: format!("/{}", word(u)?).into(),
            image: word(u)?.into(),
            labels: labels(u)?.into_iter().collect(),
            port_bindings: Box::new([port(u)?]),
            host_network: u.arbitrary()?,
            exposed_ports: Box::new([format!("{}/tcp", u.int_in_range(0..=3)?).into()]),
        });
    }
    Ok(NodeView {
        id: format!("ID-{i}"),
        name: word(u)?,
        addr: format!("10.0.0.{i}:2376"),
        labels: labels(u)?,
        total_cpus: size(u)?,
        total_memory: size(u)?,
        reserved_cpus: size(u)?,
        reserved_memory: size(u)?,
        healthy: u.ratio(4, 5)?,
        health_indicator: u.int_in_range(0..=100)?,
        containers,
        images: vec![ImageView {
            id: format!("sha256:{i:064}"),
            repo_tags: vec![format!("{}:latest", word(u)?)],
        }],
    })
}

fn run(u: &mut Unstructured) -> Result<()> {
    let nodes: Vec<NodeView> = (0..u.int_in_range(0..=5)?)
        .map(|i| node(u, i))
        .collect::<Result<_>>()?;
    let mut request = ContainerRequest::new(word(u)?);
    request.cpus = size(u)?;
    request.memory = size(u)?;
    for _ in 0..u.int_in_range(0..=3)? {
        request.constraints.push(expression(u)?);
    }
    for _ in 0..u.int_in_range(0..=2)? {
        request.affinities.push(expression(u)?);
    }
    if u.arbitrary()? {
        request.port_bindings.push(port(u)?);
    }
    request.network_mode = u
        .choose(&["", "host", "bridge", "container:web", "container:db"])?
        .to_string();
    request.links = vec![format!("{}:alias", word(u)?)];
    if u.arbitrary()? {
        request.volumes_from = vec![word(u)?];
    }
    let config = SchedulerConfig {
        strategy: u.choose(&["spread", "binpack"])?.to_string(),
        overcommit: *u.choose(&[0.0, 0.05, 0.5, -0.5, 1e12])?,
        ..Default::default()
    };
    let scheduler = Scheduler::new(&config).expect("a valid configuration");
    let placed = scheduler.select(&nodes, &request);
    let indexed: Vec<IndexedNode> = nodes.iter().cloned().map(IndexedNode::new).collect();
    let placed_indexed = scheduler.select(&indexed, &request);
    assert_eq!(placed, placed_indexed, "plain and indexed nodes disagree");
    let _ = scheduler.overcommitted(size(u)?);
    match placed {
        Ok(p) => {
            let chosen = &nodes[p.index];
            assert!(chosen.healthy, "an unhealthy node was chosen");
            if !p.soft_dropped {
                for c in &request.constraints {
                    if let Some(name) = c.strip_prefix("node==") {
                        if !name.starts_with('~')
                            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        {
                            assert_eq!(chosen.name, name, "node constraint {c:?} broken");
                        }
                    }
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
