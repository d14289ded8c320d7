//! `macd_hist`: MACD histogram.

use super::kernels;
use super::macd_line::{MACD_PARAMS, check_macd};
use super::spec::{Doc, Indicator, Param};

#[derive(Debug)]
pub struct MacdHist;

impl Indicator for MacdHist {
    fn name(&self) -> &'static str {
        "macd_hist"
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
        [a, b, d].into_iter().nth(2).unwrap_or_default()
    }
    fn doc(&self) -> Doc {
        Doc {
            description: "MACD histogram: the MACD line minus its signal line (TA-Lib MACD, third output).",
            formula: "macd_line − macd_signal",
            warm_up: "NULL for the first slow + signal − 2 rows (33 with the defaults), like all three TA-Lib outputs.",
            example: "macd_hist(close, 12, 26, 9) OVER (PARTITION BY symbol ORDER BY ts)",
        }
    }
}
