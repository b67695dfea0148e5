//! Strategies: among the nodes left by the filters that have room for the
//! container, each picks one. One file per strategy, all behind
//! [`Strategy`].
//!
//! The weighing is classic Swarm's. For each node whose totals (raised by
//! `swarm.overcommit`) are at least what the container asks for:
//!
//! ```text
//! cpuScore    = (reservedCPUs   + requestedCPUs)   * 100 / totalCPUs    (100 when no CPU is asked)
//! memoryScore = (reservedMemory + requestedMemory) * 100 / totalMemory  (100 when no memory is asked)
//! ```
//!
//! in integer arithmetic; a node with a score over 100 is dropped. The
//! strategy then weighs `cpuScore + memoryScore` with a health term of
//! `10 * healthIndicator`, and breaks ties on the number of containers.

use std::fmt;

use crate::node::NodeView;
use crate::request::ContainerRequest;

mod binpack;
mod random;
mod spread;

pub use binpack::Binpack;
pub use random::Random;
pub use spread::Spread;

/// The strategy names `--strategy` takes (`binpacking` is an alias of
/// `binpack`).
pub const STRATEGIES: [&str; 3] = ["spread", "binpack", "random"];

/// A node that passed the filters and has room for the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Index of the node in the slice given to the scheduler.
    pub index: usize,
    /// CPU score, 0 to 100.
    pub cpu_score: i64,
    /// Memory score, 0 to 100.
    pub memory_score: i64,
    /// The node's health indicator, 0 to 100.
    pub health_indicator: i64,
    /// Number of containers on the node (stopped and in-flight ones
    /// included).
    pub containers: usize,
}

impl Candidate {
    /// `cpuScore + memoryScore + health_factor * healthIndicator`.
    pub fn weight(&self, health_factor: i64) -> i64 {
        self.cpu_score + self.memory_score + health_factor * self.health_indicator
    }
}

/// One strategy.
pub trait Strategy: fmt::Debug + Send + Sync {
    /// The name used by `--strategy` and shown by `docker info`.
    fn name(&self) -> &'static str;

    /// Picks one of the candidates, or none when there is none. The
    /// candidates come in the order of the scheduler's node slice.
    fn choose(&self, candidates: &mut dyn Iterator<Item = Candidate>) -> Option<Candidate>;
}

/// `total` raised by an overcommit of `percent` (5 for 0.05), in integer
/// arithmetic as classic Swarm did: `total + total * percent / 100`.
pub fn overcommitted(total: i64, percent: i64) -> i64 {
    let raised = i128::from(total) + i128::from(total) * i128::from(percent) / 100;
    raised.clamp(0, i128::from(i64::MAX)) as i64
}

/// Scores `node` for `request`: `None` when the node is too small or too
/// full, else the candidate.
pub fn weigh(
    index: usize,
    node: &NodeView,
    request: &ContainerRequest,
    overcommit_percent: i64,
) -> Option<Candidate> {
    let total_cpus = overcommitted(node.total_cpus, overcommit_percent);
    let total_memory = overcommitted(node.total_memory, overcommit_percent);
    if total_memory < request.memory || total_cpus < request.cpus {
        return None;
    }
    let score = |reserved: i64, requested: i64, total: i64| -> i64 {
        if requested > 0 {
            let score = (i128::from(reserved) + i128::from(requested)) * 100 / i128::from(total);
            score.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
        } else {
            100
        }
    };
    let cpu_score = score(node.reserved_cpus, request.cpus, total_cpus);
    let memory_score = score(node.reserved_memory, request.memory, total_memory);
    (cpu_score <= 100 && memory_score <= 100).then_some(Candidate {
        index,
        cpu_score,
        memory_score,
        health_indicator: node.health_indicator,
        containers: node.containers.len(),
    })
}

/// The candidate that `better` prefers, the first one on a tie.
pub(crate) fn best_by(
    candidates: &mut dyn Iterator<Item = Candidate>,
    better: impl Fn(&Candidate, &Candidate) -> bool,
) -> Option<Candidate> {
    let mut best = candidates.next()?;
    for candidate in candidates {
        if better(&candidate, &best) {
            best = candidate;
        }
    }
    Some(best)
}
