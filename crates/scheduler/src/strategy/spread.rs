//! `spread`: the lightest node. Weight `cpuScore + memoryScore - 10 *
//! healthIndicator` (a healthier node weighs less); the lowest weight wins,
//! ties go to the node with fewer containers, then to the first node.

use super::{best_by, Candidate, Strategy};

/// The health factor of `spread`.
pub const HEALTH_FACTOR: i64 = -10;

/// The `spread` strategy (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct Spread;

impl Strategy for Spread {
    fn name(&self) -> &'static str {
        "spread"
    }

    fn choose(&self, candidates: &mut dyn Iterator<Item = Candidate>) -> Option<Candidate> {
        best_by(candidates, |a, b| {
            (a.weight(HEALTH_FACTOR), a.containers) < (b.weight(HEALTH_FACTOR), b.containers)
        })
    }
}
