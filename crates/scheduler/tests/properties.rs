//! Property tests of the scheduler against a small independent oracle.

use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use regex::Regex;
use shoal_scheduler::{
    ContainerRequest, ContainerView, Expr, ImageView, IndexedNode, NodeView, Overlaid, Overlay,
    PortBinding, ScheduleError, Scheduler, SchedulerConfig,
};

const GIB: i64 = 1 << 30;
const REGIONS: [&str; 3] = ["eu", "us", "ap"];
const APPS: [&str; 3] = ["web", "db", "cache"];

/// One generated container: its name, `app` label and host port.
fn arb_container() -> impl Strategy<Value = (usize, Option<usize>, Option<u16>)> {
    (
        0..6usize,
        proptest::option::of(0..3usize),
        proptest::option::of(prop_oneof![Just(80u16), Just(8080)]),
    )
}

prop_compose! {
    fn arb_node(index: usize)(
        region in proptest::option::of(0..3usize),
        healthy in proptest::bool::weighted(0.85),
        health in prop_oneof![3 => Just(100i64), 1 => 0..=100i64],
        cpus in 1..=8i64,
        mem_gib in 1..=8i64,
        used_cpus in 0..=8i64,
        used_mem_gib in 0..=8i64,
        slots in proptest::option::of(0..4usize),
        containers in proptest::collection::vec(arb_container(), 0..4),
    ) -> NodeView {
        let mut node = NodeView {
            id: format!("ID{index}"),
            name: format!("node-{index}"),
            total_cpus: cpus,
            total_memory: mem_gib * GIB,
            reserved_cpus: used_cpus.min(cpus),
            reserved_memory: used_mem_gib.min(mem_gib) * GIB,
            healthy,
            health_indicator: if healthy { health } else { 0 },
            ..Default::default()
        };
        if let Some(r) = region {
            node.labels.insert("region".into(), REGIONS[r].into());
        }
        if let Some(s) = slots {
            node.labels.insert("containerslots".into(), s.to_string());
        }
        for (i, (name, app, port)) in containers.into_iter().enumerate() {
            let mut c = ContainerView {
                id: format!("{:064x}", index * 100 + i).into(),
                name: format!("/c{name}").into(),
                ..Default::default()
            };
            if let Some(a) = app {
                c.labels.insert("app", APPS[a]);
            }
            if let Some(p) = port {
                c.port_bindings = [PortBinding::tcp(p)].into();
            }
            node.containers.push(c);
        }
        node
    }
}

fn arb_nodes() -> impl Strategy<Value = Vec<NodeView>> {
    (0..12usize).prop_flat_map(|n| (0..n).map(arb_node).collect::<Vec<_>>())
}

/// A constraint or affinity the oracle understands: (text, is_affinity).
fn arb_expr() -> impl Strategy<Value = (String, bool)> {
    prop_oneof![
        (0..3usize, any::<bool>(), any::<bool>()).prop_map(|(r, eq, soft)| {
            let op = if eq { "==" } else { "!=" };
            (
                format!("region{op}{}{}", if soft { "~" } else { "" }, REGIONS[r]),
                false,
            )
        }),
        (0..12usize).prop_map(|n| (format!("node!=node-{n}"), false)),
        (0..3usize, any::<bool>(), any::<bool>()).prop_map(|(a, eq, soft)| {
            let op = if eq { "==" } else { "!=" };
            (
                format!("app{op}{}{}", if soft { "~" } else { "" }, APPS[a]),
                true,
            )
        }),
        (0..6usize).prop_map(|n| (format!("container==c{n}"), true)),
    ]
}

prop_compose! {
    fn arb_request()(
        exprs in proptest::collection::vec(arb_expr(), 0..4),
        cpus in prop_oneof![Just(0i64), 1..=4i64],
        mem_gib in prop_oneof![Just(0i64), 1..=4i64],
        port in proptest::option::of(prop_oneof![Just(80u16), Just(8080)]),
    ) -> ContainerRequest {
        let mut req = ContainerRequest::new("busybox");
        for (text, affinity) in exprs {
            if affinity { req.affinities.push(text) } else { req.constraints.push(text) }
        }
        req.cpus = cpus;
        req.memory = mem_gib * GIB;
        req.port_bindings.extend(port.map(PortBinding::tcp));
        req
    }
}

