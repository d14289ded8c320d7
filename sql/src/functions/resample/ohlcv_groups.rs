//! The vectorized (many groups at once) accumulator behind `ohlcv`: one column per state field instead of one
//! boxed accumulator per group, which is what makes GROUP BY over millions of bars fast.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, StructArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::common::Result;
use datafusion::common::cast::{as_float64_array, as_int64_array};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};

use super::ohlcv_fields::{FIELDS, times};

/// Per-group bar state; sentinels mark "not seen yet" (`i64::MAX` first time, `i64::MIN` last time, ±∞ extremes).
#[derive(Debug, Default)]
pub(super) struct BarGroups {
    first_t: Vec<i64>,
    open: Vec<f64>,
    last_t: Vec<i64>,
    close: Vec<f64>,
    high: Vec<f64>,
    low: Vec<f64>,
    volume: Vec<f64>,
    pv: Vec<f64>,
    trades: Vec<i64>,
}

impl BarGroups {
    /// Remove and return the groups `emit_to` selects.
    fn take(&mut self, emit_to: EmitTo) -> BarGroups {
        BarGroups {
            first_t: emit_to.take_needed(&mut self.first_t),
            open: emit_to.take_needed(&mut self.open),
            last_t: emit_to.take_needed(&mut self.last_t),
            close: emit_to.take_needed(&mut self.close),
            high: emit_to.take_needed(&mut self.high),
            low: emit_to.take_needed(&mut self.low),
            volume: emit_to.take_needed(&mut self.volume),
            pv: emit_to.take_needed(&mut self.pv),
            trades: emit_to.take_needed(&mut self.trades),
        }
    }

    fn resize(&mut self, n: usize) {
        self.first_t.resize(n, i64::MAX);
        self.open.resize(n, 0.0);
        self.last_t.resize(n, i64::MIN);
        self.close.resize(n, 0.0);
        self.high.resize(n, f64::NEG_INFINITY);
        self.low.resize(n, f64::INFINITY);
        self.volume.resize(n, 0.0);
        self.pv.resize(n, 0.0);
        self.trades.resize(n, 0);
    }

    /// Fold one (partial) bar into group `g`; the same rules as the row-at-a-time accumulator.
    #[allow(clippy::too_many_arguments)]
    fn fold(
        &mut self,
        g: usize,
        open: Option<(i64, f64)>,
        close: Option<(i64, f64)>,
        high: Option<f64>,
        low: Option<f64>,
        volume: f64,
        pv: f64,
        trades: i64,
    ) {
        if let Some((t, o)) = open
            && (t < self.first_t[g] || (t == self.first_t[g] && o < self.open[g]))
        {
            self.first_t[g] = t;
            self.open[g] = o;
        }
        if let Some((t, c)) = close
            && (t > self.last_t[g] || (t == self.last_t[g] && c > self.close[g]))
        {
            self.last_t[g] = t;
            self.close[g] = c;
        }
        if let Some(h) = high {
            self.high[g] = self.high[g].max(h);
        }
        if let Some(l) = low {
            self.low[g] = self.low[g].min(l);
        }
        self.volume[g] += volume;
        self.pv[g] += pv;
        self.trades[g] += trades;
    }
}

fn get(a: &Float64Array, i: usize) -> Option<f64> {
    a.is_valid(i).then(|| a.value(i))
}

fn included(filter: Option<&BooleanArray>, i: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(i) && f.value(i))
}

/// The row-level contribution of input row `i`: (open, close, high, low, volume, pv) — or None without a time.
type RowBar = (
    Option<(i64, f64)>,
    Option<(i64, f64)>,
    Option<f64>,
    Option<f64>,
    f64,
    f64,
);

fn row_bar(ts: &[Option<i64>], cols: &[&Float64Array; 5], i: usize) -> Option<RowBar> {
    let t = ts[i]?;
    let [o, h, l, c, v] = cols;
    let (hi, lo, cl, vol) = (get(h, i), get(l, i), get(c, i), get(v, i));
    let pv = match (hi, lo, cl, vol) {
        (Some(hi), Some(lo), Some(cl), Some(vol)) => (hi + lo + cl) / 3.0 * vol,
        _ => 0.0,
    };
    Some((
        get(o, i).map(|o| (t, o)),
        cl.map(|c| (t, c)),
        hi,
        lo,
        vol.unwrap_or(0.0),
        pv,
    ))
}

