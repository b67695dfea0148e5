//! The scheduler: filters, then a strategy, with classic Swarm's soft retry.

use crate::error::{ConfigError, ScheduleError};
use crate::expr::{Expr, RegexCache};
use crate::filter::{self, Filter, PreparedRequest, DEFAULT_FILTERS};
use crate::index::{NodeRef, NodeSource};
use crate::plan::{Kind, Plan};
use crate::request::ContainerRequest;
use crate::strategy::{self, Candidate, Strategy, STRATEGIES};

/// `swarm.overcommit` when none is given: totals are raised by 5 %.
pub const DEFAULT_OVERCOMMIT: f64 = 0.05;

/// How the scheduler is set up (`manage --strategy`, `-f/--filter`,
/// `--cluster-opt swarm.overcommit=R`, `--cluster-opt swarm.whitelist=E`).
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerConfig {
    /// `spread`, `binpack` (or `binpacking`) or `random`.
    pub strategy: String,
    /// Filter names, in the order they run. Any `--filter` replaces the whole
    /// default list.
    pub filters: Vec<String>,
    /// Overcommit ratio: totals count as `total * (1 + overcommit)`. Must be
    /// above -1; a negative value keeps part of every node free.
    pub overcommit: f64,
    /// Entries of the `whitelist` filter's allow list (see
    /// [`filter::Whitelist`]); empty allows every node.
    pub whitelist: Vec<String>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            strategy: "spread".to_string(),
            filters: DEFAULT_FILTERS.iter().map(|f| f.to_string()).collect(),
            overcommit: DEFAULT_OVERCOMMIT,
            whitelist: Vec::new(),
        }
    }
}

impl SchedulerConfig {
    /// Parses a `swarm.overcommit` value.
    pub fn parse_overcommit(text: &str) -> Result<f64, ConfigError> {
        match text.trim().parse::<f64>() {
            Ok(ratio) if ratio.is_finite() && ratio > -1.0 => Ok(ratio),
            _ => Err(ConfigError::InvalidOvercommit(text.to_string())),
        }
    }
}

/// Where a container goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Index of the chosen node in the slice given to
    /// [`Scheduler::select`].
    pub index: usize,
    /// Whether the soft expressions had to be dropped to find it.
    pub soft_dropped: bool,
}

/// Filters and a strategy. Pure and `Send + Sync`: share one behind an `Arc`;
/// serialize placements (or reserve right after each) to avoid overbooking.
#[derive(Debug)]
pub struct Scheduler {
    strategy: Box<dyn Strategy>,
    /// How the fast path picks among the candidates.
    pick: Pick,
    /// In the configured order, each with its kind when it is a built-in
    /// filter (then compiled per selection, see `plan`).
    filters: Vec<(Box<dyn Filter>, Option<Kind>)>,
    /// Indexes into `filters`, cheapest first, for the fast path.
    fast_order: Vec<usize>,
    /// The entries of the built-in whitelist filter.
    whitelist: Vec<Expr>,
    overcommit_percent: i64,
    overcommit: f64,
    regexes: RegexCache,
}

/// How the fast path picks: the built-in strategies' comparison inline, or
/// the strategy's own [`Strategy::choose`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Spread,
    Binpack,
    Choose,
}

impl Default for Scheduler {
    fn default() -> Self {
        Scheduler::new(&SchedulerConfig::default()).expect("the default configuration is valid")
    }
}

/// Builds a strategy by name (`binpacking` is an alias of `binpack`).
pub fn strategy_by_name(name: &str) -> Result<Box<dyn Strategy>, ConfigError> {
    match name {
        "spread" => Ok(Box::new(strategy::Spread)),
        "binpack" | "binpacking" => Ok(Box::new(strategy::Binpack)),
        "random" => Ok(Box::new(strategy::Random::default())),
        _ => Err(ConfigError::UnknownStrategy {
            name: name.to_string(),
            valid: format!("{} (alias binpacking)", STRATEGIES.join(", ")),
        }),
    }
}

