//! `macd_line`, `macd_signal`, `macd_hist`: the three outputs of TA-Lib's MACD, one SQL function each.

use super::kernels;
use super::spec::{Doc, Indicator, Param};

/// Which MACD output a function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacdOutput {
    Line = 0,
    Signal = 1,
    Hist = 2,
}

#[derive(Debug)]
pub struct Macd(pub MacdOutput);

const PARAMS: [Param; 3] = [
    Param::period("fast", Some(12.0)),
    Param::period("slow", Some(26.0)),
    Param::period("signal", Some(9.0)),
];

impl Indicator for Macd {
    fn name(&self) -> &'static str {
        match self.0 {
            MacdOutput::Line => "macd_line",
            MacdOutput::Signal => "macd_signal",
            MacdOutput::Hist => "macd_hist",
        }
    }
    fn columns(&self) -> &'static [&'static str] {
        &["value"]
    }
    fn params(&self) -> &'static [Param] {
        &PARAMS
    }
    fn check(&self, p: &[f64]) -> Result<(), String> {
        if p[0] >= p[1] {
            return Err(format!(
                "the fast period ({}) must be shorter than the slow period ({})",
                p[0], p[1]
            ));
        }
        Ok(())
    }
    fn compute(&self, c: &[&[f64]], p: &[f64]) -> Vec<f64> {
        let outputs = kernels::macd(c[0], p[0] as usize, p[1] as usize, p[2] as usize);
        outputs.into_iter().nth(self.0 as usize).unwrap_or_default()
    }
    fn doc(&self) -> Doc {
        let (description, formula, example) = match self.0 {
            MacdOutput::Line => (
                "MACD line: the fast EMA minus the slow EMA (TA-Lib MACD, first output).",
                "EMA(fast) − EMA(slow); TA-Lib seeds the fast EMA with the mean of the `fast` values ending on row \
                 slow − 1, so that both EMAs start there",
                "macd_line(close, 12, 26, 9) OVER (PARTITION BY symbol ORDER BY ts)",
            ),
            MacdOutput::Signal => (
                "MACD signal line: the EMA of the MACD line (TA-Lib MACD, second output).",
                "EMA(signal) of macd_line from row slow − 1, seeded with the mean of its first `signal` values",
                "macd_signal(close, 12, 26, 9) OVER (PARTITION BY symbol ORDER BY ts)",
            ),
            MacdOutput::Hist => (
                "MACD histogram: the MACD line minus its signal line (TA-Lib MACD, third output).",
                "macd_line − macd_signal",
                "macd_hist(close, 12, 26, 9) OVER (PARTITION BY symbol ORDER BY ts)",
            ),
        };
        Doc {
            description,
            formula,
            warm_up: "NULL for the first slow + signal − 2 rows (33 with the defaults), like all three TA-Lib outputs.",
            example,
        }
    }
}
