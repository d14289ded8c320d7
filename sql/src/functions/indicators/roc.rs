//! `roc`: rate of change.

use super::kernels;
use super::spec::{Doc, Extent, Indicator, Param};

#[derive(Debug)]
pub struct Roc;

impl Indicator for Roc {
    fn name(&self) -> &'static str {
        "roc"
    }
    fn columns(&self) -> &'static [&'static str] {
        &["value"]
    }
    fn params(&self) -> &'static [Param] {
        const P: [Param; 1] = [Param::period("period", Some(10.0))];
        &P
    }
    fn compute(&self, c: &[&[f64]], p: &[f64]) -> Vec<f64> {
        kernels::roc(c[0], p[0] as usize)
    }
    fn extent(&self, p: &[f64]) -> Extent {
        Extent::lagged(p[0])
    }
    fn doc(&self) -> Doc {
        Doc {
            description: "Rate of change in percent over `period` rows (TA-Lib ROC).",
            formula: "ROC_t = (x_t / x_{t-period} − 1) · 100; 0 when x_{t-period} is 0",
            warm_up: "NULL for the first `period` rows.",
            example: "roc(close, 10) OVER (PARTITION BY symbol ORDER BY ts)",
        }
    }
}