fn inputs(values: &[ArrayRef]) -> Result<(Vec<Option<i64>>, [&Float64Array; 5])> {
    let ts = times(&values[0])?;
    let f = |i: usize| as_float64_array(&values[i]);
    Ok((ts, [f(1)?, f(2)?, f(3)?, f(4)?, f(5)?]))
}

impl GroupsAccumulator for BarGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let (ts, cols) = inputs(values)?;
        for (i, &g) in group_indices.iter().enumerate() {
            if !included(opt_filter, i) {
                continue;
            }
            if let Some((open, close, high, low, vol, pv)) = row_bar(&ts, &cols, i) {
                self.fold(g, open, close, high, low, vol, pv, 1);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let BarGroups {
            first_t,
            open,
            last_t,
            close,
            high,
            low,
            volume,
            pv,
            trades,
        } = self.take(emit_to);
        let n = trades.len();
        let opt = |keep: &dyn Fn(usize) -> bool, v: &[f64]| -> Float64Array {
            (0..n).map(|i| keep(i).then(|| v[i])).collect()
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(opt(&|i| first_t[i] != i64::MAX, &open)),
            Arc::new(opt(&|i| high[i] != f64::NEG_INFINITY, &high)),
            Arc::new(opt(&|i| low[i] != f64::INFINITY, &low)),
            Arc::new(opt(&|i| last_t[i] != i64::MIN, &close)),
            Arc::new(Float64Array::from(volume.clone())),
            Arc::new(
                (0..n)
                    .map(|i| (volume[i] != 0.0).then(|| pv[i] / volume[i]))
                    .collect::<Float64Array>(),
            ),
            Arc::new(Int64Array::from(trades.clone())),
        ];
        let nulls = NullBuffer::from(trades.iter().map(|&t| t > 0).collect::<Vec<bool>>());
        Ok(Arc::new(StructArray::try_new(FIELDS.clone(), columns, Some(nulls))?))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let BarGroups {
            first_t,
            open,
            last_t,
            close,
            high,
            low,
            volume,
            pv,
            trades,
        } = self.take(emit_to);
        let times = |t: &[i64], none: i64| -> Int64Array { t.iter().map(|&x| (x != none).then_some(x)).collect() };
        let values = |v: &[f64], t: &[i64], none: i64| -> Float64Array {
            v.iter().zip(t).map(|(&x, &tt)| (tt != none).then_some(x)).collect()
        };
        let extreme = |v: &[f64], none: f64| -> Float64Array { v.iter().map(|&x| (x != none).then_some(x)).collect() };
        Ok(vec![
            Arc::new(times(&first_t, i64::MAX)),
            Arc::new(values(&open, &first_t, i64::MAX)),
            Arc::new(times(&last_t, i64::MIN)),
            Arc::new(values(&close, &last_t, i64::MIN)),
            Arc::new(extreme(&high, f64::NEG_INFINITY)),
            Arc::new(extreme(&low, f64::INFINITY)),
            Arc::new(Float64Array::from(volume)),
            Arc::new(Float64Array::from(pv)),
            Arc::new(Int64Array::from(trades)),
        ])
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.resize(total_num_groups);
        let (first, last, trades) = (
            as_int64_array(&values[0])?,
            as_int64_array(&values[2])?,
            as_int64_array(&values[8])?,
        );
        let f = |i: usize| as_float64_array(&values[i]);
        let (open, close, high, low, volume, pv) = (f(1)?, f(3)?, f(4)?, f(5)?, f(6)?, f(7)?);
        let when = |t: &Int64Array, v: &Float64Array, i: usize| {
            (t.is_valid(i) && v.is_valid(i)).then(|| (t.value(i), v.value(i)))
        };
        for (i, &g) in group_indices.iter().enumerate() {
            self.fold(
                g,
                when(first, open, i),
                when(last, close, i),
                get(high, i),
                get(low, i),
                get(volume, i).unwrap_or(0.0),
                get(pv, i).unwrap_or(0.0),
                if trades.is_valid(i) { trades.value(i) } else { 0 },
            );
        }
        Ok(())
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let (ts, cols) = inputs(values)?;
        let mut one = BarGroups::default();
        one.resize(ts.len());
        for i in 0..ts.len() {
            if !included(opt_filter, i) {
                continue;
            }
            if let Some((open, close, high, low, vol, pv)) = row_bar(&ts, &cols, i) {
                one.fold(i, open, close, high, low, vol, pv, 1);
            }
        }
        one.state(EmitTo::All)
    }

    fn size(&self) -> usize {
        self.first_t.capacity() * 8 * 9
    }
}
