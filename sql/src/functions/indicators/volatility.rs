//! `volatility`: annualised rolling volatility of log returns.

use super::spec::{Doc, Extent, Indicator, Param};

#[derive(Debug)]
pub struct Volatility;

/// Sample standard deviation of the last `n` log returns, times `sqrt(periods_per_year)`.
fn volatility(x: &[f64], n: usize, periods_per_year: f64) -> Vec<f64> {
    let mut out = vec![f64::NAN; x.len()];
    if n < 2 || x.len() <= n {
        return out;
    }
    let returns: Vec<f64> = x.windows(2).map(|w| (w[1] / w[0]).ln()).collect();
    let scale = periods_per_year.sqrt();
    for end in n..=returns.len() {
        let window = &returns[end - n..end];
        let mean = window.iter().sum::<f64>() / n as f64;
        let var = window.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / (n as f64 - 1.0);
        out[end] = var.sqrt() * scale;
    }
    out
}

impl Indicator for Volatility {
    fn name(&self) -> &'static str {
        "volatility"
    }
    fn columns(&self) -> &'static [&'static str] {
        &["value"]
    }
    fn params(&self) -> &'static [Param] {
        const P: [Param; 2] = [
            Param::period("period", Some(20.0)),
            Param::number("periods_per_year", Some(252.0)),
        ];
        &P
    }
    fn check(&self, p: &[f64]) -> Result<(), String> {
        if p[0] < 2.0 {
            return Err("the period must be at least 2 returns".into());
        }
        if p[1] <= 0.0 {
            return Err(format!("periods_per_year must be positive, got {}", p[1]));
        }
        Ok(())
    }
    fn compute(&self, c: &[&[f64]], p: &[f64]) -> Vec<f64> {
        volatility(c[0], p[0] as usize, p[1])
    }
    fn extent(&self, p: &[f64]) -> Extent {
        Extent::lagged(p[0])
    }
    fn doc(&self) -> Doc {
        Doc {
            description: "Annualised volatility: the sample standard deviation of the last `period` log returns, \
                          scaled by √periods_per_year (252 trading days by default).",
            formula: "r_t = ln(x_t / x_{t-1}); VOL_t = stddev_samp(r_{t-period+1} … r_t) · √periods_per_year",
            warm_up: "NULL for the first `period` rows (`period` returns need period + 1 values).",
            example: "volatility(close, 20) OVER (PARTITION BY symbol ORDER BY ts)",
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn constant_growth_has_zero_volatility_and_alternation_has_a_known_one() {
        let x: Vec<f64> = (0..6).map(|i| 1.1f64.powi(i)).collect();
        let v = super::volatility(&x, 3, 252.0);
        assert!(v[..3].iter().all(|v| v.is_nan()));
        assert!(v[3..].iter().all(|v| v.abs() < 1e-12));
        // Returns ln 2, −ln 2: mean 0, sample variance 2 ln²2 / 1.
        let v = super::volatility(&[1.0, 2.0, 1.0], 2, 1.0);
        assert!((v[2] - (2.0f64).sqrt() * 2f64.ln()).abs() < 1e-12);
    }
}
