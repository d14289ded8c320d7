//! `sma`: simple moving average.

use super::kernels;
use super::spec::{Doc, Extent, Indicator, Param};

#[derive(Debug)]
pub struct Sma;

impl Indicator for Sma {
    fn name(&self) -> &'static str {
        "sma"
    }
    fn columns(&self) -> &'static [&'static str] {
        &["value"]
    }
    fn params(&self) -> &'static [Param] {
        const P: [Param; 1] = [Param::period("period", Some(30.0))];
        &P
    }
    fn compute(&self, c: &[&[f64]], p: &[f64]) -> Vec<f64> {
        kernels::sma(c[0], p[0] as usize)
    }
    fn extent(&self, p: &[f64]) -> Extent {
        Extent::trailing(p[0])
    }
    fn doc(&self) -> Doc {
        Doc {
            description: "Simple moving average: the mean of the last `period` values (TA-Lib SMA).",
            formula: "SMA_t = (x_t + x_{t-1} + … + x_{t-period+1}) / period",
            warm_up: "NULL for the first period − 1 rows.",
            example: "sma(close, 20) OVER (PARTITION BY symbol ORDER BY ts)",
        }
    }
}
