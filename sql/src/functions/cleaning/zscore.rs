//! `zscore`: how unusual a value is against the values just before it.

use crate::functions::indicators::spec::{Doc, Extent, Indicator, Param};

#[derive(Debug)]
pub struct Zscore;

/// (x_t − mean) / stddev_samp of the `n` values before row t.
pub(super) fn zscore(x: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; x.len()];
    for t in n..x.len() {
        let w = &x[t - n..t];
        let mean = w.iter().sum::<f64>() / n as f64;
        let sd = (w.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n as f64 - 1.0)).sqrt();
        if sd > 0.0 {
            out[t] = (x[t] - mean) / sd;
        }
    }
    out
}

impl Indicator for Zscore {
    fn name(&self) -> &'static str {
        "zscore"
    }
    fn columns(&self) -> &'static [&'static str] {
        &["value"]
    }
    fn params(&self) -> &'static [Param] {
        const P: [Param; 1] = [Param::period("period", Some(20.0))];
        &P
    }
    fn check(&self, p: &[f64]) -> Result<(), String> {
        if p[0] < 2.0 {
            Err("the period must be at least 2".into())
        } else {
            Ok(())
        }
    }
    fn compute(&self, c: &[&[f64]], p: &[f64]) -> Vec<f64> {
        zscore(c[0], p[0] as usize)
    }
    fn extent(&self, p: &[f64]) -> Extent {
        Extent::lagged(p[0])
    }
    fn doc(&self) -> Doc {
        Doc {
            description: "Rolling z-score of a value against the `period` values before it (the value itself is \
                          not part of its baseline, so an outlier cannot hide itself). Flag outliers with \
                          `abs(zscore(x, 20) OVER w) > 4`.",
            formula: "z_t = (x_t − mean(x_{t-period} … x_{t-1})) / stddev_samp(x_{t-period} … x_{t-1})",
            warm_up: "NULL for the first `period` rows, and where the baseline has no spread.",
            example: "zscore(close, 20) OVER (PARTITION BY symbol ORDER BY ts)",
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn against_the_previous_values() {
        // Baseline 1, 2, 3: mean 2, sample sd 1.
        let z = super::zscore(&[1.0, 2.0, 3.0, 5.0, 3.0], 3);
        assert!(z[..3].iter().all(|v| v.is_nan()));
        assert!((z[3] - 3.0).abs() < 1e-12);
        assert!(super::zscore(&[1.0, 1.0, 1.0], 2)[2].is_nan());
    }
}
