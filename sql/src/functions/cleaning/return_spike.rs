//! `return_spike`: bad ticks, values far from the sessions around them.

use super::mad_score::median;
use crate::functions::indicators::spec::{Doc, Extent, Indicator, Param};

#[derive(Debug)]
pub struct ReturnSpike;

/// 1 where x_t is more than `ratio` times above or below the median of the window around it, else 0.
fn return_spike(x: &[f64], ratio: f64, half: usize) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    let mut buf = Vec::with_capacity(2 * half + 1);
    for t in 0..x.len() {
        // A window of 2·half + 1 rows, centred where it can be and shifted inwards at the partition's edges.
        let width = 2 * half + 1;
        let mut lo = t.saturating_sub(half);
        let mut hi = lo + width;
        if hi > x.len() {
            hi = x.len();
            lo = hi.saturating_sub(width);
        }
        if hi - lo < 3 {
            continue;
        }
        buf.clear();
        buf.extend_from_slice(&x[lo..hi]);
        let med = median(&mut buf);
        if x[t] > ratio * med || x[t] * ratio < med {
            out[t] = 1.0;
        }
    }
    out
}

impl Indicator for ReturnSpike {
    fn name(&self) -> &'static str {
        "return_spike"
    }
    fn columns(&self) -> &'static [&'static str] {
        &["value"]
    }
    fn params(&self) -> &'static [Param] {
        const P: [Param; 2] = [
            Param::number("ratio", Some(5.0)),
            Param::period("half_window", Some(3.0)),
        ];
        &P
    }
    fn boolean(&self) -> bool {
        true
    }
    fn check(&self, p: &[f64]) -> Result<(), String> {
        if p[0] <= 1.0 {
            Err(format!("the ratio must be above 1, got {}", p[0]))
        } else {
            Ok(())
        }
    }
    fn compute(&self, c: &[&[f64]], p: &[f64]) -> Vec<f64> {
        return_spike(c[0], p[0], p[1] as usize)
    }
    /// The window is centred, but shifted inwards at a partition's edges: a row near either end can see up to
    /// 2·half_window rows on one side.
    fn extent(&self, p: &[f64]) -> Extent {
        let reach = 2 * p[1] as u64;
        Extent {
            before: Some(reach),
            after: Some(reach),
        }
    }
    fn doc(&self) -> Doc {
        Doc {
            description: "True for a bad tick: a value more than `ratio` times above or below the median of the \
                          2·half_window + 1 rows centred on it (itself included), so that even half_window bad \
                          ticks in a row cannot hide each other. A real move persists and moves the median with \
                          it; a bad tick does not.",
            formula: "x_t > ratio · m_t or x_t · ratio < m_t, m_t = median(x_{t-h} … x_{t+h})",
            warm_up: "None; false where fewer than 3 rows are around (very short partitions).",
            example: "return_spike(close, 5) OVER (PARTITION BY symbol ORDER BY ts)",
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn isolated_and_paired_bad_ticks() {
        let x = [10.0, 10.5, 500.0, 520.0, 10.2, 10.1, 9.9];
        assert_eq!(super::return_spike(&x, 5.0, 3), vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
        assert_eq!(super::return_spike(&[10.0, 500.0], 5.0, 3), vec![0.0, 0.0]);
        assert_eq!(super::return_spike(&[10.0, 500.0, 10.0], 5.0, 3), vec![0.0, 1.0, 0.0]);
    }
}
