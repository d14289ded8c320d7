//! `ema`: exponential moving average.

use super::kernels;
use super::spec::{Doc, Indicator, Param};

#[derive(Debug)]
pub struct Ema;

impl Indicator for Ema {
    fn name(&self) -> &'static str {
        "ema"
    }
    fn columns(&self) -> &'static [&'static str] {
        &["value"]
    }
    fn params(&self) -> &'static [Param] {
        const P: [Param; 1] = [Param::period("period", Some(30.0))];
        &P
    }
    fn compute(&self, c: &[&[f64]], p: &[f64]) -> Vec<f64> {
        kernels::ema(c[0], p[0] as usize)
    }
    fn doc(&self) -> Doc {
        Doc {
            description: "Exponential moving average, seeded with the SMA of the first `period` values (TA-Lib EMA).",
            formula: "k = 2 / (period + 1); EMA_{period-1} = SMA; EMA_t = EMA_{t-1} + k · (x_t − EMA_{t-1})",
            warm_up: "NULL for the first period − 1 rows.",
            example: "ema(close, 12) OVER (PARTITION BY symbol ORDER BY ts)",
        }
    }
}
