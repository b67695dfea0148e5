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

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(n: usize) -> impl Iterator<Item = Candidate> {
        (0..n).map(|index| Candidate {
            index,
            cpu_score: 0,
            memory_score: 0,
            health_indicator: 0,
            containers: 0,
        })
    }

    #[test]
    fn picks_every_candidate_now_and_then() {
        let random = Random::seeded(7);
        let mut seen = [0usize; 5];
        for _ in 0..5000 {
            seen[random.choose(&mut candidates(5)).unwrap().index] += 1;
        }
        // Uniform: about 1000 each.
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
        assert!(random.choose(&mut candidates(0)).is_none());
        assert!(Random::default().choose(&mut candidates(3)).is_some());
    }

    #[test]
    fn a_seed_makes_it_reproducible() {
        let picks = |seed| {
            let random = Random::seeded(seed);
            (0..20)
                .map(|_| random.choose(&mut candidates(10)).unwrap().index)
                .collect::<Vec<_>>()
        };
        assert_eq!(picks(42), picks(42));
    }
}