/// Builds a filter by name.
pub fn filter_by_name(name: &str, whitelist: &[String]) -> Result<Box<dyn Filter>, ConfigError> {
    Ok(match name {
        "health" => Box::new(filter::Health),
        "port" => Box::new(filter::Port),
        "containerslots" => Box::new(filter::ContainerSlots),
        "dependency" => Box::new(filter::Dependency),
        "affinity" => Box::new(filter::Affinity),
        "constraint" => Box::new(filter::Constraint),
        "whitelist" => Box::new(filter::Whitelist::new(whitelist)?),
        _ => {
            return Err(ConfigError::UnknownFilter {
                name: name.to_string(),
                valid: DEFAULT_FILTERS.join(", "),
            })
        }
    })
}

impl Scheduler {
    /// Builds the scheduler, refusing unknown or repeated names and an
    /// overcommit of -1 or less.
    pub fn new(config: &SchedulerConfig) -> Result<Self, ConfigError> {
        let strategy = strategy_by_name(&config.strategy)?;
        let mut filters = Vec::with_capacity(config.filters.len());
        for (i, name) in config.filters.iter().enumerate() {
            if config.filters[..i].contains(name) {
                return Err(ConfigError::DuplicateFilter(name.clone()));
            }
            filters.push((filter_by_name(name, &config.whitelist)?, Kind::of(name)));
        }
        // Parse the entries even when the filter is off: a typo is an error.
        let whitelist = filter::Whitelist::new(&config.whitelist)?
            .entries()
            .to_vec();
        let pick = match strategy.name() {
            "spread" => Pick::Spread,
            "binpack" => Pick::Binpack,
            _ => Pick::Choose,
        };
        let mut scheduler = Self::build(strategy, filters, config.overcommit)?;
        scheduler.pick = pick;
        scheduler.whitelist = whitelist;
        Ok(scheduler)
    }

    /// Builds the scheduler from a strategy and filters of your own.
    pub fn from_parts(
        strategy: Box<dyn Strategy>,
        filters: Vec<Box<dyn Filter>>,
        overcommit: f64,
    ) -> Result<Self, ConfigError> {
        let filters = filters.into_iter().map(|f| (f, None)).collect();
        Self::build(strategy, filters, overcommit)
    }

    fn build(
        strategy: Box<dyn Strategy>,
        filters: Vec<(Box<dyn Filter>, Option<Kind>)>,
        overcommit: f64,
    ) -> Result<Self, ConfigError> {
        if !(overcommit.is_finite() && overcommit > -1.0) {
            return Err(ConfigError::InvalidOvercommit(overcommit.to_string()));
        }
        let mut fast_order: Vec<usize> = (0..filters.len()).collect();
        fast_order.sort_by_key(|&i| filters[i].0.cost());
        Ok(Scheduler {
            strategy,
            pick: Pick::Choose,
            filters,
            fast_order,
            whitelist: Vec::new(),
            overcommit_percent: (overcommit * 100.0).round() as i64,
            overcommit,
            regexes: RegexCache::default(),
        })
    }

