//! `ohlcv`: one bar from many — open, high, low, close, volume, vwap and row count — for any bucket.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, TimeUnit};
use datafusion::common::cast::{as_float64_array, as_int64_array};
use datafusion::common::scalar::ScalarStructBuilder;
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, GroupsAccumulator, Signature, Volatility, aggregate_doc_sections,
};

use super::ohlcv_fields::{FIELDS, times};
use super::ohlcv_groups::BarGroups;

const NAME: &str = "ohlcv";

/// The `ohlcv(time, open, high, low, close, volume)` aggregate: one bar struct ([`Ohlcv::fields`]) per group.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Ohlcv {
    signature: Signature,
    doc: Documentation,
}

impl Ohlcv {
    /// The aggregate with its signature and reference documentation; register it with `AggregateUDF::from`.
    pub fn new() -> Self {
        let doc = Documentation::builder(
            aggregate_doc_sections::DOC_SECTION_GENERAL,
            "Aggregate bars (or ticks) into one bar: open is the open of the earliest row by `time`, close the \
             close of the latest, high the highest high, low the lowest low, volume the total volume, vwap the \
             volume-weighted typical price (high + low + close) / 3, and trades the number of rows. Rows with a \
             NULL time are ignored; ties in time are broken by value (lowest open, highest close), so results \
             never depend on row order. Unpack with bar['open'] etc.",
            "ohlcv(time, open, high, low, close, volume)",
        )
        .with_sql_example(
            "SELECT symbol, calendar_bucket(ts, 'month') AS month, ohlcv(ts, open, high, low, close, volume) AS bar \
             FROM daily GROUP BY 1, 2",
        )
        .build();
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            doc,
        }
    }

    /// The struct type `ohlcv` returns.
    pub fn fields() -> Fields {
        FIELDS.clone()
    }
}

impl Default for Ohlcv {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for Ohlcv {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 6 {
            return plan_err!(
                "{NAME}(time, open, high, low, close, volume): expected 6 arguments, got {}",
                arg_types.len()
            );
        }
        let mut out = Vec::with_capacity(6);
        out.push(match &arg_types[0] {
            DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
            DataType::Date32 | DataType::Date64 => DataType::Date32,
            other => return plan_err!("{NAME}: argument 1 (time) must be a TIMESTAMP or DATE, got {other}"),
        });
        for (i, t) in arg_types.iter().enumerate().skip(1) {
            if !(t.is_numeric() || t.is_null()) {
                return plan_err!("{NAME}: argument {} must be numeric, got {t}", i + 1);
            }
            out.push(DataType::Float64);
        }
        Ok(out)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(FIELDS.clone()))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::<Bar>::default())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let f = |s: &str, t: DataType| Arc::new(Field::new(format_state_name(args.name, s), t, true));
        Ok(vec![
            f("first", DataType::Int64),
            f("open", DataType::Float64),
            f("last", DataType::Int64),
            f("close", DataType::Float64),
            f("high", DataType::Float64),
            f("low", DataType::Float64),
            f("volume", DataType::Float64),
            f("pv", DataType::Float64),
            f("trades", DataType::Int64),
        ])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::<BarGroups>::default())
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}

/// A bar under construction; mergeable, so partial aggregates on many partitions combine exactly.
#[derive(Debug, Default)]
struct Bar {
    first: Option<(i64, f64)>,
    last: Option<(i64, f64)>,
    high: Option<f64>,
    low: Option<f64>,
    volume: f64,
    pv: f64,
    trades: i64,
}

impl Bar {
    fn open_at(&mut self, t: i64, open: f64) {
        if self.first.is_none_or(|(ft, fo)| t < ft || (t == ft && open < fo)) {
            self.first = Some((t, open));
        }
    }

    fn close_at(&mut self, t: i64, close: f64) {
        if self.last.is_none_or(|(lt, lc)| t > lt || (t == lt && close > lc)) {
            self.last = Some((t, close));
        }
    }

    fn high_low(&mut self, high: Option<f64>, low: Option<f64>) {
        if let Some(h) = high {
            self.high = Some(self.high.map_or(h, |x| x.max(h)));
        }
        if let Some(l) = low {
            self.low = Some(self.low.map_or(l, |x| x.min(l)));
        }
    }
}

fn get(a: &Float64Array, i: usize) -> Option<f64> {
    a.is_valid(i).then(|| a.value(i))
}

fn get_i(a: &Int64Array, i: usize) -> Option<i64> {
    a.is_valid(i).then(|| a.value(i))
}

impl Accumulator for Bar {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let ts = times(&values[0])?;
        let [o, h, l, c, v] = [1, 2, 3, 4, 5].map(|i| as_float64_array(&values[i]));
        let (o, h, l, c, v) = (o?, h?, l?, c?, v?);
        for (i, t) in ts.into_iter().enumerate() {
            let Some(t) = t else { continue };
            if let Some(open) = get(o, i) {
                self.open_at(t, open);
            }
            if let Some(close) = get(c, i) {
                self.close_at(t, close);
            }
            self.high_low(get(h, i), get(l, i));
            if let Some(vol) = get(v, i) {
                self.volume += vol;
                if let (Some(hi), Some(lo), Some(cl)) = (get(h, i), get(l, i), get(c, i)) {
                    self.pv += (hi + lo + cl) / 3.0 * vol;
                }
            }
            self.trades += 1;
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::Int64(self.first.map(|f| f.0)),
            ScalarValue::Float64(self.first.map(|f| f.1)),
            ScalarValue::Int64(self.last.map(|l| l.0)),
            ScalarValue::Float64(self.last.map(|l| l.1)),
            ScalarValue::Float64(self.high),
            ScalarValue::Float64(self.low),
            ScalarValue::Float64(Some(self.volume)),
            ScalarValue::Float64(Some(self.pv)),
            ScalarValue::Int64(Some(self.trades)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (first, last, trades) = (
            as_int64_array(&states[0])?,
            as_int64_array(&states[2])?,
            as_int64_array(&states[8])?,
        );
        let f = |i: usize| as_float64_array(&states[i]);
        let (open, close, high, low, volume, pv) = (f(1)?, f(3)?, f(4)?, f(5)?, f(6)?, f(7)?);
        for i in 0..first.len() {
            if let (Some(t), Some(o)) = (get_i(first, i), get(open, i)) {
                self.open_at(t, o);
            }
            if let (Some(t), Some(c)) = (get_i(last, i), get(close, i)) {
                self.close_at(t, c);
            }
            self.high_low(get(high, i), get(low, i));
            self.volume += get(volume, i).unwrap_or(0.0);
            self.pv += get(pv, i).unwrap_or(0.0);
            self.trades += get_i(trades, i).unwrap_or(0);
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.trades == 0 {
            return Ok(ScalarStructBuilder::new_null(&*FIELDS));
        }
        let f = &*FIELDS;
        let vwap = (self.volume != 0.0).then(|| self.pv / self.volume);
        ScalarStructBuilder::new()
            .with_scalar(&f[0], ScalarValue::Float64(self.first.map(|x| x.1)))
            .with_scalar(&f[1], ScalarValue::Float64(self.high))
            .with_scalar(&f[2], ScalarValue::Float64(self.low))
            .with_scalar(&f[3], ScalarValue::Float64(self.last.map(|x| x.1)))
            .with_scalar(&f[4], ScalarValue::Float64(Some(self.volume)))
            .with_scalar(&f[5], ScalarValue::Float64(vwap))
            .with_scalar(&f[6], ScalarValue::Int64(Some(self.trades)))
            .build()
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}
