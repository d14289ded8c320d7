//! `crossover`: golden and death crosses between two series.

use super::spec::{Doc, Extent, Indicator, Param};

#[derive(Debug)]
pub struct Crossover;

fn crossover(fast: &[f64], slow: &[f64]) -> Vec<f64> {
    let mut out = vec![f64::NAN; fast.len()];
    for t in 1..fast.len() {
        let (before, now) = (fast[t - 1] - slow[t - 1], fast[t] - slow[t]);
        if before.is_nan() || now.is_nan() {
            continue;
        }
        out[t] = if before <= 0.0 && now > 0.0 {
            1.0
        } else if before >= 0.0 && now < 0.0 {
            -1.0
        } else {
            0.0
        };
    }
    out
}

impl Indicator for Crossover {
    fn name(&self) -> &'static str {
        "crossover"
    }
    fn columns(&self) -> &'static [&'static str] {
        &["fast", "slow"]
    }
    fn params(&self) -> &'static [Param] {
        &[]
    }
    fn compute(&self, c: &[&[f64]], _: &[f64]) -> Vec<f64> {
        crossover(c[0], c[1])
    }
    fn extent(&self, _: &[f64]) -> Extent {
        Extent::lagged(1.0)
    }
    fn doc(&self) -> Doc {
        Doc {
            description: "Cross signal: 1 where `fast` crosses above `slow` (a golden cross for SMA 50/200), -1 where \
                          it crosses below (a death cross), 0 otherwise. Rows where either series is NULL are \
                          skipped, so a cross is judged against the previous row where both had values.",
            formula: "1 if fast_{t-1} ≤ slow_{t-1} and fast_t > slow_t; −1 if fast_{t-1} ≥ slow_{t-1} and fast_t < slow_t",
            warm_up: "NULL on the first row with both values.",
            example: "crossover(sma_50, sma_200) OVER (PARTITION BY symbol ORDER BY ts)",
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn golden_and_death_crosses() {
        let c = super::crossover(&[1.0, 2.0, 3.0, 2.0, 1.0], &[2.0, 2.0, 2.0, 2.0, 2.0]);
        assert!(c[0].is_nan());
        assert_eq!(&c[1..], &[0.0, 1.0, 0.0, -1.0]);
    }
}
