//! Indicator arithmetic on dense series (no NULLs), following the TA-Lib 0.8 C library (the one the `ta-lib`
//! Python wheels ship) operation by operation — same seeding, same running sums and periodic re-computation, the
//! same fused multiply-adds — so that results agree with it to the last bits. Outputs are aligned with the
//! input; `NaN` marks warm-up rows (they become SQL NULL).

fn nan(len: usize) -> Vec<f64> {
    vec![f64::NAN; len]
}

/// Simple moving average (TA-Lib `SMA`): first value at index `n - 1`.
pub fn sma(x: &[f64], n: usize) -> Vec<f64> {
    let mut out = nan(x.len());
    if n == 0 || x.len() < n {
        return out;
    }
    let mut total: f64 = 0.0;
    for v in &x[..n - 1] {
        total += v;
    }
    for i in n - 1..x.len() {
        total += x[i];
        out[i] = total / n as f64;
        total -= x[i + 1 - n];
    }
    out
}

/// Exponential moving average (TA-Lib `EMA`): the SMA of the first `n` values at index `n - 1`, then
/// `EMA_t = EMA_{t-1} + k · (x_t − EMA_{t-1})` with `k = 2 / (n + 1)`.
pub fn ema(x: &[f64], n: usize) -> Vec<f64> {
    let mut out = nan(x.len());
    if n == 0 || x.len() < n {
        return out;
    }
    if n == 1 {
        return x.to_vec();
    }
    let k = 2.0 / (n as f64 + 1.0);
    let mut sum = 0.0;
    for v in &x[..n] {
        sum += v;
    }
    let mut prev = sum / n as f64;
    out[n - 1] = prev;
    for i in n..x.len() {
        prev = (x[i] - prev).mul_add(k, prev);
        out[i] = prev;
    }
    out
}

/// Weighted moving average (TA-Lib `WMA`): weights 1..=n, newest heaviest. Running sums are rebuilt from
/// scratch every `8n` rows, as TA-Lib does, so rounding never drifts.
pub fn wma(x: &[f64], n: usize) -> Vec<f64> {
    let mut out = nan(x.len());
    if n == 0 || x.len() < n {
        return out;
    }
    if n == 1 {
        return x.to_vec();
    }
    let nf = n as f64;
    let divider = nf * (n as f64 + 1.0) * 0.5;
    let (mut period_sub, mut period_sum) = (0.0, 0.0);
    for k in 1..n {
        let v = x[k - 1];
        period_sub += v;
        period_sum += v * k as f64;
    }
    let mut trailing = 0.0;
    let mut counter = 8 * n;
    for i in n - 1..x.len() {
        counter -= 1;
        let weighted;
        if counter == 0 {
            period_sub = 0.0;
            let mut w = 0.0;
            for k in 1..=n {
                let v = x[i + k - n];
                period_sub += v;
                w += k as f64 * v;
            }
            weighted = w;
            counter = 8 * n;
        } else {
            let v = x[i];
            period_sub += v;
            period_sub -= trailing;
            weighted = v * nf + period_sum;
        }
        out[i] = weighted / divider;
        period_sum = weighted - period_sub;
        trailing = x[i + 1 - n];
    }
    out
}

/// Relative strength index with Wilder smoothing (TA-Lib `RSI`): first value at index `n`; 0 when prices did
/// not move at all.
pub fn rsi(x: &[f64], n: usize) -> Vec<f64> {
    let mut out = nan(x.len());
    if n == 0 || x.len() <= n {
        return out;
    }
    let inv = 1.0 / n as f64;
    let nm1 = (n - 1) as f64;
    let (mut gain, mut loss) = (0.0, 0.0);
    let mut prev = x[0];
    for &v in &x[1..=n] {
        let d = v - prev;
        prev = v;
        let up = if 0.0 < d { d } else { 0.0 };
        gain += up;
        loss += up - d;
    }
    loss *= inv;
    gain *= inv;
    let value = |gain: f64, loss: f64| {
        let s = loss + gain;
        if s > 0.0 { (gain / s) * 100.0 } else { 0.0 }
    };
    out[n] = value(gain, loss);
    for i in n + 1..x.len() {
        let d = x[i] - prev;
        prev = x[i];
        let up = if 0.0 < d { d } else { 0.0 };
        gain = (gain * nm1 + up) * inv;
        loss = ((up - d) + loss * nm1) * inv;
        out[i] = value(gain, loss);
    }
    out
}