/// The oracle: does `node` satisfy expression `text` (soft marker ignored)?
fn holds(text: &str, node: &NodeView) -> bool {
    let (key, op, value) = if let Some((k, v)) = text.split_once("==") {
        (k, true, v.trim_start_matches('~'))
    } else {
        let (k, v) = text.split_once("!=").unwrap();
        (k, false, v.trim_start_matches('~'))
    };
    let matched = match key {
        "region" => node.labels.get("region").map(String::as_str) == Some(value),
        "node" => node.name == value || node.id == value,
        "app" => node
            .containers
            .iter()
            .any(|c| c.labels.get("app").unwrap_or("") == value),
        "container" => node
            .containers
            .iter()
            .any(|c| *c.name == format!("/{value}") || *c.id == *value),
        _ => unreachable!(),
    };
    matched == op
}

fn overcommitted(total: i64, percent: i64) -> i64 {
    total + total * percent / 100
}

/// The oracle: does `node` pass every filter (soft expressions in force or not)?
fn passes_filters(node: &NodeView, req: &ContainerRequest, soft: bool) -> bool {
    let slots_ok = match node.labels.get("containerslots") {
        Some(s) => node.containers.len() < s.parse::<usize>().unwrap(),
        None => true,
    };
    let port_ok = req.port_bindings.iter().all(|p| {
        !node
            .containers
            .iter()
            .any(|c| c.port_bindings.iter().any(|b| b.host_port == p.host_port))
    });
    let exprs_ok = req
        .constraints
        .iter()
        .chain(&req.affinities)
        .filter(|e| soft || !e.contains('~'))
        .all(|e| holds(e, node));
    node.healthy && slots_ok && port_ok && exprs_ok
}

/// The oracle: the weight of `node` for `req` (health factor given), or
/// `None` when it lacks room.
fn weight(node: &NodeView, req: &ContainerRequest, factor: i64) -> Option<i64> {
    let cpus = overcommitted(node.total_cpus, 5);
    let mem = overcommitted(node.total_memory, 5);
    if req.cpus > 0 && node.reserved_cpus + req.cpus > cpus
        || req.memory > 0 && node.reserved_memory + req.memory > mem
    {
        return None;
    }
    let cpu_score = if req.cpus > 0 {
        (node.reserved_cpus + req.cpus) * 100 / cpus
    } else {
        100
    };
    let mem_score = if req.memory > 0 {
        (node.reserved_memory + req.memory) * 100 / mem
    } else {
        100
    };
    Some(cpu_score + mem_score + factor * node.health_indicator)
}

fn scheduler(strategy: &str) -> Scheduler {
    Scheduler::new(&SchedulerConfig {
        strategy: strategy.into(),
        ..Default::default()
    })
    .unwrap()
}

