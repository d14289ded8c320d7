//! `vwap`: rolling volume-weighted average price.

use super::spec::{Doc, Extent, Indicator, Param};

#[derive(Debug)]
pub struct Vwap;

fn vwap(price: &[f64], volume: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; price.len()];
    for end in n..=price.len() {
        let (mut pv, mut v) = (0.0, 0.0);
        for i in end - n..end {
            pv += price[i] * volume[i];
            v += volume[i];
        }
        if v != 0.0 {
            out[end - 1] = pv / v;
        }
    }
    out
}

impl Indicator for Vwap {
    fn name(&self) -> &'static str {
        "vwap"
    }
    fn columns(&self) -> &'static [&'static str] {
        &["price", "volume"]
    }
    fn params(&self) -> &'static [Param] {
        const P: [Param; 1] = [Param::period("period", Some(20.0))];
        &P
    }
    fn compute(&self, c: &[&[f64]], p: &[f64]) -> Vec<f64> {
        vwap(c[0], c[1], p[0] as usize)
    }
    fn extent(&self, p: &[f64]) -> Extent {
        Extent::trailing(p[0])
    }
    fn doc(&self) -> Doc {
        Doc {
            description: "Volume-weighted average price over the last `period` rows; pass the typical price \
                          (high + low + close) / 3 or the close.",
            formula: "VWAP_t = Σ price_i · volume_i / Σ volume_i over the last `period` rows; NULL when Σ volume is 0",
            warm_up: "NULL for the first period − 1 rows.",
            example: "vwap((high + low + close) / 3, volume, 20) OVER (PARTITION BY symbol ORDER BY ts)",
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn weights_by_volume() {
        let v = super::vwap(&[10.0, 20.0, 30.0], &[1.0, 3.0, 0.0], 2);
        assert!(v[0].is_nan());
        assert_eq!(v[1], 17.5);
        assert_eq!(v[2], 20.0);
        assert!(super::vwap(&[1.0], &[0.0], 1)[0].is_nan());
    }
}
