//! Percentiles over latency samples (microseconds), exact (sorted).

use serde::Serialize;

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// Nearest-rank percentiles of `samples` (microseconds), in milliseconds.
pub fn percentiles(samples: &[u32]) -> Percentiles {
    if samples.is_empty() {
        return Percentiles::default();
    }
    let mut v = samples.to_vec();
    v.sort_unstable();
    let rank = |q: f64| {
        let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        f64::from(v[i]) / 1000.0
    };
    let sum: u64 = v.iter().map(|x| u64::from(*x)).sum();
    Percentiles {
        count: v.len(),
        p50_ms: rank(0.50),
        p90_ms: rank(0.90),
        p99_ms: rank(0.99),
        max_ms: f64::from(*v.last().expect("not empty")) / 1000.0,
        mean_ms: sum as f64 / v.len() as f64 / 1000.0,
    }
}

impl Percentiles {
    /// `p50 / p90 / p99` in milliseconds, for the table.
    pub fn triple(&self) -> String {
        format!(
            "{:.1} / {:.1} / {:.1}",
            self.p50_ms, self.p90_ms, self.p99_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u32> = (1..=100).map(|x| x * 1000).collect();
        let p = percentiles(&v);
        assert_eq!(p.count, 100);
        assert_eq!(p.p50_ms, 50.0);
        assert_eq!(p.p90_ms, 90.0);
        assert_eq!(p.p99_ms, 99.0);
        assert_eq!(p.max_ms, 100.0);
        assert_eq!(percentiles(&[]).count, 0);
        assert_eq!(percentiles(&[7000]).p99_ms, 7.0);
    }
}
