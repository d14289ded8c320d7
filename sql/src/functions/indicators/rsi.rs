//! `rsi`: relative strength index (Wilder).

use super::kernels;
use super::spec::{Doc, Indicator, Param};

#[derive(Debug)]
pub struct Rsi;

impl Indicator for Rsi {
    fn name(&self) -> &'static str {
        "rsi"
    }
    fn columns(&self) -> &'static [&'static str] {
        &["value"]
    }
    fn params(&self) -> &'static [Param] {
        const P: [Param; 1] = [Param::period("period", Some(14.0))];
        &P
    }
    fn compute(&self, c: &[&[f64]], p: &[f64]) -> Vec<f64> {
        kernels::rsi(c[0], p[0] as usize)
    }
    fn doc(&self) -> Doc {
        Doc {
            description: "Relative strength index with Wilder's smoothing (TA-Lib RSI).",
            formula: "avg gain and avg loss start as the means of the first `period` changes, then \
                      avg_t = (avg_{t-1} · (period − 1) + change_t) / period; RSI = 100 · gain / (gain + loss), \
                      0 when both are 0",
            warm_up: "NULL for the first `period` rows (a change needs a previous value).",
            example: "rsi(close, 14) OVER (PARTITION BY symbol ORDER BY ts)",
        }
    }
}
