//! `bbands_middle`: Bollinger middle band: the simple moving average.

use super::kernels;
use super::spec::{Doc, Indicator, Param};

#[derive(Debug)]
pub struct BbandsMiddle;

impl Indicator for BbandsMiddle {
    fn name(&self) -> &'static str {
        "bbands_middle"
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
        [a, b, d].into_iter().nth(1).unwrap_or_default()
    }
    fn doc(&self) -> Doc {
        Doc {
            description: "Bollinger middle band: the simple moving average (TA-Lib BBANDS, second output).",
            formula: "SMA(period)",
            warm_up: "NULL for the first period − 1 rows.",
            example: "bbands_middle(close, 20, 2) OVER (PARTITION BY symbol ORDER BY ts)",
        }
    }
}