    /// The strategy's name (`binpack` for `binpacking`).
    pub fn strategy_name(&self) -> &'static str {
        self.strategy.name()
    }

    /// The filter names, in order (for `docker info`).
    pub fn filter_names(&self) -> Vec<&'static str> {
        self.filters.iter().map(|(f, _)| f.name()).collect()
    }

    /// The overcommit ratio.
    pub fn overcommit(&self) -> f64 {
        self.overcommit
    }

    /// A node total raised by the overcommit (for `docker info`).
    pub fn overcommitted(&self, total: i64) -> i64 {
        strategy::overcommitted(total, self.overcommit_percent)
    }

    /// Chooses the node for `request` among `nodes`.
    ///
    /// Filters run, then the strategy picks among the nodes left that have
    /// room. When that finds nothing and the request has soft expressions,
    /// it runs again without them. The caller reserves the request's CPUs and
    /// memory on the chosen node before the next placement.
    pub fn select<N: NodeSource>(
        &self,
        nodes: &[N],
        request: &ContainerRequest,
    ) -> Result<Placement, ScheduleError> {
        self.select_prepared(nodes, &self.prepare(request)?)
    }

    /// Parses and compiles the expressions of `request`, with the regular
    /// expressions of earlier placements reused. Prepare once, then
    /// [`Scheduler::select_prepared`] as often as needed (a preferred subset
    /// of nodes first, then all of them, or a retry).
    pub fn prepare<'r>(
        &self,
        request: &'r ContainerRequest,
    ) -> Result<PreparedRequest<'r>, ScheduleError> {
        PreparedRequest::with_cache(request, &self.regexes)
    }

    /// [`Scheduler::select`] for a request already prepared (to retry without
    /// compiling its expressions again).
    pub fn select_prepared<N: NodeSource>(
        &self,
        nodes: &[N],
        request: &PreparedRequest<'_>,
    ) -> Result<Placement, ScheduleError> {
        match self.select_once(nodes, request, true) {
            Ok(index) => Ok(Placement {
                index,
                soft_dropped: false,
            }),
            Err(_) if request.has_soft() => {
                self.select_once(nodes, request, false)
                    .map(|index| Placement {
                        index,
                        soft_dropped: true,
                    })
            }
            Err(err) => Err(err),
        }
    }

    fn select_once<N: NodeSource>(
        &self,
        nodes: &[N],
        request: &PreparedRequest<'_>,
        soft: bool,
    ) -> Result<usize, ScheduleError> {
        let plan = Plan::new(
            &self.filters,
            &self.fast_order,
            &self.whitelist,
            request,
            soft,
        );
        let overcommit = self.overcommit_percent;
        // per node, until one is found: the filter that refused it
        let mut refused = Vec::new();
        let chosen = match self.pick {
            Pick::Spread => best(
                nodes,
                &plan,
                overcommit,
                strategy::Spread::better,
                &mut refused,
            ),
            Pick::Binpack => best(
                nodes,
                &plan,
                overcommit,
                strategy::Binpack::better,
                &mut refused,
            ),
            Pick::Choose => {
                let mut candidates = nodes.iter().enumerate().filter_map(|(index, node)| {
                    let node = NodeRef::of(node);
                    if !plan.cheap_accepts(node) {
                        return None;
                    }
                    let candidate = strategy::weigh(index, node, request.request, overcommit)?;
                    plan.costly_accepts(node).then_some(candidate)
                });
                self.strategy.choose(&mut candidates)
            }
        };
        match chosen {
            Some(chosen) => Ok(chosen.index),
            None => Err(self.explain(nodes, &plan, &refused)),
        }
    }

    /// Why no node was chosen: the first filter, in the configured order as
    /// classic Swarm ran them, after which no node was left.
    ///
    /// Classic Swarm kept the nodes each filter passed and failed at the
    /// first filter that left none: that is the largest, over the nodes, of
    /// the position of the first filter refusing the node, found here in
    /// one pass. A node that no filter refuses means the nodes lacked room.
    ///
    /// `refused` has, for the first nodes, the position of a filter known
    /// to refuse the node ([`UNKNOWN`] when none is): the first filter
    /// refusing it is at most there, so a node whose filter there is not
    /// past the largest found so far cannot change the answer.
    fn explain<'n, N: NodeSource>(
        &self,
        nodes: &'n [N],
        plan: &Plan<'_, '_, 'n>,
        refused: &[u8],
    ) -> ScheduleError {
        let mut last_failing: Option<usize> = None;
        for (at, node) in nodes.iter().enumerate() {
            let known = refused.get(at).copied().unwrap_or(UNKNOWN);
            if known != UNKNOWN && Some(usize::from(known)) <= last_failing {
                continue;
            }
            let node = NodeRef::of(node);
            let refused = plan
                .in_order()
                .find(|(_, accepts)| !accepts(node))
                .map(|(position, _)| position);
            match refused {
                Some(position) => last_failing = last_failing.max(Some(position)),
                None => return ScheduleError::NoResources,
            }
        }
        // With no node at all, the first filter in force fails.
        let failing = if nodes.is_empty() {
            plan.in_order().next().map(|(position, _)| position)
        } else {
            last_failing
        };
        match failing {
            None => ScheduleError::NoNodes,
            Some(position) if self.filters[position].0.name() == "health" => {
                ScheduleError::NoHealthyNode
            }
            Some(position) => ScheduleError::Unsatisfied {
                conditions: self.conditions(plan.request(), position),
            },
        }
    }

    /// `\n[a b]\n[c]`: the conditions of the filters up to `last`, one group
    /// per filter that has any, each printed as Go printed a list of strings.
    fn conditions(&self, request: &PreparedRequest<'_>, last: usize) -> String {
        let mut text = String::new();
        let mut list = Vec::new();
        for (filter, _) in &self.filters[..=last] {
            list.clear();
            filter.conditions(request, &mut list);
            if !list.is_empty() {
                text.push_str("\n[");
                text.push_str(&list.join(" "));
                text.push(']');
            }
        }
        text
    }
}

