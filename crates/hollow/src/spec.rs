//! Who a hollow engine is: name, engine ID, CPUs, memory, labels.

/// The identity and capacity of one hollow engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSpec {
    /// Position in its fleet (also the seed of its ID).
    pub index: u32,
    /// The engine's hostname (`Name` in `/info`).
    pub name: String,
    /// The engine ID, dockerd style (`XXXX:XXXX:...`, 12 groups).
    pub id: String,
    pub ncpu: i64,
    pub mem_total: i64,
    /// `--label k=v` pairs of the engine.
    pub labels: Vec<String>,
}

const GIB: i64 = 1 << 30;

impl EngineSpec {
    /// A varied but deterministic engine for `index`: 2, 4, 8 or 16 CPUs
    /// with 2 GiB each, and labels `zone`, `rack` and `disk` that constraint
    /// tests can select on.
    pub fn varied(index: u32) -> Self {
        let ncpu = [2, 4, 8, 16][(index % 4) as usize];
        EngineSpec {
            index,
            name: format!("hollow-{index:05}"),
            id: engine_id(index),
            ncpu,
            mem_total: ncpu * 2 * GIB,
            labels: vec![
                format!("zone=z{}", index % 3),
                format!("rack=r{}", index % 10),
                format!(
                    "disk={}",
                    if index.is_multiple_of(2) {
                        "ssd"
                    } else {
                        "hdd"
                    }
                ),
                "hollow=true".to_string(),
            ],
        }
    }

    /// The same engine with a fixed size instead of the varied one.
    pub fn with_size(mut self, ncpu: i64, mem_total: i64) -> Self {
        self.ncpu = ncpu;
        self.mem_total = mem_total;
        self
    }
}

/// dockerd's engine ID layout (base32 groups of 4), derived from `index`
/// so that a fleet restarted with the same indexes keeps its IDs.
pub fn engine_id(index: u32) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut x = u64::from(index).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5851_F42D_4C95_7F2D;
    let mut groups = Vec::with_capacity(12);
    for _ in 0..12 {
        let mut g = String::with_capacity(4);
        for _ in 0..4 {
            // xorshift64*: cheap, deterministic, well spread
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
            g.push(ALPHABET[(v >> 59) as usize] as char);
        }
        groups.push(g);
    }
    groups.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_distinct_and_shaped_like_dockerd() {
        let a = engine_id(1);
        assert_eq!(a, engine_id(1));
        assert_ne!(a, engine_id(2));
        assert_eq!(a.len(), 12 * 4 + 11);
        assert!(a.split(':').all(|g| g.len() == 4
            && g.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())));
        let ids: std::collections::HashSet<String> = (0..10_000).map(engine_id).collect();
        assert_eq!(ids.len(), 10_000);
    }

    #[test]
    fn varied_specs() {
        let s = EngineSpec::varied(7);
        assert_eq!(s.name, "hollow-00007");
        assert_eq!(s.ncpu, 16);
        assert_eq!(s.mem_total, 32 * GIB);
        assert!(s.labels.contains(&"rack=r7".to_string()));
        assert_eq!(s.clone().with_size(1, 5).ncpu, 1);
    }
}
