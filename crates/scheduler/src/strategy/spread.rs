//! `spread`: the lightest node. Weight `cpuScore + memoryScore - 10 *
//! healthIndicator` (a healthier node weighs less); the lowest weight wins,
//! ties go to the node with fewer containers, then to the first node.

use super::{best_by, Candidate, Strategy};

/// The health factor of `spread`.
pub const HEALTH_FACTOR: i64 = -10;

/// The `spread` strategy (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct Spread;

impl Spread {
    /// Whether `spread` prefers `a` to `b`.
    #[inline]
    pub(crate) fn better(a: &Candidate, b: &Candidate) -> bool {
        (a.weight(HEALTH_FACTOR), a.containers) < (b.weight(HEALTH_FACTOR), b.containers)
    }
}

impl Strategy for Spread {
    fn name(&self) -> &'static str {
        "spread"
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
    fn lowest_weight_then_fewest_containers_then_first() {
        let pick = |list: Vec<Candidate>| Spread.choose(&mut list.into_iter()).map(|c| c.index);
        assert_eq!(
            pick(vec![c(0, 50, 50, 100, 0), c(1, 25, 25, 100, 9)]),
            Some(1)
        );
        assert_eq!(
            pick(vec![
                c(0, 50, 50, 100, 3),
                c(1, 50, 50, 100, 2),
                c(2, 50, 50, 100, 2)
            ]),
            Some(1)
        );
        // A healthier node weighs 10 less per point of health.
        assert_eq!(
            pick(vec![c(0, 10, 10, 80, 0), c(1, 100, 100, 100, 0)]),
            Some(1)
        );
        assert_eq!(pick(vec![]), None);
    }
}
