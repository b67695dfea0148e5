//! `random`: any node that passed the filters and has room, each with the
//! same chance (one pass, reservoir sampling, no allocation).
//!
//! Unlike classic Swarm, whose random strategy ignored CPU and memory, it
//! never picks a node without room for the container's reservation, so
//! reservations never exceed capacity plus overcommit whatever the strategy.

use std::sync::Mutex;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Candidate, Strategy};

/// The `random` strategy.
#[derive(Debug, Default)]
pub struct Random {
    /// A seeded generator for reproducible runs; the thread's generator when
    /// `None`.
    seeded: Option<Mutex<StdRng>>,
}

impl Random {
    /// A random strategy drawing from a generator seeded with `seed`.
    pub fn seeded(seed: u64) -> Self {
        Random {
            seeded: Some(Mutex::new(StdRng::seed_from_u64(seed))),
        }
    }

    fn pick(
        rng: &mut impl Rng,
        candidates: &mut dyn Iterator<Item = Candidate>,
    ) -> Option<Candidate> {
        let mut chosen = None;
        for (seen, candidate) in candidates.enumerate() {
            if rng.gen_range(0..=seen) == 0 {
                chosen = Some(candidate);
            }
        }
        chosen
    }
}

impl Strategy for Random {
    fn name(&self) -> &'static str {
        "random"
    }

    fn choose(&self, candidates: &mut dyn Iterator<Item = Candidate>) -> Option<Candidate> {
        match &self.seeded {
            Some(rng) => {
                let mut rng = rng.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                Self::pick(&mut *rng, candidates)
            }
            None => Self::pick(&mut rand::thread_rng(), candidates),
        }
    }
}
