//! `macd_line`: MACD line.

use super::kernels;
use super::spec::{Doc, Indicator, Param};

/// Parameters shared by the three MACD outputs.
pub(super) const MACD_PARAMS: [Param; 3] = [
    Param::period("fast", Some(12.0)),
    Param::period("slow", Some(26.0)),
    Param::period("signal", Some(9.0)),
];

pub(super) fn check_macd(p: &[f64]) -> Result<(), String> {
    if p[0] >= p[1] {
        return Err(format!(
            "the fast period ({}) must be shorter than the slow period ({})",
            p[0], p[1]
        ));
    }
    Ok(())
}

#[derive(Debug)]
pub struct MacdLine;

impl Indicator for MacdLine {
    fn name(&self) -> &'static str {
        "macd_line"
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
        [a, b, d].into_iter().nth(0).unwrap_or_default()
    }
    fn doc(&self) -> Doc {
        Doc {
            description: "MACD line: the fast EMA minus the slow EMA (TA-Lib MACD, first output).",
            formula: "EMA(fast) − EMA(slow), both EMAs seeded so that their first values fall on row slow − 1",
            warm_up: "NULL for the first slow + signal − 2 rows (33 with the defaults), like all three TA-Lib outputs.",
            example: "macd_line(close, 12, 26, 9) OVER (PARTITION BY symbol ORDER BY ts)",
        }
    }
}