/// MACD line, signal and histogram (TA-Lib `MACD`). The fast EMA is seeded with the mean of
/// `x[slow - fast ..= slow - 1]` so that both EMAs start on row `slow - 1`; all three outputs start at row
/// `slow + signal - 2`. Requires `fast < slow`.
pub fn macd(x: &[f64], fast: usize, slow: usize, signal: usize) -> [Vec<f64>; 3] {
    let len = x.len();
    let (mut line, mut sig, mut hist) = (nan(len), nan(len), nan(len));
    if fast == 0 || slow <= fast || signal == 0 {
        return [line, sig, hist];
    }
    let lookback = slow - 1 + signal - 1;
    if len <= lookback {
        return [line, sig, hist];
    }
    let (fk, sk, gk) = (
        2.0 / (fast as f64 + 1.0),
        2.0 / (slow as f64 + 1.0),
        2.0 / (signal as f64 + 1.0),
    );
    let mut t = 0;
    let mut slow_sum = 0.0;
    for _ in 0..slow - fast {
        slow_sum += x[t];
        t += 1;
    }
    let mut pf = 0.0;
    for _ in 0..fast {
        pf += x[t];
        slow_sum += x[t];
        t += 1;
    }
    let mut ps = slow_sum / slow as f64;
    pf /= fast as f64;
    let mut mv = pf - ps;
    let step = |v: f64, pf: &mut f64, ps: &mut f64| {
        *pf = (v - *pf).mul_add(fk, *pf);
        *ps = (v - *ps).mul_add(sk, *ps);
        *pf - *ps
    };
    if signal == 1 {
        line[lookback] = mv;
        sig[lookback] = mv;
        hist[lookback] = 0.0;
        for (i, &v) in x.iter().enumerate().skip(slow) {
            mv = step(v, &mut pf, &mut ps);
            line[i] = mv;
            sig[i] = mv;
            hist[i] = 0.0;
        }
        return [line, sig, hist];
    }
    let mut psig = 0.0 + mv;
    for _ in 0..signal - 1 {
        mv = step(x[t], &mut pf, &mut ps);
        t += 1;
        psig += mv;
    }
    psig /= signal as f64;
    line[lookback] = mv;
    sig[lookback] = psig;
    hist[lookback] = mv - psig;
    while t < len {
        mv = step(x[t], &mut pf, &mut ps);
        psig = (mv - psig).mul_add(gk, psig);
        line[t] = mv;
        sig[t] = psig;
        hist[t] = mv - psig;
        t += 1;
    }
    [line, sig, hist]
}

/// Population standard deviation over `n` rows, as TA-Lib computes it for `BBANDS`: one pass over values
/// shifted by a reference point, re-centred (and recomputed from scratch) when cancellation threatens.
fn bbands_stddev(x: &[f64], n: usize) -> Vec<f64> {
    let len = x.len();
    let mut sd = nan(len);
    if n == 0 || len < n {
        return sd;
    }
    let inv = 1.0 / n as f64;
    let mut k = x[0];
    let (mut d_sum, mut q_sum) = (0.0, 0.0);
    for &v in &x[..n - 1] {
        let d = v - k;
        d_sum += d;
        q_sum += d * d;
    }
    let mut counter = 32 * n;
    for i in n - 1..len {
        let d = x[i] - k;
        d_sum += d;
        q_sum += d * d;
        let mean = inv * d_sum;
        let mut var = inv * q_sum - mean * mean;
        let old = x[i + 1 - n];
        let od = old - k;
        let od2 = od * od;
        q_sum -= od2;
        let recompute = if (inv * q_sum) * 1e-6 > var || od2 > q_sum * 1e6 {
            true
        } else {
            counter -= 1;
            counter == 0
        };
        if recompute {
            let w0 = i + 1 - n;
            k = 0.0;
            for &v in &x[w0..=i] {
                k += v;
            }
            k *= inv;
            d_sum = 0.0;
            q_sum = 0.0;
            for &v in &x[w0..=i] {
                let d = v - k;
                d_sum += d;
                q_sum += d * d;
            }
            let mean_sq = inv * q_sum;
            var = mean_sq - (inv * d_sum) * (inv * d_sum);
            let od = x[w0] - k;
            d_sum -= od;
            q_sum -= od * od;
            counter = 32 * n;
            if mean_sq * 1e-12 > var {
                sd[i] = 0.0;
                continue;
            }
        } else {
            d_sum -= od;
        }
        sd[i] = if var == 0.0 { 0.0 } else { var.sqrt() };
    }
    sd
}

/// Bollinger bands over an SMA (TA-Lib `BBANDS` with `matype = 0`): upper, middle, lower.
pub fn bbands(x: &[f64], n: usize, dev_up: f64, dev_down: f64) -> [Vec<f64>; 3] {
    let middle = sma(x, n);
    let sd = bbands_stddev(x, n);
    let (mut upper, mut lower) = (nan(x.len()), nan(x.len()));
    for i in 0..x.len() {
        if middle[i].is_nan() {
            continue;
        }
        if dev_up == dev_down {
            let t = sd[i] * dev_up;
            upper[i] = middle[i] + t;
            lower[i] = middle[i] - t;
        } else {
            upper[i] = dev_up.mul_add(sd[i], middle[i]);
            lower[i] = middle[i] - sd[i] * dev_down;
        }
    }
    [upper, middle, lower]
}

