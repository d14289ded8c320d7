//! `rolling_agg(value, kind, preceding)`: an aggregate over a ROWS frame that ends at the current row, kept
//! running as the frame slides — each row enters once and leaves once — instead of being re-aggregated per row.
//! It is how `avg`, `sum`, `count`, `stddev`/`var` (sample and population) `OVER (… ROWS BETWEEN n PRECEDING AND
//! CURRENT ROW)` (or `UNBOUNDED PRECEDING`) are planned ([`super::rewrite`]); it can be called directly too.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{ExpressionArgs, PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    Documentation, PartitionEvaluator, Signature, Volatility, WindowUDFImpl, window_doc_sections,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;

use super::state::{Kind, Running};

/// `rolling_agg` (a Float64 aggregate) or `rolling_count` (an Int64 count, never NULL); register it with
/// `WindowUDF::new_from_impl`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RollingAgg {
    /// `rolling_count`: the kind is `count` and not an argument.
    counts: bool,
    signature: Signature,
    doc: Documentation,
}

impl RollingAgg {
    pub(super) fn counting(doc: Documentation) -> Self {
        Self {
            counts: true,
            signature: Signature::user_defined(Volatility::Immutable),
            doc,
        }
    }

    /// Position of the `preceding` argument.
    /// Whether this is `rolling_count` (its arguments are `value, preceding`, without a kind).
    pub(super) fn counts(&self) -> bool {
        self.counts
    }

    fn preceding_at(&self) -> usize {
        if self.counts { 1 } else { 2 }
    }
}

impl Default for RollingAgg {
    fn default() -> Self {
        let doc = Documentation::builder(
            window_doc_sections::DOC_SECTION_AGGREGATE,
            "An aggregate of `value` over the window's ROWS frame, which must end at the current row, kept \
             running as the frame slides: each row is added once and removed once. `kind` is one of 'avg', 'sum', \
             'count', 'var_samp', 'var_pop', 'stddev_samp', 'stddev_pop'; `preceding` is the frame's n in `n \
             PRECEDING` (-1 for `UNBOUNDED PRECEDING`). NULL values are skipped as by the aggregate itself. \
             Strata plans `avg(x) OVER (… ROWS BETWEEN n PRECEDING AND CURRENT ROW)` and the like as this function \
             (same results, without re-aggregating the frame at every row).",
            "rolling_agg(value, kind, preceding) OVER (PARTITION BY … ORDER BY … ROWS BETWEEN n PRECEDING AND CURRENT ROW)",
        )
        .with_sql_example(
            "SELECT symbol, ts, rolling_agg(close, 'avg', 19) OVER (PARTITION BY symbol ORDER BY ts \
             ROWS BETWEEN 19 PRECEDING AND CURRENT ROW) AS sma_20 FROM daily",
        )
        .build();
        Self {
            counts: false,
            signature: Signature::user_defined(Volatility::Immutable),
            doc,
        }
    }
}

/// `kind` and `preceding` from the call's literal arguments.
pub(super) fn parameters(exprs: &[Arc<dyn PhysicalExpr>], counts: bool) -> Result<(Kind, Option<usize>)> {
    let literal = |i: usize| {
        exprs
            .get(i)
            .and_then(|e| e.downcast_ref::<Literal>())
            .map(|l| l.value().clone())
    };
    let kind = match (counts, literal(1)) {
        (true, _) => Some(Kind::Count),
        (false, Some(ScalarValue::Utf8(Some(k)))) | (false, Some(ScalarValue::Utf8View(Some(k)))) => {
            Kind::parse(&k).filter(|k| *k != Kind::Count)
        }
        _ => None,
    };
    let Some(kind) = kind else {
        return plan_err!(
            "rolling_agg: argument 2 (kind) must be one of 'avg', 'sum', 'var_samp', 'var_pop', 'stddev_samp', \
             'stddev_pop' (counts: rolling_count)"
        );
    };
    let preceding = match literal(if counts { 1 } else { 2 }).map(|v| v.cast_to(&DataType::Int64)) {
        Some(Ok(ScalarValue::Int64(Some(n)))) if n >= 0 => Some(n as usize),
        Some(Ok(ScalarValue::Int64(Some(-1)))) => None,
        _ => return plan_err!("rolling_agg: the preceding argument must be a literal n >= 0, or -1 for unbounded"),
    };
    Ok((kind, preceding))
}

impl WindowUDFImpl for RollingAgg {
    fn name(&self) -> &str {
        if self.counts { "rolling_count" } else { "rolling_agg" }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name();
        if arg_types.len() != self.preceding_at() + 1 {
            return plan_err!(
                "{name}: expected {} arguments, got {}",
                self.preceding_at() + 1,
                arg_types.len()
            );
        }
        if !(arg_types[0].is_numeric() || arg_types[0].is_null()) {
            return plan_err!("{name}: argument 1 (value) must be numeric, got {}", arg_types[0]);
        }
        Ok(match self.counts {
            true => vec![DataType::Float64, DataType::Int64],
            false => vec![DataType::Float64, DataType::Utf8, DataType::Int64],
        })
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        // A count is an Int64 that is never NULL, like the aggregate; the others are nullable Float64s.
        Ok(Arc::new(match self.counts {
            true => Field::new(field_args.name(), DataType::Int64, false),
            false => Field::new(field_args.name(), DataType::Float64, true),
        }))
    }

    /// Only the value is evaluated per row; the kind and the frame size are read once as literals.
    fn expressions(&self, expr_args: ExpressionArgs) -> Vec<Arc<dyn PhysicalExpr>> {
        expr_args.input_exprs().iter().take(1).cloned().collect()
    }

    fn partition_evaluator(&self, args: PartitionEvaluatorArgs) -> Result<Box<dyn PartitionEvaluator>> {
        let (kind, preceding) = parameters(args.input_exprs(), self.counts)?;
        Ok(Box::new(Rolling {
            kind,
            preceding,
            running: Running::default(),
            held: VecDeque::new(),
        }))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}

/// One partition's evaluation. DataFusion calls `evaluate` for its rows in order, each with the frame as a range
/// of the rows it still buffers (it drops rows no frame needs any more): the current row is the range's last, and
/// the frame's length says how many of the held values must leave.
#[derive(Debug)]
struct Rolling {
    kind: Kind,
    /// `n` of `n PRECEDING`; `None` for unbounded (nothing ever leaves, nothing is held).
    preceding: Option<usize>,
    running: Running,
    /// The frame's values, oldest first (bounded frames only).
    held: VecDeque<Option<f64>>,
}

impl PartitionEvaluator for Rolling {
    fn uses_window_frame(&self) -> bool {
        true
    }

    fn supports_bounded_execution(&self) -> bool {
        true
    }

    fn evaluate(&mut self, values: &[ArrayRef], range: &Range<usize>) -> Result<ScalarValue> {
        let column = values[0].as_primitive::<Float64Type>();
        let row = range.end.saturating_sub(1);
        let v = (range.end > range.start && column.is_valid(row)).then(|| column.value(row));
        if let Some(v) = v {
            self.running.enter(v);
        }
        if self.preceding.is_some() {
            self.held.push_back(v);
            while self.held.len() > range.end - range.start {
                if let Some(Some(old)) = self.held.pop_front() {
                    self.running.leave(old);
                }
            }
        }
        let value = self.running.value(self.kind);
        Ok(match self.kind {
            Kind::Count => ScalarValue::Int64(value.map(|c| c as i64)),
            _ => ScalarValue::Float64(value),
        })
    }
}
