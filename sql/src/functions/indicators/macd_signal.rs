//! `macd_signal`: MACD signal line.

use super::kernels;
use super::macd_line::{MACD_PARAMS, check_macd};
use super::spec::{Doc, Indicator, Param};

#[derive(Debug)]
pub struct MacdSignal;

impl Indicator for MacdSignal {
    fn name(&self) -> &'static str {
        "macd_signal"
    }
    fn columns(&self) -> &'static [&'static str] {
        &["value"]
    }
    fn params(&self) -> &'static [Param] {
        &MACD_PARAMS
    }
    fn check(&self, p: &[f64]) -> Result<(), String> {
        check_macd(p)
    }
    fn compute(&self, c: &[&[f64]], p: &[f64]) -> Vec<f64> {
        let [a, b, d] = kernels::macd(c[0], p[0] as usize, p[1] as usize, p[2] as usize);
        [a, b, d].into_iter().nth(1).unwrap_or_default()
    }
    fn doc(&self) -> Doc {
        Doc {
            description: "MACD signal line: the EMA of the MACD line (TA-Lib MACD, second output).",
            formula: "EMA(signal) of macd_line, seeded with the SMA of its first `signal` values",
            warm_up: "NULL for the first slow + signal − 2 rows (33 with the defaults), like all three TA-Lib outputs.",
            example: "macd_signal(close, 12, 26, 9) OVER (PARTITION BY symbol ORDER BY ts)",
        }
    }
}