/// In `refused`: no filter is known to refuse the node.
const UNKNOWN: u8 = u8::MAX;

/// The node of `nodes` that passes the filters of `plan`, has room, and
/// that `better` prefers to every other such node (the first one on a
/// tie).
///
/// The filters on a node's containers and images (`costly`) run only on a
/// node that would be chosen over the best one found so far: a node that
/// would not be chosen anyway need not be looked at further. The answer is
/// the same as filtering every node first (the filters are predicates on
/// one node each); the work is a weighing per node and the costly filters
/// of the few nodes that improve on the best so far.
///
/// Until a node is found, `refused` gets, per node, the position of the
/// filter that refused it ([`UNKNOWN`] for none), for
/// [`Scheduler::explain`].
fn best<'n, N: NodeSource>(
    nodes: &'n [N],
    plan: &Plan<'_, '_, 'n>,
    overcommit: i64,
    better: impl Fn(&Candidate, &Candidate) -> bool,
    refused: &mut Vec<u8>,
) -> Option<Candidate> {
    let request = plan.request().request;
    let mut best: Option<Candidate> = None;
    let position = |p: usize| u8::try_from(p).unwrap_or(UNKNOWN);
    for (index, node) in nodes.iter().enumerate() {
        let node = NodeRef::of(node);
        if let Err(filter) = plan.cheap_check(node) {
            if best.is_none() {
                refused.push(position(filter));
            }
            continue;
        }
        let Some(candidate) = strategy::weigh(index, node, request, overcommit) else {
            if best.is_none() {
                refused.push(UNKNOWN);
            }
            continue;
        };
        if best.as_ref().is_some_and(|best| !better(&candidate, best)) {
            continue;
        }
        match plan.costly_check(node) {
            Ok(()) => best = Some(candidate),
            Err(filter) => {
                if best.is_none() {
                    refused.push(position(filter));
                }
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::node::PortBinding;
    use crate::testing::*;

    fn scheduler(strategy: &str, filters: &[&str]) -> Scheduler {
        Scheduler::new(&SchedulerConfig {
            strategy: strategy.to_string(),
            filters: filters.iter().map(|f| f.to_string()).collect(),
            ..Default::default()
        })
        .unwrap()
    }

    fn default_scheduler() -> Scheduler {
        Scheduler::default()
    }

    fn names(nodes: &[NodeView], placements: &[usize]) -> Vec<String> {
        placements.iter().map(|&i| nodes[i].name.clone()).collect()
    }

    /// Places `count` containers of `memory` bytes one after the other,
    /// reserving each as the manager does.
    fn place_in_turn(
        scheduler: &Scheduler,
        nodes: &mut [NodeView],
        count: usize,
        memory: i64,
    ) -> Vec<String> {
        let request = ContainerRequest {
            memory,
            ..ContainerRequest::new("busybox")
        };
        let mut placed = Vec::new();
        for i in 0..count {
            let index = scheduler.select(nodes, &request).unwrap().index;
            nodes[index].reserved_memory += memory;
            nodes[index].containers.push(container(&format!("c{i}")));
            placed.push(index);
        }
        names(nodes, &placed)
    }

    #[test]
    fn spread_and_binpack_place_in_classic_order() {
        let fresh = || vec![node("n1"), node("n2"), node("n3")];
        let mut nodes = fresh();
        assert_eq!(
            place_in_turn(&default_scheduler(), &mut nodes, 5, GIB),
            ["n1", "n2", "n3", "n1", "n2"]
        );
        let mut nodes = fresh();
        let binpack = scheduler("binpack", &DEFAULT_FILTERS);
        assert_eq!(
            place_in_turn(&binpack, &mut nodes, 6, GIB),
            ["n1", "n1", "n1", "n1", "n2", "n2"]
        );
    }

    #[test]
    fn spread_without_reservations_goes_by_container_count() {
        let nodes = vec![
            node("n1").with(container("a")),
            node("n2"),
            node("n3").with(container("b")),
        ];
        assert_eq!(
            default_scheduler()
                .select(&nodes, &request(&[], &[]))
                .unwrap()
                .index,
            1
        );
        let binpack = scheduler("binpacking", &DEFAULT_FILTERS);
        assert_eq!(binpack.strategy_name(), "binpack");
        assert_eq!(binpack.select(&nodes, &request(&[], &[])).unwrap().index, 0);
    }

    #[test]
    fn healthier_nodes_win() {
        let nodes = vec![node("sick").health(true, 50), node("well")];
        assert_eq!(
            default_scheduler()
                .select(&nodes, &request(&[], &[]))
                .unwrap()
                .index,
            1
        );
        assert_eq!(
            scheduler("binpack", &DEFAULT_FILTERS)
                .select(&nodes, &request(&[], &[]))
                .unwrap()
                .index,
            1
        );
    }

    #[test]
    fn soft_expressions_are_dropped_when_nothing_fits() {
        let nodes = vec![
            node("n1").label("region", "eu"),
            node("n2").label("region", "us"),
        ];
        let placement = default_scheduler()
            .select(&nodes, &request(&["region==~mars"], &[]))
            .unwrap();
        assert!(placement.soft_dropped);
        let placement = default_scheduler()
            .select(&nodes, &request(&["region==~us"], &[]))
            .unwrap();
        assert_eq!(
            placement,
            Placement {
                index: 1,
                soft_dropped: false
            }
        );
        // Hard expressions stay.
        let placement = default_scheduler()
            .select(&nodes, &request(&["region==~mars", "region==eu"], &[]))
            .unwrap();
        assert_eq!(
            placement,
            Placement {
                index: 0,
                soft_dropped: true
            }
        );
        // A soft image affinity, as in classic Swarm's "soft affinity" test.
        let nodes = vec![
            node("n0"),
            node("n1").image("sha256:1234", &["test:latest"]),
        ];
        let placement = default_scheduler()
            .select(&nodes, &request(&[], &["image==~not_exist", "image==test"]))
            .unwrap();
        assert_eq!(
            placement,
            Placement {
                index: 1,
                soft_dropped: true
            }
        );
    }

    #[test]
    fn no_healthy_node() {
        let nodes = vec![node("n1").health(false, 0)];
        let err = default_scheduler()
            .select(&nodes, &request(&[], &[]))
            .unwrap_err();
        assert_eq!(err.to_string(), "No healthy node available in the cluster");
        let no_nodes: Vec<NodeView> = Vec::new();
        assert_eq!(
            default_scheduler()
                .select(&no_nodes, &request(&[], &[]))
                .unwrap_err(),
            ScheduleError::NoHealthyNode
        );
    }

    #[test]
    fn no_node_at_all_without_the_health_filter() {
        let no_nodes: Vec<NodeView> = Vec::new();
        let err = scheduler("spread", &["constraint"])
            .select(&no_nodes, &request(&[], &[]))
            .unwrap_err();
        assert_eq!(err.to_string(), "No nodes available in the cluster");
        let err = scheduler("spread", &["constraint"])
            .select(&no_nodes, &request(&["a1==b"], &[]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unable to find a node that satisfies the following conditions \n[a1==b]"
        );
    }

    #[test]
    fn port_conflict_on_every_node() {
        let nodes = vec![
            node("n1").with(container("web1").bind("", 8080, "tcp")),
            node("n2").with(container("web2").bind("0.0.0.0", 8080, "tcp")),
        ];
        let mut req = request(&[], &[]);
        req.port_bindings = vec![PortBinding::tcp(8080)];
        let err = default_scheduler().select(&nodes, &req).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unable to find a node that satisfies the following conditions \n[port 8080 (Bridge mode)]"
        );
    }

    #[test]
    fn lists_conditions_up_to_the_failing_filter() {
        let nodes = vec![node("n1").label("region", "eu")];
        let mut req = request(&["region==us", "node!=n2"], &["app!=web"]);
        req.port_bindings = vec![PortBinding::tcp(80)];
        let err = default_scheduler().select(&nodes, &req).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unable to find a node that satisfies the following conditions \n[port 80 (Bridge mode)]\n[available container slots]\n[app!=web (soft=false)]\n[region==us node!=n2]"
        );
        // The failing filter is the last listed: here the affinity.
        let nodes = vec![node("n1").with(container("w").label("app", "web"))];
        let err = default_scheduler().select(&nodes, &req).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unable to find a node that satisfies the following conditions \n[port 80 (Bridge mode)]\n[available container slots]\n[app!=web (soft=false)]"
        );
        // In the order given by --filter.
        let err = scheduler("spread", &["constraint", "port"])
            .select(&[node("n1")], &req)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unable to find a node that satisfies the following conditions \n[region==us node!=n2]"
        );
    }

    #[test]
    fn containerslots_failure_says_so() {
        let nodes = vec![node("n1").label("containerslots", "1").with(container("a"))];
        let err = default_scheduler()
            .select(&nodes, &request(&[], &[]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unable to find a node that satisfies the following conditions \n[available container slots]"
        );
    }

    #[test]
    fn no_resources() {
        let nodes = vec![node("n1").reserved(4, 0), node("n2")];
        let req = ContainerRequest {
            cpus: 5,
            ..ContainerRequest::new("busybox")
        };
        let err = default_scheduler().select(&nodes, &req).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no resources available to schedule container"
        );
        let req = ContainerRequest {
            cpus: 1,
            ..ContainerRequest::new("busybox")
        };
        assert_eq!(default_scheduler().select(&nodes, &req).unwrap().index, 1);
        // Every strategy honours reservations.
        let full = vec![node("n1").reserved(4, 0)];
        assert_eq!(
            scheduler("random", &DEFAULT_FILTERS)
                .select(&full, &req)
                .unwrap_err(),
            ScheduleError::NoResources
        );
        assert_eq!(
            scheduler("binpack", &DEFAULT_FILTERS)
                .select(&full, &req)
                .unwrap_err(),
            ScheduleError::NoResources
        );
    }

    #[test]
    fn resources_and_filters_together() {
        // n1 satisfies the constraint but is full; n2 has room but fails it.
        let nodes = vec![node("n1").label("disk", "ssd").reserved(4, 0), node("n2")];
        let req = ContainerRequest {
            cpus: 1,
            ..request(&["disk==ssd"], &[])
        };
        assert_eq!(
            default_scheduler().select(&nodes, &req).unwrap_err(),
            ScheduleError::NoResources
        );
        let req = ContainerRequest {
            cpus: 1,
            ..request(&["disk==~ssd"], &[])
        };
        assert_eq!(
            default_scheduler().select(&nodes, &req).unwrap(),
            Placement {
                index: 1,
                soft_dropped: true
            }
        );
    }

    #[test]
    fn random_picks_among_eligible_nodes_only() {
        let random = scheduler("random", &DEFAULT_FILTERS);
        let nodes = vec![
            node("a").label("xx", "1"),
            node("b"),
            node("c").label("xx", "1"),
            node("d").health(false, 0),
        ];
        let mut seen = [false; 4];
        for _ in 0..200 {
            seen[random
                .select(&nodes, &request(&["xx==1"], &[]))
                .unwrap()
                .index] = true;
        }
        assert_eq!(seen, [true, false, true, false]);
    }

    #[test]
    fn invalid_expressions_are_refused_clearly() {
        let nodes = vec![node("n1")];
        let err = default_scheduler()
            .select(&nodes, &request(&["region=us"], &[]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid constraint \"region=us\": one of the operators ==, != is expected"
        );
        let err = default_scheduler()
            .select(&nodes, &request(&[], &["container==a,b"]))
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid affinity \"container==a,b\": value \"a,b\" is invalid"),
            "{err}"
        );
        let err = default_scheduler()
            .select(&nodes, &request(&["x==y"], &[]))
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid constraint \"x==y\": key \"x\" is invalid"),
            "{err}"
        );
    }

    #[test]
    fn unknown_names_are_refused_with_the_valid_ones() {
        let config = |strategy: &str, filters: &[&str]| SchedulerConfig {
            strategy: strategy.into(),
            filters: filters.iter().map(|f| f.to_string()).collect(),
            ..Default::default()
        };
        let err = Scheduler::new(&config("spread", &["health", "ports"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown filter \"ports\": valid filters are health, port, containerslots, dependency, affinity, constraint, whitelist"
        );
        let err = Scheduler::new(&config("balanced", &[])).unwrap_err();
        assert_eq!(err.to_string(), "unknown strategy \"balanced\": valid strategies are spread, binpack, random (alias binpacking)");
        let err = Scheduler::new(&config("spread", &["port", "port"])).unwrap_err();
        assert_eq!(err.to_string(), "filter \"port\" is listed more than once");
        let err = Scheduler::new(&SchedulerConfig {
            overcommit: -1.0,
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "swarm.overcommit should be a number larger than -1, -1 is invalid"
        );
        let err = Scheduler::new(&SchedulerConfig {
            whitelist: vec!["x==1".into()],
            ..config("spread", &["health"])
        });
        assert!(matches!(err, Err(ConfigError::InvalidWhitelist { .. })));
    }

    #[test]
    fn describes_itself_for_docker_info() {
        let s = default_scheduler();
        assert_eq!(s.strategy_name(), "spread");
        assert_eq!(
            s.filter_names().join(", "),
            "health, port, containerslots, dependency, affinity, constraint, whitelist"
        );
        assert_eq!(s.overcommit(), 0.05);
        assert_eq!(s.overcommitted(100), 105);
        assert_eq!(scheduler("random", &[]).filter_names(), Vec::<&str>::new());
    }

    #[test]
    fn parses_overcommit() {
        assert_eq!(SchedulerConfig::parse_overcommit("0.5"), Ok(0.5));
        assert_eq!(SchedulerConfig::parse_overcommit("-0.2"), Ok(-0.2));
        assert!(SchedulerConfig::parse_overcommit("-1").is_err());
        assert!(SchedulerConfig::parse_overcommit("lots").is_err());
        assert!(SchedulerConfig::parse_overcommit("NaN").is_err());
        // 0.29 * 100 is 28.999... in floating point: rounded, not truncated.
        let s = Scheduler::new(&SchedulerConfig {
            overcommit: 0.29,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.overcommitted(100), 129);
    }

    #[test]
    fn takes_nodes_behind_references_or_arcs() {
        let nodes = [node("n1").label("a1", "x"), node("n2")];
        let refs: Vec<&NodeView> = nodes.iter().collect();
        let arcs: Vec<Arc<NodeView>> = nodes.iter().cloned().map(Arc::new).collect();
        let req = request(&["a1==x"], &[]);
        assert_eq!(default_scheduler().select(&refs, &req).unwrap().index, 0);
        assert_eq!(default_scheduler().select(&arcs, &req).unwrap().index, 0);
    }

    #[test]
    fn anti_affinity_spreads_replicas() {
        // docker run -e affinity:com.docker.compose.service!=web: one replica per node.
        let scheduler = default_scheduler();
        let mut nodes = vec![node("n1"), node("n2"), node("n3")];
        let req = request(&[], &["com.docker.compose.service!=web"]);
        let mut placed = Vec::new();
        for i in 0..3 {
            let index = scheduler.select(&nodes, &req).unwrap().index;
            nodes[index]
                .containers
                .push(container(&format!("web-{i}")).label("com.docker.compose.service", "web"));
            placed.push(index);
        }
        placed.sort();
        assert_eq!(placed, [0, 1, 2]);
        assert!(matches!(
            scheduler.select(&nodes, &req),
            Err(ScheduleError::Unsatisfied { .. })
        ));
    }
}