/// The eligible nodes of one try: (index, weight, containers).
fn eligible(
    nodes: &[NodeView],
    req: &ContainerRequest,
    soft: bool,
    factor: i64,
) -> Vec<(usize, i64, usize)> {
    nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| passes_filters(n, req, soft))
        .filter_map(|(i, n)| weight(n, req, factor).map(|w| (i, w, n.containers.len())))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn expression_parser_never_panics(text in ".{0,40}") {
        let _ = Expr::parse(&text);
    }

    #[test]
    fn expression_parser_never_panics_on_near_misses(text in "[a-z~=!/.*()?+|^$\\[\\]\\\\ :-]{0,24}") {
        if let Ok(expr) = Expr::parse(&text) {
            let _ = expr.matches(["", "abc", "a.b*c", "é"]);
            prop_assert!(expr.to_string().contains(expr.operator().as_str()));
        }
    }

    #[test]
    fn wildcard_globs_match_like_the_regex_classic_swarm_built(
        pattern in "[ab.*]{1,8}",
        subject in "[ab\n é]{0,10}",
    ) {
        let expr = Expr::parse(&format!("key=={pattern}")).unwrap();
        let regex = Regex::new(&format!("^{}$", pattern.replace('*', ".*"))).unwrap();
        prop_assert_eq!(expr.pattern_matches(&subject), regex.is_match(&subject), "{:?} on {:?}", pattern, subject);
    }

    #[test]
    fn a_placement_satisfies_every_hard_condition_and_fits(nodes in arb_nodes(), req in arb_request()) {
        for strategy in ["spread", "binpack", "random"] {
            if let Ok(placement) = scheduler(strategy).select(&nodes, &req) {
                let node = &nodes[placement.index];
                prop_assert!(passes_filters(node, &req, false), "{} chose {}", strategy, node.name);
                prop_assert!(weight(node, &req, 0).is_some(), "{} chose a full node", strategy);
                if !placement.soft_dropped {
                    prop_assert!(passes_filters(node, &req, true));
                }
            }
        }
    }

    #[test]
    fn a_placement_is_found_whenever_one_exists(nodes in arb_nodes(), req in arb_request()) {
        let exists = !eligible(&nodes, &req, true, 0).is_empty() || !eligible(&nodes, &req, false, 0).is_empty();
        let result = scheduler("spread").select(&nodes, &req);
        prop_assert_eq!(result.is_ok(), exists, "{:?}", result);
        if let Err(err) = result {
            let healthy = nodes.iter().any(|n| n.healthy);
            prop_assert_eq!(err == ScheduleError::NoHealthyNode, !healthy, "{}", err);
            let passing = nodes.iter().any(|n| passes_filters(n, &req, false));
            prop_assert_eq!(err == ScheduleError::NoResources, passing, "{}", err);
        }
    }

    #[test]
    fn spread_never_picks_a_heavier_node(nodes in arb_nodes(), req in arb_request()) {
        if let Ok(placement) = scheduler("spread").select(&nodes, &req) {
            let list = eligible(&nodes, &req, !placement.soft_dropped, -10);
            let chosen = list.iter().find(|(i, _, _)| *i == placement.index).unwrap();
            for other in &list {
                prop_assert!(chosen.1 < other.1 || chosen.1 == other.1 && chosen.2 <= other.2,
                    "chose {:?} over {:?}", chosen, other);
            }
        }
    }

    #[test]
    fn binpack_never_picks_a_lighter_node(nodes in arb_nodes(), req in arb_request()) {
        if let Ok(placement) = scheduler("binpack").select(&nodes, &req) {
            let list = eligible(&nodes, &req, !placement.soft_dropped, 10);
            let chosen = list.iter().find(|(i, _, _)| *i == placement.index).unwrap();
            for other in &list {
                prop_assert!(chosen.1 > other.1 || chosen.1 == other.1 && chosen.2 >= other.2,
                    "chose {:?} over {:?}", chosen, other);
            }
        }
    }

    #[test]
    fn reservations_never_exceed_capacity_plus_overcommit(
        mut nodes in arb_nodes(),
        requests in proptest::collection::vec((1..=3i64, 1..=3i64), 1..30),
        strategy in prop_oneof![Just("spread"), Just("binpack"), Just("random")],
    ) {
        let scheduler = scheduler(strategy);
        for node in &mut nodes {
            node.reserved_cpus = 0;
            node.reserved_memory = 0;
        }
        for (cpus, mem_gib) in requests {
            let req = ContainerRequest { cpus, memory: mem_gib * GIB, ..ContainerRequest::new("busybox") };
            if let Ok(placement) = scheduler.select(&nodes, &req) {
                let node = &mut nodes[placement.index];
                node.reserved_cpus += req.cpus;
                node.reserved_memory += req.memory;
            }
        }
        for node in &nodes {
            prop_assert!(node.reserved_cpus <= overcommitted(node.total_cpus, 5));
            prop_assert!(node.reserved_memory <= overcommitted(node.total_memory, 5));
        }
    }
}

/// Any affinity, also ones the oracle does not know: globs, regexes,
/// upper-case keys, images.
fn arb_any_affinity() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("app"),
        Just("App"),
        Just("container"),
        Just("image"),
        Just("tier")
    ];
    let value = prop_oneof![
        (0..3usize).prop_map(|a| APPS[a].to_string()),
        (0..6usize).prop_map(|n| format!("c{n}")),
        Just("c*".to_string()),
        Just("*".to_string()),
        Just("/^we/".to_string()),
        Just("redis".to_string()),
        Just("redis:6".to_string()),
        Just("abc123".to_string()),
        Just("0000000000000000000000000000000000000000000000000000000000000001".to_string()),
    ];
    (key, any::<bool>(), value)
        .prop_map(|(k, eq, v)| format!("{k}{}{v}", if eq { "==" } else { "!=" }))
}

