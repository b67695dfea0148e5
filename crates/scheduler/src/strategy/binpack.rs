//! `binpack` (alias `binpacking`): the fullest node that still has room.
//! Weight `cpuScore + memoryScore + 10 * healthIndicator`; the highest weight
//! wins, ties go to the node with more containers, then to the first node.

use super::{best_by, Candidate, Strategy};

/// The health factor of `binpack`.
pub const HEALTH_FACTOR: i64 = 10;

/// The `binpack` strategy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Binpack;

impl Strategy for Binpack {
    fn name(&self) -> &'static str {
        "binpack"
    }

    fn choose(&self, candidates: &mut dyn Iterator<Item = Candidate>) -> Option<Candidate> {
        best_by(candidates, |a, b| {
            (a.weight(HEALTH_FACTOR), a.containers) > (b.weight(HEALTH_FACTOR), b.containers)
        })
    }
}
