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
//! in integer arithmetic; a node with a score over 100 is dropped (and,
//! stricter than classic Swarm, whose integer division let a node be booked
//! up to 1 % past its total, so is a node where reserved plus requested
//! would exceed the total). The
//! strategy then weighs `cpuScore + memoryScore` with a health term of
//! `10 * healthIndicator`, and breaks ties on the number of containers.

use std::fmt;

use crate::index::NodeRef;
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
    #[inline]
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

/// `a * b / c` truncated toward zero as Go does, in `i64` when the product
/// fits (the common case: 128-bit division is a slow library call) and in
/// `i128` otherwise, saturated to the `i64` range.
#[inline]
fn mul_div(a: i64, b: i64, c: i64) -> i64 {
    match a.checked_mul(b) {
        Some(product) => product / c,
        None => (i128::from(a) * i128::from(b) / i128::from(c))
            .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
    }
}

/// `total` raised by an overcommit of `percent` (5 for 0.05), in integer
/// arithmetic as classic Swarm did: `total + total * percent / 100`.
#[inline]
pub fn overcommitted(total: i64, percent: i64) -> i64 {
    total.saturating_add(mul_div(total, percent, 100)).max(0)
}

/// Scores `node` (a [`NodeRef`] or a `&NodeView`) for `request`: `None`
/// when the node is too small or too full, else the candidate.
#[inline(always)]
pub fn weigh<'a>(
    index: usize,
    node: impl Into<NodeRef<'a>>,
    request: &ContainerRequest,
    overcommit_percent: i64,
) -> Option<Candidate> {
    let node: NodeRef<'a> = node.into();
    let view = node.view();
    let total_cpus = overcommitted(view.total_cpus, overcommit_percent);
    let total_memory = overcommitted(view.total_memory, overcommit_percent);
    if total_memory < request.memory || total_cpus < request.cpus {
        return None;
    }
    // The score, or `None` when the reservation would exceed the total.
    let score = |reserved: i64, requested: i64, total: i64| -> Option<i64> {
        if requested <= 0 {
            return Some(100);
        }
        let wanted = reserved.checked_add(requested)?;
        // Classic Swarm only checked score <= 100, which the integer division
        // lets through up to 1 % above the total; the total is a hard cap here.
        (wanted <= total).then(|| mul_div(wanted, 100, total))
    };
    let cpu_score = score(node.reserved_cpus(), request.cpus, total_cpus)?;
    let memory_score = score(node.reserved_memory(), request.memory, total_memory)?;
    Some(Candidate {
        index,
        cpu_score,
        memory_score,
        health_indicator: node.health_indicator(),
        containers: node.container_count(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn asking(cpus: i64, memory: i64) -> ContainerRequest {
        ContainerRequest {
            cpus,
            memory,
            ..ContainerRequest::new("busybox")
        }
    }

    #[test]
    fn scores_follow_classic_swarm() {
        let n = node("n").reserved(1, GIB);
        let c = weigh(0, &n, &asking(1, GIB), 0).unwrap();
        assert_eq!((c.cpu_score, c.memory_score), (50, 50));
        // Nothing asked: both scores are 100 whatever is reserved.
        let c = weigh(0, &n, &asking(0, 0), 0).unwrap();
        assert_eq!((c.cpu_score, c.memory_score), (100, 100));
        // Integer division, as in Go: 3 * 100 / 4 = 75, (1 + 2 GiB) = 3 GiB of 4 = 75.
        let c = weigh(0, &n, &asking(2, 2 * GIB), 0).unwrap();
        assert_eq!((c.cpu_score, c.memory_score), (75, 75));
    }

    #[test]
    fn drops_nodes_too_small_or_too_full() {
        assert!(weigh(0, &node("n"), &asking(5, 0), 0).is_none());
        assert!(weigh(0, &node("n"), &asking(0, 5 * GIB), 0).is_none());
        assert!(weigh(0, &node("n").reserved(4, 0), &asking(1, 0), 0).is_none());
        assert!(weigh(0, &node("n").reserved(0, 4 * GIB), &asking(0, 1), 0).is_none());
        assert!(weigh(0, &node("n").reserved(3, 3 * GIB), &asking(1, GIB), 0).is_some());
    }

    #[test]
    fn overcommit_raises_totals() {
        assert_eq!(overcommitted(4, 5), 4); // 4 + 4 * 5 / 100 = 4 + 0
        assert_eq!(overcommitted(100, 5), 105);
        assert_eq!(overcommitted(4, 50), 6);
        assert_eq!(overcommitted(4, -50), 2);
        assert_eq!(overcommitted(4 * GIB, 5), 4 * GIB + 4 * GIB * 5 / 100);
        // 5 CPUs on a 4-CPU node: only with 25 % overcommit or more.
        assert!(weigh(0, &node("n"), &asking(5, 0), 24).is_none());
        assert!(weigh(0, &node("n"), &asking(5, 0), 25).is_some());
        // 4 GiB reserved + 100 MiB more: fits with the default 5 %.
        let full = node("n").reserved(0, 4 * GIB);
        assert!(weigh(0, &full, &asking(0, 100 << 20), 0).is_none());
        assert!(weigh(0, &full, &asking(0, 100 << 20), 5).is_some());
    }

    #[test]
    fn huge_numbers_do_not_overflow() {
        let n = NodeView {
            total_memory: i64::MAX,
            reserved_memory: i64::MAX - 1,
            ..node("n")
        };
        assert!(weigh(0, &n, &asking(0, i64::MAX), 100).is_none());
        assert_eq!(overcommitted(i64::MAX, 100), i64::MAX);
    }
}