/// True range at row `t >= 1` (TA-Lib `TRANGE`), comparing as TA-Lib does.
fn true_range_at(high: &[f64], low: &[f64], close: &[f64], t: usize) -> f64 {
    let prev = close[t - 1];
    let mut g = high[t] - low[t];
    let up = (prev - high[t]).abs();
    if up > g {
        g = up;
    }
    let down = (prev - low[t]).abs();
    if down > g {
        g = down;
    }
    g
}

/// True range series: first value at index 1.
pub fn true_range(high: &[f64], low: &[f64], close: &[f64]) -> Vec<f64> {
    let mut out = nan(close.len());
    for (t, o) in out.iter_mut().enumerate().skip(1) {
        *o = true_range_at(high, low, close, t);
    }
    out
}

/// Average true range with Wilder smoothing (TA-Lib `ATR`): the mean of the true ranges of rows `1..=n` at
/// row `n`, then `ATR_t = ATR_{t-1} · (n − 1)/n + TR_t / n` (as one fused multiply-add).
pub fn atr(high: &[f64], low: &[f64], close: &[f64], n: usize) -> Vec<f64> {
    let len = close.len();
    let mut out = nan(len);
    if n == 0 || len <= n {
        return out;
    }
    let a = (n - 1) as f64 / n as f64;
    let b = 1.0 - a;
    let mut total = 0.0;
    for t in 1..=n {
        total += true_range_at(high, low, close, t);
    }
    let mut p = total / n as f64;
    out[n] = p;
    for (t, o) in out.iter_mut().enumerate().skip(n + 1) {
        p = a.mul_add(p, true_range_at(high, low, close, t) * b);
        *o = p;
    }
    out
}

/// Rate of change in percent (TA-Lib `ROC`): `(x / x[n ago] - 1) * 100`, 0 when the old value is 0.
pub fn roc(x: &[f64], n: usize) -> Vec<f64> {
    let mut out = nan(x.len());
    for i in n..x.len() {
        let old = x[i - n];
        out[i] = if old != 0.0 { (x[i] / old - 1.0) * 100.0 } else { 0.0 };
    }
    out
}

/// Least-squares slope over the last `n` values per row (TA-Lib `LINEARREG_SLOPE`): O(1) updates, recomputed
/// from scratch every `32n` rows or when a leaving value dwarfs the window.
pub fn linearreg_slope(x: &[f64], n: usize) -> Vec<f64> {
    let len = x.len();
    let mut out = nan(len);
    if n == 0 || len < n {
        return out;
    }
    let nf = n as f64;
    let nn1 = (n - 1) as f64 * nf;
    let sum_x = 0.5 * nn1;
    let divisor = sum_x * sum_x - (((2 * n - 1) as f64 * nn1) / 6.0) * nf;
    let fresh = |t: usize| {
        let (mut sy, mut sa, mut sxy) = (0.0, 0.0, 0.0);
        let mut w = (n - 1) as f64;
        for &v in &x[t + 1 - n..=t] {
            sy += v;
            sa += v.abs();
            sxy += v * w;
            w -= 1.0;
        }
        (sy, sa, sxy)
    };
    let (mut sy, mut sa, mut sxy) = fresh(n - 1);
    out[n - 1] = (nf * sxy - sum_x * sy) / divisor;
    let mut counter = 32 * n;
    for t in n..len {
        let (old, new) = (x[t - n], x[t]);
        counter -= 1;
        let n_old = nf * old;
        sa = (sa - old.abs()) + new.abs();
        if counter == 0 || n_old.abs() > sa * 100.0 {
            (sy, sa, sxy) = fresh(t);
            counter = 32 * n;
        } else {
            sxy = (sxy + sy) - n_old;
            sy = (sy - old) + new;
        }
        out[t] = (nf * sxy - sum_x * sy) / divisor;
    }
    out
}

/// On-balance volume (TA-Lib `OBV`): starts at the first volume.
pub fn obv(close: &[f64], volume: &[f64]) -> Vec<f64> {
    let mut out = nan(close.len());
    let Some((&first_close, &first_volume)) = close.first().zip(volume.first()) else {
        return out;
    };
    let (mut acc, mut prev) = (first_volume, first_close);
    for i in 0..close.len() {
        if close[i] > prev {
            acc += volume[i];
        } else if close[i] < prev {
            acc -= volume[i];
        }
        out[i] = acc;
        prev = close[i];
    }
    out
}

#[cfg(test)]
#[path = "kernels_tests.rs"]
mod tests;
