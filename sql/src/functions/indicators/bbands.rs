//! `bbands_upper`, `bbands_middle`, `bbands_lower`: Bollinger bands, TA-Lib's BBANDS over an SMA.

use super::kernels;
use super::spec::{Doc, Extent, Indicator, Param};

/// Which band a function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Band {
    Upper = 0,
    Middle = 1,
    Lower = 2,
}

#[derive(Debug)]
pub struct Bbands(pub Band);

const PARAMS: [Param; 2] = [Param::period("period", Some(20.0)), Param::number("k", Some(2.0))];

impl Indicator for Bbands {
    fn name(&self) -> &'static str {
        match self.0 {
            Band::Upper => "bbands_upper",
            Band::Middle => "bbands_middle",
            Band::Lower => "bbands_lower",
        }
    }
    fn columns(&self) -> &'static [&'static str] {
        &["value"]
    }
    fn params(&self) -> &'static [Param] {
        &PARAMS
    }
    fn compute(&self, c: &[&[f64]], p: &[f64]) -> Vec<f64> {
        let bands = kernels::bbands(c[0], p[0] as usize, p[1], p[1]);
        bands.into_iter().nth(self.0 as usize).unwrap_or_default()
    }
    fn extent(&self, p: &[f64]) -> Extent {
        Extent::trailing(p[0])
    }
    fn doc(&self) -> Doc {
        let (description, formula) = match self.0 {
            Band::Upper => (
                "Bollinger upper band (TA-Lib BBANDS with an SMA, first output).",
                "SMA(period) + k · σ, σ the population standard deviation of the last `period` values",
            ),
            Band::Middle => (
                "Bollinger middle band: the simple moving average (TA-Lib BBANDS, second output; k is ignored).",
                "SMA(period)",
            ),
            Band::Lower => (
                "Bollinger lower band (TA-Lib BBANDS with an SMA, third output).",
                "SMA(period) − k · σ, σ the population standard deviation of the last `period` values",
            ),
        };
        let example = match self.0 {
            Band::Upper => "bbands_upper(close, 20, 2) OVER (PARTITION BY symbol ORDER BY ts)",
            Band::Middle => "bbands_middle(close, 20) OVER (PARTITION BY symbol ORDER BY ts)",
            Band::Lower => "bbands_lower(close, 20, 2) OVER (PARTITION BY symbol ORDER BY ts)",
        };
        Doc {
            description,
            formula,
            warm_up: "NULL for the first period − 1 rows.",
            example,
        }
    }
}
