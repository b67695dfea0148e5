//! The scheduler: filters, then a strategy, with classic Swarm's soft retry.

use std::borrow::Borrow;

use crate::error::{ConfigError, ScheduleError};
use crate::filter::{self, Filter, PreparedRequest, DEFAULT_FILTERS};
use crate::node::NodeView;
use crate::request::ContainerRequest;
use crate::strategy::{self, Strategy, STRATEGIES};

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
    /// In the configured order.
    filters: Vec<Box<dyn Filter>>,
    /// Indexes into `filters`, cheapest first, for the fast path.
    fast_order: Vec<usize>,
    overcommit_percent: i64,
    overcommit: f64,
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
            filters.push(filter_by_name(name, &config.whitelist)?);
        }
        if !config.whitelist.is_empty() {
            // Parse the entries even when the filter is off: a typo is an error.
            filter::Whitelist::new(&config.whitelist)?;
        }
        Self::from_parts(strategy, filters, config.overcommit)
    }

    /// Builds the scheduler from a strategy and filters of your own.
    pub fn from_parts(
        strategy: Box<dyn Strategy>,
        filters: Vec<Box<dyn Filter>>,
        overcommit: f64,
    ) -> Result<Self, ConfigError> {
        if !(overcommit.is_finite() && overcommit > -1.0) {
            return Err(ConfigError::InvalidOvercommit(overcommit.to_string()));
        }
        let mut fast_order: Vec<usize> = (0..filters.len()).collect();
        fast_order.sort_by_key(|&i| filters[i].cost());
        Ok(Scheduler {
            strategy,
            filters,
            fast_order,
            overcommit_percent: (overcommit * 100.0).round() as i64,
            overcommit,
        })
    }

    /// The strategy's name (`binpack` for `binpacking`).
    pub fn strategy_name(&self) -> &'static str {
        self.strategy.name()
    }

    /// The filter names, in order (for `docker info`).
    pub fn filter_names(&self) -> Vec<&'static str> {
        self.filters.iter().map(|f| f.name()).collect()
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
    pub fn select<N: Borrow<NodeView>>(
        &self,
        nodes: &[N],
        request: &ContainerRequest,
    ) -> Result<Placement, ScheduleError> {
        self.select_prepared(nodes, &PreparedRequest::new(request)?)
    }

    /// [`Scheduler::select`] for a request already prepared (to retry without
    /// compiling its expressions again).
    pub fn select_prepared<N: Borrow<NodeView>>(
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

    fn select_once<N: Borrow<NodeView>>(
        &self,
        nodes: &[N],
        request: &PreparedRequest<'_>,
        soft: bool,
    ) -> Result<usize, ScheduleError> {
        let active: Vec<&dyn Filter> = self
            .fast_order
            .iter()
            .map(|&i| self.filters[i].as_ref())
            .filter(|f| f.is_active(request, soft))
            .collect();
        let split = active
            .iter()
            .position(|f| f.cost() > filter::Cost::Node)
            .unwrap_or(active.len());
        let (cheap, costly) = active.split_at(split);
        let overcommit = self.overcommit_percent;
        let mut candidates = nodes.iter().enumerate().filter_map(|(index, node)| {
            let node = node.borrow();
            if !cheap.iter().all(|f| f.accepts(request, node, soft)) {
                return None;
            }
            let candidate = strategy::weigh(index, node, request.request, overcommit)?;
            costly
                .iter()
                .all(|f| f.accepts(request, node, soft))
                .then_some(candidate)
        });
        match self.strategy.choose(&mut candidates) {
            Some(chosen) => Ok(chosen.index),
            None => Err(self.explain(nodes, request, soft)),
        }
    }

    /// Why no node was chosen: replays the filters in their configured order
    /// as classic Swarm ran them, and names the first that left no node.
    fn explain<N: Borrow<NodeView>>(
        &self,
        nodes: &[N],
        request: &PreparedRequest<'_>,
        soft: bool,
    ) -> ScheduleError {
        let mut left: Vec<&NodeView> = nodes.iter().map(Borrow::borrow).collect();
        for (position, filter) in self.filters.iter().enumerate() {
            if !filter.is_active(request, soft) {
                continue;
            }
            left.retain(|node| filter.accepts(request, node, soft));
            if left.is_empty() {
                if filter.name() == "health" {
                    return ScheduleError::NoHealthyNode;
                }
                return ScheduleError::Unsatisfied {
                    conditions: self.conditions(request, position),
                };
            }
        }
        if left.is_empty() {
            ScheduleError::NoNodes
        } else {
            ScheduleError::NoResources
        }
    }

    /// `\n[a b]\n[c]`: the conditions of the filters up to `last`, one group
    /// per filter that has any, each printed as Go printed a list of strings.
    fn conditions(&self, request: &PreparedRequest<'_>, last: usize) -> String {
        let mut text = String::new();
        let mut list = Vec::new();
        for filter in &self.filters[..=last] {
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
