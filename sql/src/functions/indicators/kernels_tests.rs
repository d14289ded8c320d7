//! Kernels against values worked out by hand from the published definitions.

use super::*;

fn close_to(got: &[f64], want: &[Option<f64>]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        match w {
            None => assert!(g.is_nan(), "index {i}: expected warm-up, got {g}"),
            Some(w) => assert!((g - w).abs() <= 1e-12 * w.abs().max(1.0), "index {i}: {g} != {w}"),
        }
    }
}

fn linear(n: usize) -> Vec<f64> {
    (1..=n).map(|i| i as f64).collect()
}

#[test]
fn sma_and_wma() {
    close_to(&sma(&linear(5), 3), &[None, None, Some(2.0), Some(3.0), Some(4.0)]);
    // (1*1 + 2*2 + 3*3) / 6, then (1*2 + 2*3 + 3*4) / 6, ...
    close_to(
        &wma(&linear(5), 3),
        &[None, None, Some(14.0 / 6.0), Some(20.0 / 6.0), Some(26.0 / 6.0)],
    );
    close_to(&sma(&linear(2), 3), &[None, None]);
}

#[test]
fn ema_is_seeded_with_the_sma_and_lags_a_line_by_half_its_period() {
    // k = 0.5; seed (1+2+3)/3 = 2; then (4-2)*0.5+2 = 3; (5-3)*0.5+3 = 4.
    close_to(&ema(&linear(5), 3), &[None, None, Some(2.0), Some(3.0), Some(4.0)]);
    let e = ema(&linear(40), 9);
    assert!(
        e[8..]
            .iter()
            .enumerate()
            .all(|(i, v)| (v - (i as f64 + 9.0 - 4.0)).abs() < 1e-12)
    );
}

#[test]
fn rsi_wilder() {
    let up = rsi(&linear(10), 3);
    close_to(
        &up,
        &[
            None,
            None,
            None,
            Some(100.0),
            Some(100.0),
            Some(100.0),
            Some(100.0),
            Some(100.0),
            Some(100.0),
            Some(100.0),
        ],
    );
    // Changes +1, -1, +2 -> gain 3/3 = 1, loss 1/3; RSI = 100 * 1 / (4/3) = 75.
    // Next change -2: gain = (1*2 + 0)/3 = 2/3, loss = (1/3*2 + 2)/3 = 8/9; RSI = 100 * (2/3) / (14/9) = 300/7.
    close_to(
        &rsi(&[10.0, 11.0, 10.0, 12.0, 10.0], 3),
        &[None, None, None, Some(75.0), Some(300.0 / 7.0)],
    );
    // No movement at all: TA-Lib reports 0.
    close_to(&rsi(&[5.0; 4], 2), &[None, None, Some(0.0), Some(0.0)]);
}

#[test]
fn macd_of_a_line_is_the_difference_of_lags() {
    let [line, signal, hist] = macd(&linear(60), 3, 7, 4);
    // Lags are (7-1)/2 = 3 and (3-1)/2 = 1: the line is 2 wherever defined; the first value is at 7 + 4 - 2 = 9.
    assert!(line[..9].iter().all(|v| v.is_nan()) && signal[..9].iter().all(|v| v.is_nan()));
    assert!(line[9..].iter().all(|v| (v - 2.0).abs() < 1e-12));
    assert!(signal[9..].iter().all(|v| (v - 2.0).abs() < 1e-12));
    assert!(hist[9..].iter().all(|v| v.abs() < 1e-12));
}

#[test]
fn bollinger_bands_use_the_population_deviation() {
    // Window [1, 2, 3]: mean 2, population variance 2/3.
    let [up, mid, low] = bbands(&linear(3), 3, 2.0, 1.0);
    let sd = (2.0f64 / 3.0).sqrt();
    close_to(&mid, &[None, None, Some(2.0)]);
    close_to(&up, &[None, None, Some(2.0 + 2.0 * sd)]);
    close_to(&low, &[None, None, Some(2.0 - sd)]);
    let [up, _, low] = bbands(&[7.0; 4], 2, 2.0, 2.0);
    close_to(&up, &[None, Some(7.0), Some(7.0), Some(7.0)]);
    close_to(&low, &[None, Some(7.0), Some(7.0), Some(7.0)]);
}

#[test]
fn true_range_and_atr() {
    let close = [10.0, 11.0, 9.0, 12.0, 12.0];
    let high = [11.0, 11.5, 10.0, 12.5, 13.0];
    let low = [9.0, 10.0, 8.5, 9.5, 11.0];
    // TR: max(h-l, |h-prev c|, |l-prev c|) = 1.5, max(1.5, 1, 2.5) = 2.5, max(3, 3.5, 0.5) = 3.5, max(2, 1, 1) = 2.
    close_to(
        &true_range(&high, &low, &close),
        &[None, Some(1.5), Some(2.5), Some(3.5), Some(2.0)],
    );
    // ATR(2): seed (1.5 + 2.5) / 2 = 2 at index 2; (2*1 + 3.5)/2 = 2.75; (2.75 + 2)/2 = 2.375.
    close_to(
        &atr(&high, &low, &close, 2),
        &[None, None, Some(2.0), Some(2.75), Some(2.375)],
    );
}

#[test]
fn roc_slope_and_obv() {
    close_to(
        &roc(&[1.0, 2.0, 4.0, 0.0, 3.0], 1),
        &[None, Some(100.0), Some(100.0), Some(-100.0), Some(0.0)],
    );
    close_to(
        &linearreg_slope(&[1.0, 3.0, 5.0, 4.0], 3),
        &[None, None, Some(2.0), Some(0.5)],
    );
    close_to(
        &obv(&[1.0, 2.0, 2.0, 1.0], &[10.0, 20.0, 30.0, 40.0]),
        &[Some(10.0), Some(30.0), Some(30.0), Some(-10.0)],
    );
}
