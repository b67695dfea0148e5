//! `binpack` (alias `binpacking`): the fullest node that still has room.
//! Weight `cpuScore + memoryScore + 10 * healthIndicator`; the highest weight
//! wins, ties go to the node with more containers, then to the first node.

use super::{best_by, Candidate, Strategy};

/// The health factor of `binpack`.
pub const HEALTH_FACTOR: i64 = 10;

/// The `binpack` strategy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Binpack;

impl Binpack {
    /// Whether `binpack` prefers `a` to `b`.
    #[inline]
    pub(crate) fn better(a: &Candidate, b: &Candidate) -> bool {
        (a.weight(HEALTH_FACTOR), a.containers) > (b.weight(HEALTH_FACTOR), b.containers)
    }
}

impl Strategy for Binpack {
    fn name(&self) -> &'static str {
        "binpack"
    }

    fn choose(&self, candidates: &mut dyn Iterator<Item = Candidate>) -> Option<Candidate> {
        best_by(candidates, Self::better)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(index: usize, cpu: i64, mem: i64, health: i64, containers: usize) -> Candidate {
        Candidate {
            index,
            cpu_score: cpu,
            memory_score: mem,
            health_indicator: health,
            containers,
        }
    }

    #[test]
    fn highest_weight_then_most_containers_then_first() {
        let pick = |list: Vec<Candidate>| Binpack.choose(&mut list.into_iter()).map(|c| c.index);
        assert_eq!(
            pick(vec![c(0, 50, 50, 100, 0), c(1, 75, 75, 100, 0)]),
            Some(1)
        );
        assert_eq!(
            pick(vec![
                c(0, 50, 50, 100, 2),
                c(1, 50, 50, 100, 3),
                c(2, 50, 50, 100, 3)
            ]),
            Some(1)
        );
        // Health outweighs load: 10 per point.
        assert_eq!(
            pick(vec![c(0, 100, 100, 80, 0), c(1, 10, 10, 100, 0)]),
            Some(1)
        );
        assert_eq!(pick(vec![]), None);
    }
}
