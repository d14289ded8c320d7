//! `linearreg_slope`: slope of the least-squares line through the last values (trend).

use super::kernels;
use super::spec::{Doc, Extent, Indicator, Param};

#[derive(Debug)]
pub struct LinearregSlope;

impl Indicator for LinearregSlope {
    fn name(&self) -> &'static str {
        "linearreg_slope"
    }
    fn columns(&self) -> &'static [&'static str] {
        &["value"]
    }
    fn params(&self) -> &'static [Param] {
        const P: [Param; 1] = [Param::period("period", Some(14.0))];
        &P
    }
    fn compute(&self, c: &[&[f64]], p: &[f64]) -> Vec<f64> {
        kernels::linearreg_slope(c[0], p[0] as usize)
    }
    fn extent(&self, p: &[f64]) -> Extent {
        Extent::trailing(p[0])
    }
    fn doc(&self) -> Doc {
        Doc {
            description: "Slope per row of the least-squares line through the last `period` values \
                          (TA-Lib LINEARREG_SLOPE); positive in an up-trend.",
            formula: "slope = (n·Σxy − Σx·Σy) / (n·Σx² − (Σx)²) with x = 0 … n−1 the row positions",
            warm_up: "NULL for the first period − 1 rows.",
            example: "linearreg_slope(close, 20) OVER (PARTITION BY symbol ORDER BY ts)",
        }
    }
}
