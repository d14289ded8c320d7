//! `wma`: weighted moving average.

use super::kernels;
use super::spec::{Doc, Extent, Indicator, Param};

#[derive(Debug)]
pub struct Wma;

impl Indicator for Wma {
    fn name(&self) -> &'static str {
        "wma"
    }
    fn columns(&self) -> &'static [&'static str] {
        &["value"]
    }
    fn params(&self) -> &'static [Param] {
        const P: [Param; 1] = [Param::period("period", Some(30.0))];
        &P
    }
    fn compute(&self, c: &[&[f64]], p: &[f64]) -> Vec<f64> {
        kernels::wma(c[0], p[0] as usize)
    }
    fn extent(&self, p: &[f64]) -> Extent {
        Extent::trailing(p[0])
    }
    fn doc(&self) -> Doc {
        Doc {
            description: "Linearly weighted moving average: the newest value weighs `period`, the oldest 1 (TA-Lib WMA).",
            formula: "WMA_t = Σ_{i=0}^{period-1} (period − i) · x_{t-i} / (period · (period + 1) / 2)",
            warm_up: "NULL for the first period − 1 rows.",
            example: "wma(close, 10) OVER (PARTITION BY symbol ORDER BY ts)",
        }
    }
}
