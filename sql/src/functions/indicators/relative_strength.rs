//! `relative_strength`: performance of a series against a benchmark series.

use super::spec::{Doc, Extent, Indicator, Param};

#[derive(Debug)]
pub struct RelativeStrength;

fn relative_strength(x: &[f64], bench: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; x.len()];
    for t in n..x.len() {
        let (a, b) = (x[t] / x[t - n], bench[t] / bench[t - n]);
        if a.is_finite() && b.is_finite() && b != 0.0 {
            out[t] = a / b;
        }
    }
    out
}

impl Indicator for RelativeStrength {
    fn name(&self) -> &'static str {
        "relative_strength"
    }
    fn columns(&self) -> &'static [&'static str] {
        &["value", "benchmark"]
    }
    fn params(&self) -> &'static [Param] {
        const P: [Param; 1] = [Param::period("period", Some(20.0))];
        &P
    }
    fn compute(&self, c: &[&[f64]], p: &[f64]) -> Vec<f64> {
        relative_strength(c[0], c[1], p[0] as usize)
    }
    fn extent(&self, p: &[f64]) -> Extent {
        Extent::lagged(p[0])
    }
    fn doc(&self) -> Doc {
        Doc {
            description: "Relative strength against a benchmark: the symbol's growth over `period` rows divided by \
                          the benchmark's (above 1: outperforming). Join the benchmark's close onto each row first.",
            formula: "RS_t = (x_t / x_{t-period}) / (b_t / b_{t-period})",
            warm_up: "NULL for the first `period` rows.",
            example: "relative_strength(close, index_close, 20) OVER (PARTITION BY symbol ORDER BY ts)",
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ratio_of_growths() {
        let rs = super::relative_strength(&[10.0, 11.0, 12.0], &[100.0, 100.0, 120.0], 2);
        assert!(rs[1].is_nan());
        assert!((rs[2] - 1.0).abs() < 1e-12);
    }
}