/// The `i`th container in flight, named `c{name}`, with an `app` label.
fn in_flight(i: usize, name: usize, app: Option<usize>) -> ContainerView {
    let mut c = ContainerView {
        id: format!("{:064x}", 90_000 + i).into(),
        name: format!("/c{name}").into(),
        ..Default::default()
    };
    if let Some(a) = app {
        c.labels.insert("app", APPS[a]);
    }
    c
}

/// The nodes, indexed, then given `pending` more containers (in flight).
fn indexed(
    nodes: &[NodeView],
    pending: &[(usize, usize, Option<usize>)],
) -> (Vec<NodeView>, Vec<IndexedNode>) {
    let mut plain = nodes.to_vec();
    let mut indexed: Vec<IndexedNode> = nodes.iter().cloned().map(IndexedNode::new).collect();
    for (i, &(node, name, app)) in pending.iter().enumerate() {
        if plain.is_empty() {
            break;
        }
        let node = node % plain.len();
        let c = in_flight(i, name, app);
        plain[node].containers.push(c.clone());
        indexed[node].add_container(c);
    }
    (plain, indexed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn indexed_nodes_place_like_plain_ones(
        mut nodes in arb_nodes(),
        mut req in arb_request(),
        affinities in proptest::collection::vec(arb_any_affinity(), 0..3),
        pending in proptest::collection::vec((0..12usize, 0..6usize, proptest::option::of(0..3usize)), 0..4),
    ) {
        for (i, node) in nodes.iter_mut().enumerate() {
            if i % 2 == 0 {
                node.images.push(ImageView {
                    id: format!("sha256:abc123{i:058}"),
                    repo_tags: vec!["redis:6".into(), "localhost:5000/web:1".into()],
                });
            }
        }
        req.affinities.extend(affinities);
        let (plain, indexed) = indexed(&nodes, &pending);
        for strategy in ["spread", "binpack"] {
            let scheduler = scheduler(strategy);
            prop_assert_eq!(scheduler.select(&plain, &req), scheduler.select(&indexed, &req), "{}", strategy);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// What the manager lays over its shared, indexed nodes (containers in
    /// flight, their reservations, a node left out) places exactly as the
    /// nodes changed in place would.
    #[test]
    fn overlays_place_like_nodes_changed_in_place(
        nodes in arb_nodes(),
        mut req in arb_request(),
        affinities in proptest::collection::vec(arb_any_affinity(), 0..3),
        pending in proptest::collection::vec(
            (0..12usize, 0..6usize, proptest::option::of(0..3usize), 0..=2i64, 0..=2i64,
             proptest::option::of(prop_oneof![Just(80u16), Just(8080)])),
            0..6,
        ),
        left_out in proptest::option::of(0..12usize),
    ) {
        req.affinities.extend(affinities);
        let mut changed = nodes.clone();
        let mut flights: Vec<(Vec<ContainerView>, i64, i64)> = vec![(Vec::new(), 0, 0); nodes.len()];
        for (i, &(node, name, app, cpus, mem_gib, port)) in pending.iter().enumerate() {
            if nodes.is_empty() {
                break;
            }
            let node = node % nodes.len();
            let mut c = in_flight(i, name, app);
            c.port_bindings = port.map(PortBinding::tcp).into_iter().collect();
            changed[node].containers.push(c.clone());
            changed[node].reserved_cpus += cpus;
            changed[node].reserved_memory += mem_gib * GIB;
            flights[node].0.push(c);
            flights[node].1 += cpus;
            flights[node].2 += mem_gib * GIB;
        }
        let left_out = left_out.filter(|&n| n < nodes.len());
        if let Some(n) = left_out {
            changed[n].healthy = false;
            changed[n].health_indicator = 0;
        }
        let indexed: Vec<IndexedNode> = nodes.iter().cloned().map(IndexedNode::new).collect();
        let overlaid: Vec<Overlaid<'_, IndexedNode>> = indexed
            .iter()
            .zip(&flights)
            .enumerate()
            .map(|(i, (node, (containers, cpus, memory)))| Overlaid::new(node, Overlay {
                containers,
                cpus: *cpus,
                memory: *memory,
                unavailable: left_out == Some(i),
            }))
            .collect();
        for strategy in ["spread", "binpack"] {
            let scheduler = scheduler(strategy);
            prop_assert_eq!(scheduler.select(&changed, &req), scheduler.select(&overlaid, &req), "{}", strategy);
        }
    }
}

/// Placements from many threads, each choosing and reserving under the lock
/// that guards the snapshot (as the manager does), never overbook a node.
#[test]
fn concurrent_placements_never_overbook() {
    let scheduler = Arc::new(scheduler("spread"));
    let nodes: Vec<NodeView> = (0..5)
        .map(|i| NodeView {
            id: format!("ID{i}"),
            name: format!("node-{i}"),
            total_cpus: 4,
            total_memory: 4 * GIB,
            healthy: true,
            health_indicator: 100,
            ..Default::default()
        })
        .collect();
    let cluster = Arc::new(Mutex::new(nodes));
    let placed = Arc::new(Mutex::new(0usize));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (scheduler, cluster, placed) = (scheduler.clone(), cluster.clone(), placed.clone());
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let req = ContainerRequest {
                        cpus: 1,
                        memory: GIB / 2,
                        ..ContainerRequest::new("busybox")
                    };
                    let mut nodes = cluster.lock().unwrap();
                    if let Ok(p) = scheduler.select(&nodes, &req) {
                        nodes[p.index].reserved_cpus += req.cpus;
                        nodes[p.index].reserved_memory += req.memory;
                        *placed.lock().unwrap() += 1;
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let nodes = cluster.lock().unwrap();
    // 5 nodes of 4 CPUs (overcommit 5 % of 4 rounds down to 0): 20 placements.
    assert_eq!(*placed.lock().unwrap(), 20);
    assert!(nodes
        .iter()
        .all(|n| n.reserved_cpus == 4 && n.reserved_memory == 2 * GIB));
}

/// A constraint of any form the scheduler compiles: plain, glob, regex, on
/// labels (upper-case keys included), on the node's name or ID, soft or not.
fn arb_any_constraint() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("region"),
        Just("Region"),
        Just("storage"),
        Just("node"),
        Just("zz")
    ];
    let value = prop_oneof![
        (0..3usize).prop_map(|r| REGIONS[r].to_string()),
        (0..12usize).prop_map(|n| format!("node-{n}")),
        (0..12usize).prop_map(|n| format!("ID{n}")),
        Just("node-1*".to_string()),
        Just("e*".to_string()),
        Just("*".to_string()),
        Just("/^u/".to_string()),
        Just("/s$/".to_string()),
        Just("ss.".to_string()),
        Just("ssd".to_string()),
        Just("a|e.".to_string()),
    ];
    (key, any::<bool>(), any::<bool>(), value).prop_map(|(k, eq, soft, v)| {
        format!(
            "{k}{}{}{v}",
            if eq { "==" } else { "!=" },
            if soft { "~" } else { "" }
        )
    })
}

/// Classic Swarm's explanation, replayed with the filters' own `accepts`:
/// keep the nodes each filter passes, in order, and fail at the first
/// filter that leaves none.
fn explained(
    filters: &[Box<dyn shoal_scheduler::Filter>],
    nodes: &[IndexedNode],
    req: &shoal_scheduler::PreparedRequest<'_>,
    soft: bool,
) -> ScheduleError {
    let mut left: Vec<shoal_scheduler::NodeRef<'_>> =
        nodes.iter().map(shoal_scheduler::NodeRef::of).collect();
    for (position, filter) in filters.iter().enumerate() {
        if !filter.is_active(req, soft) {
            continue;
        }
        left.retain(|node| filter.accepts(req, *node, soft));
        if left.is_empty() {
            if filter.name() == "health" {
                return ScheduleError::NoHealthyNode;
            }
            let mut text = String::new();
            for filter in &filters[..=position] {
                let mut list = Vec::new();
                filter.conditions(req, &mut list);
                if !list.is_empty() {
                    text.push_str(&format!("\n[{}]", list.join(" ")));
                }
            }
            return ScheduleError::Unsatisfied { conditions: text };
        }
    }
    if left.is_empty() {
        ScheduleError::NoNodes
    } else {
        ScheduleError::NoResources
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The filters compiled per selection (hashes, Bloom filters, inline
    /// node labels, remembered glob answers) place exactly as the filters'
    /// own code does, and explain a failure as classic Swarm's replay does.
    #[test]
    fn compiled_filters_place_like_the_filters_themselves(
        mut nodes in arb_nodes(),
        mut req in arb_request(),
        constraints in proptest::collection::vec(arb_any_constraint(), 0..3),
        affinities in proptest::collection::vec(arb_any_affinity(), 0..3),
        pending in proptest::collection::vec((0..12usize, 0..6usize, proptest::option::of(0..3usize)), 0..4),
        storage in proptest::collection::vec(proptest::option::of(prop_oneof![Just("ssd"), Just("disk")]), 12),
        whitelist in proptest::option::of(prop_oneof![Just("region==eu"), Just("node-1*"), Just("storage!=/d/")]),
    ) {
        for (i, node) in nodes.iter_mut().enumerate() {
            if let Some(s) = storage[i] {
                node.labels.insert("storage".into(), s.into());
            }
            if i % 3 == 0 {
                node.labels.insert("Region".into(), "mars".into());
            }
            if i % 2 == 0 {
                node.images.push(ImageView {
                    id: format!("sha256:abc123{i:058}"),
                    repo_tags: vec!["redis:6".into(), "localhost:5000/web:1".into()],
                });
            }
        }
        req.constraints.extend(constraints);
        req.affinities.extend(affinities);
        let (_, indexed) = indexed(&nodes, &pending);
        let whitelist: Vec<String> = whitelist.into_iter().map(String::from).collect();
        for strategy in ["spread", "binpack"] {
            let compiled = Scheduler::new(&SchedulerConfig {
                strategy: strategy.into(),
                whitelist: whitelist.clone(),
                ..Default::default()
            })
            .unwrap();
            let filters = || -> Vec<Box<dyn shoal_scheduler::Filter>> {
                shoal_scheduler::DEFAULT_FILTERS
                    .iter()
                    .map(|name| shoal_scheduler::filter_by_name(name, &whitelist).unwrap())
                    .collect()
            };
            let own = Scheduler::from_parts(
                shoal_scheduler::strategy_by_name(strategy).unwrap(),
                filters(),
                0.05,
            )
            .unwrap();
            let result = compiled.select(&indexed, &req);
            prop_assert_eq!(&result, &own.select(&indexed, &req), "{}", strategy);
            if let Err(err) = result {
                if let Ok(prepared) = shoal_scheduler::PreparedRequest::new(&req) {
                    let soft = !prepared.has_soft();
                    prop_assert_eq!(err, explained(&filters(), &indexed, &prepared, soft), "{}", strategy);
                }
            }
        }
    }
}

/// One change to a node's containers: (which node, what, a seed for the
/// container).
#[derive(Debug, Clone, Copy)]
enum Change {
    Insert,
    /// Adds without indexing (`add_container`).
    Add,
    /// Removes the `n`th container (modulo), or an unknown ID.
    Remove(usize),
    /// Replaces the `n`th container (modulo), or inserts under a new ID.
    Replace(usize),
}

fn arb_change() -> impl Strategy<Value = Change> {
    prop_oneof![
        3 => Just(Change::Insert),
        1 => Just(Change::Add),
        3 => (0..8usize).prop_map(Change::Remove),
        2 => (0..8usize).prop_map(Change::Replace),
    ]
}

/// A container from a seed: a name, an `app` label, perhaps a Swarm ID, a
/// host port, host networking.
fn changed_container(id: Arc<str>, seed: usize) -> ContainerView {
    let mut c = ContainerView {
        id,
        name: format!("/c{}", seed % 6).into(),
        ..Default::default()
    };
    if seed % 4 != 3 {
        c.labels.insert("app", APPS[seed % 3]);
    }
    if seed % 5 == 0 {
        c.labels
            .insert("com.docker.swarm.id", format!("5a{:062x}", seed % 3));
    }
    if seed % 3 == 0 {
        c.port_bindings = [PortBinding::tcp(if seed % 2 == 0 { 80 } else { 8080 })].into();
    }
    if seed % 7 == 0 {
        c.host_network = true;
        c.exposed_ports = ["80/tcp".into()].into();
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Nodes changed one container at a time (inserted, added unindexed,
    /// removed, replaced, in any order) place exactly as the same views
    /// indexed from scratch, for every kind of expression and dependency.
    #[test]
    fn nodes_changed_one_container_at_a_time_place_like_new_ones(
        nodes in arb_nodes(),
        changes in proptest::collection::vec((0..12usize, arb_change(), 0..60usize), 0..40),
        mut req in arb_request(),
        constraints in proptest::collection::vec(arb_any_constraint(), 0..2),
        affinities in proptest::collection::vec(arb_any_affinity(), 0..3),
        link in proptest::option::of(prop_oneof![
            (0..6usize).prop_map(|n| format!("c{n}")),
            Just("5a000".to_string()),
            Just(format!("{:064x}", 7)),
            Just(format!("{:012x}", 0)),
            Just("00000000000000000000000000000000000000000000000000000000000".to_string()),
            (0..12usize).prop_map(|n| format!("node-{n}/c{}", n % 6)),
        ]),
    ) {
        prop_assume!(!nodes.is_empty());
        let mut changed: Vec<IndexedNode> = nodes.iter().cloned().map(IndexedNode::new).collect();
        let mut model: Vec<Vec<ContainerView>> = nodes.iter().map(|n| n.containers.clone()).collect();
        for (step, &(node, change, seed)) in changes.iter().enumerate() {
            let node = node % nodes.len();
            let fresh: Arc<str> = format!("{:064x}", 50_000 + step).into();
            let nth = |n: usize| model[node].get(n % model[node].len().max(1)).map(|c| c.id.clone());
            match change {
                Change::Insert => {
                    let c = changed_container(fresh, seed);
                    model[node].push(c.clone());
                    changed[node].insert_container(c);
                }
                Change::Add => {
                    let c = changed_container(fresh, seed);
                    model[node].push(c.clone());
                    changed[node].add_container(c);
                }
                Change::Remove(n) => {
                    let id = nth(n).filter(|_| seed % 9 != 0).unwrap_or(fresh);
                    let expected = model[node].iter().position(|c| c.id == id).map(|at| model[node].remove(at));
                    prop_assert_eq!(changed[node].remove_container(&id), expected);
                }
                Change::Replace(n) => {
                    let id = nth(n).filter(|_| seed % 9 != 0).unwrap_or(fresh);
                    let c = changed_container(id.clone(), seed);
                    let expected = match model[node].iter().position(|c| c.id == id) {
                        Some(at) => Some(std::mem::replace(&mut model[node][at], c.clone())),
                        None => {
                            model[node].push(c.clone());
                            None
                        }
                    };
                    prop_assert_eq!(changed[node].replace_container(c), expected);
                }
            }
        }
        // the same containers, in whatever order
        for (node, model) in changed.iter().zip(&model) {
            let mut have: Vec<&str> = node.view().containers.iter().map(|c| &*c.id).collect();
            let mut want: Vec<&str> = model.iter().map(|c| &*c.id).collect();
            have.sort_unstable();
            want.sort_unstable();
            prop_assert_eq!(have, want);
        }
        let fresh: Vec<IndexedNode> = changed.iter().map(|n| IndexedNode::new(n.view().clone())).collect();
        let plain: Vec<NodeView> = changed.iter().map(|n| n.view().clone()).collect();
        req.constraints.extend(constraints);
        req.affinities.extend(affinities);
        req.links.extend(link);
        for strategy in ["spread", "binpack"] {
            let scheduler = scheduler(strategy);
            let result = scheduler.select(&changed, &req);
            prop_assert_eq!(&result, &scheduler.select(&fresh, &req), "{}", strategy);
            prop_assert_eq!(&result, &scheduler.select(&plain, &req), "{} (plain)", strategy);
        }
    }
}
