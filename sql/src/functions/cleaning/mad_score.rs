//! `mad_score`: a robust z-score from the median and the median absolute deviation.

use crate::functions::indicators::spec::{Doc, Extent, Indicator, Param};

#[derive(Debug)]
pub struct MadScore;

pub(super) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// 0.6745 · (x_t − median) / MAD over the `n` values before row t.
fn mad_score(x: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; x.len()];
    let mut buf = Vec::with_capacity(n);
    for t in n..x.len() {
        buf.clear();
        buf.extend_from_slice(&x[t - n..t]);
        let med = median(&mut buf);
        for v in buf.iter_mut() {
            *v = (*v - med).abs();
        }
        let mad = median(&mut buf);
        if mad > 0.0 {
            out[t] = 0.6745 * (x[t] - med) / mad;
        }
    }
    out
}

impl Indicator for MadScore {
    fn name(&self) -> &'static str {
        "mad_score"
    }
    fn columns(&self) -> &'static [&'static str] {
        &["value"]
    }
    fn params(&self) -> &'static [Param] {
        const P: [Param; 1] = [Param::period("period", Some(20.0))];
        &P
    }
    fn compute(&self, c: &[&[f64]], p: &[f64]) -> Vec<f64> {
        mad_score(c[0], p[0] as usize)
    }
    fn extent(&self, p: &[f64]) -> Extent {
        Extent::lagged(p[0])
    }
    fn doc(&self) -> Doc {
        Doc {
            description: "Robust (modified) z-score against the `period` values before the row: the median and \
                          the median absolute deviation do not move when a few outliers are present. \
                          Iglewicz and Hoaglin suggest flagging `abs(mad_score(…)) > 3.5`.",
            formula: "M_t = 0.6745 · (x_t − median) / median(|x_i − median|) over x_{t-period} … x_{t-1}",
            warm_up: "NULL for the first `period` rows, and where the MAD is 0.",
            example: "mad_score(close, 20) OVER (PARTITION BY symbol ORDER BY ts)",
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn median_and_mad() {
        // Baseline 1, 2, 3, 4, 100: median 3, deviations 2, 1, 0, 1, 97 → MAD 1.
        let m = super::mad_score(&[1.0, 2.0, 3.0, 4.0, 100.0, 13.0], 5);
        assert!((m[5] - 0.6745 * 10.0).abs() < 1e-12);
    }
}
