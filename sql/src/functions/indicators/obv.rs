//! `obv`: on-balance volume.

use super::kernels;
use super::spec::{Doc, Indicator, Param};

#[derive(Debug)]
pub struct Obv;

impl Indicator for Obv {
    fn name(&self) -> &'static str {
        "obv"
    }
    fn columns(&self) -> &'static [&'static str] {
        &["close", "volume"]
    }
    fn params(&self) -> &'static [Param] {
        &[]
    }
    fn compute(&self, c: &[&[f64]], _: &[f64]) -> Vec<f64> {
        kernels::obv(c[0], c[1])
    }
    fn doc(&self) -> Doc {
        Doc {
            description: "On-balance volume (TA-Lib OBV): volume added on up closes, subtracted on down closes.",
            formula: "OBV_0 = volume_0; OBV_t = OBV_{t-1} ± volume_t as close_t is above/below close_{t-1}, \
                      unchanged when equal",
            warm_up: "None: the first row is its volume.",
            example: "obv(close, volume) OVER (PARTITION BY symbol ORDER BY ts)",
        }
    }
}
