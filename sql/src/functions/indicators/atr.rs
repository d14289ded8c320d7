//! `atr`: average true range.

use super::kernels;
use super::spec::{Doc, Indicator, Param};

#[derive(Debug)]
pub struct Atr;

impl Indicator for Atr {
    fn name(&self) -> &'static str {
        "atr"
    }
    fn columns(&self) -> &'static [&'static str] {
        &["high", "low", "close"]
    }
    fn params(&self) -> &'static [Param] {
        const P: [Param; 1] = [Param::period("period", Some(14.0))];
        &P
    }
    fn compute(&self, c: &[&[f64]], p: &[f64]) -> Vec<f64> {
        kernels::atr(c[0], c[1], c[2], p[0] as usize)
    }
    fn doc(&self) -> Doc {
        Doc {
            description: "Average true range with Wilder's smoothing (TA-Lib ATR).",
            formula: "TR_t = max(high_t − low_t, |high_t − close_{t-1}|, |low_t − close_{t-1}|); ATR starts as the \
                      mean of the first `period` TRs, then ATR_t = (ATR_{t-1} · (period − 1) + TR_t) / period",
            warm_up: "NULL for the first `period` rows (with period 1, ATR is the true range, NULL on the first row).",
            example: "atr(high, low, close, 14) OVER (PARTITION BY symbol ORDER BY ts)",
        }
    }
}
