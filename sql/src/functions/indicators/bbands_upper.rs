//! `bbands_upper`: Bollinger upper band.

use super::kernels;
use super::spec::{Doc, Indicator, Param};

#[derive(Debug)]
pub struct BbandsUpper;

impl Indicator for BbandsUpper {
    fn name(&self) -> &'static str {
        "bbands_upper"
    }
    fn columns(&self) -> &'static [&'static str] {
        &["value"]
    }
    fn params(&self) -> &'static [Param] {
        const P: [Param; 2] = [Param::period("period", Some(20.0)), Param::number("k", Some(2.0))];
        &P
    }
    fn compute(&self, c: &[&[f64]], p: &[f64]) -> Vec<f64> {
        let [a, b, d] = kernels::bbands(c[0], p[0] as usize, p[1], p[1]);
        [a, b, d].into_iter().nth(0).unwrap_or_default()
    }
    fn doc(&self) -> Doc {
        Doc {
            description: "Bollinger upper band (TA-Lib BBANDS with an SMA, first output).",
            formula: "SMA(period) + k · σ, σ the population standard deviation of the last `period` values",
            warm_up: "NULL for the first period − 1 rows.",
            example: "bbands_upper(close, 20, 2) OVER (PARTITION BY symbol ORDER BY ts)",
        }
    }
}
