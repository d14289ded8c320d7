//! The window-function plumbing every indicator shares: argument checking at planning time, NULL skipping, and
//! evaluation of a whole partition at once (all indicators under one `OVER` clause share one sort).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::cast::as_float64_array;
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::function::{
    ExpressionArgs, PartitionEvaluatorArgs, WindowFunctionSimplification, WindowUDFFieldArgs,
};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{
    Documentation, Expr, PartitionEvaluator, Signature, Volatility, WindowUDF, WindowUDFImpl, window_doc_sections,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal as PhysLiteral;

use super::spec::{Indicator, signature_text};

/// A DataFusion window function backed by an [`Indicator`].
#[derive(Debug)]
pub struct IndicatorUdwf {
    indicator: Arc<dyn Indicator>,
    signature: Signature,
    doc: Documentation,
}

impl PartialEq for IndicatorUdwf {
    fn eq(&self, other: &Self) -> bool {
        self.indicator.name() == other.indicator.name()
    }
}

impl Eq for IndicatorUdwf {}

impl Hash for IndicatorUdwf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.indicator.name().hash(state);
    }
}

impl IndicatorUdwf {
    /// The window function of `indicator`; its DataFusion documentation is built from the indicator's `Doc`.
    pub fn new(indicator: Arc<dyn Indicator>) -> Self {
        let d = indicator.doc();
        let mut builder = Documentation::builder(
            window_doc_sections::DOC_SECTION_ANALYTICAL,
            d.description,
            format!(
                "{} OVER (PARTITION BY … ORDER BY …)",
                signature_text(indicator.as_ref())
            ),
        )
        .with_sql_example(d.example);
        for c in indicator.columns() {
            builder = builder.with_argument(*c, "numeric expression (NULL rows are skipped)");
        }
        for p in indicator.params() {
            let what = if p.period {
                "positive integer literal"
            } else {
                "numeric literal"
            };
            builder = builder.with_argument(p.name, what);
        }
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            doc: builder.build(),
            indicator,
        }
    }

    /// `indicator` as a window function, ready to register.
    pub fn udwf(indicator: Arc<dyn Indicator>) -> Arc<WindowUDF> {
        Arc::new(WindowUDF::new_from_impl(Self::new(indicator)))
    }

    fn name_str(&self) -> &'static str {
        self.indicator.name()
    }

    fn arity(&self) -> (usize, usize) {
        let cols = self.indicator.columns().len();
        (cols, cols + self.indicator.params().len())
    }
}

/// Resolve parameter values (given literals, then defaults) and check them.
fn resolve(indicator: &dyn Indicator, given: &[Option<ScalarValue>]) -> Result<Vec<f64>> {
    let name = indicator.name();
    let specs = indicator.params();
    let mut out = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let position = indicator.columns().len() + i + 1;
        let value = match given.get(i) {
            Some(Some(v)) => match v.cast_to(&DataType::Float64) {
                Ok(ScalarValue::Float64(Some(x))) => x,
                _ => return plan_err!("{name}: argument {position} ({}) must be a number, got {v}", spec.name),
            },
            Some(None) => {
                return plan_err!("{name}: argument {position} ({}) must be a literal value", spec.name);
            }
            None => match spec.default {
                Some(d) => d,
                None => return plan_err!("{name}: argument {position} ({}) is required", spec.name),
            },
        };
        if !value.is_finite() {
            return plan_err!(
                "{name}: argument {position} ({}) must be finite, got {value}",
                spec.name
            );
        }
        if spec.period && (value < 1.0 || value.fract() != 0.0 || value > 1_000_000.0) {
            return plan_err!(
                "{name}: argument {position} ({}) must be a positive whole number of rows, got {value}",
                spec.name
            );
        }
        out.push(value);
    }
    if let Err(message) = indicator.check(&out) {
        return plan_err!("{name}: {message}");
    }
    Ok(out)
}

impl WindowUDFImpl for IndicatorUdwf {
    fn name(&self) -> &str {
        self.name_str()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name_str();
        let (min, max) = self.arity();
        if arg_types.len() < min || arg_types.len() > max {
            return plan_err!(
                "{name}: expected {} argument(s), got {}: {}",
                if min == max {
                    min.to_string()
                } else {
                    format!("{min} to {max}")
                },
                arg_types.len(),
                signature_text(self.indicator.as_ref())
            );
        }
        arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if !(t.is_numeric() || t.is_null()) {
                    return plan_err!("{name}: argument {} must be numeric, got {t}", i + 1);
                }
                // Columns are computed in f64; parameters keep their type so they stay bare literals.
                Ok(if i < min || t.is_null() {
                    DataType::Float64
                } else {
                    t.clone()
                })
            })
            .collect()
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        let ty = if self.indicator.boolean() {
            DataType::Boolean
        } else {
            DataType::Float64
        };
        Ok(Arc::new(Field::new(field_args.name(), ty, true)))
    }

    /// Only the column arguments are evaluated per row; parameters are read once as literals.
    fn expressions(&self, expr_args: ExpressionArgs) -> Vec<Arc<dyn PhysicalExpr>> {
        expr_args.input_exprs().iter().take(self.arity().0).cloned().collect()
    }

    /// Checks the parameters while the logical plan is optimized, so a bad period fails before anything runs.
    fn simplify(&self) -> Option<WindowFunctionSimplification> {
        let indicator = self.indicator.clone();
        let columns = self.arity().0;
        Some(Box::new(
            move |wf: WindowFunction, _: &SimplifyContext| -> Result<Expr> {
                let given: Vec<Option<ScalarValue>> = wf
                    .params
                    .args
                    .iter()
                    .skip(columns)
                    .map(|a| match a {
                        Expr::Literal(v, _) => Some(v.clone()),
                        _ => None,
                    })
                    .collect();
                resolve(indicator.as_ref(), &given)?;
                Ok(Expr::from(wf))
            },
        ))
    }

    fn partition_evaluator(&self, args: PartitionEvaluatorArgs) -> Result<Box<dyn PartitionEvaluator>> {
        let given: Vec<Option<ScalarValue>> = args
            .input_exprs()
            .iter()
            .skip(self.arity().0)
            .map(|e| e.downcast_ref::<PhysLiteral>().map(|l| l.value().clone()))
            .collect();
        let params = resolve(self.indicator.as_ref(), &given)?;
        Ok(Box::new(Evaluator {
            indicator: self.indicator.clone(),
            params,
        }))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}

#[derive(Debug)]
struct Evaluator {
    indicator: Arc<dyn Indicator>,
    params: Vec<f64>,
}

impl PartitionEvaluator for Evaluator {
    /// One partition, in ORDER BY order: skip rows with a missing input, compute densely, scatter back.
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let columns = values
            .iter()
            .map(|v| as_float64_array(v))
            .collect::<Result<Vec<&Float64Array>>>()?;
        let present: Vec<bool> = (0..num_rows)
            .map(|i| columns.iter().all(|c| c.is_valid(i) && c.value(i).is_finite()))
            .collect();
        let dense: Vec<Vec<f64>> = columns
            .iter()
            .map(|c| (0..num_rows).filter(|&i| present[i]).map(|i| c.value(i)).collect())
            .collect();
        let slices: Vec<&[f64]> = dense.iter().map(Vec::as_slice).collect();
        let computed = self.indicator.compute(&slices, &self.params);
        let mut next = computed.into_iter();
        let scattered: Vec<Option<f64>> = present
            .iter()
            .map(|&p| if p { next.next().filter(|v| v.is_finite()) } else { None })
            .collect();
        if self.indicator.boolean() {
            let flags: BooleanArray = scattered.into_iter().map(|v| v.map(|x| x != 0.0)).collect();
            return Ok(Arc::new(flags));
        }
        Ok(Arc::new(Float64Array::from(scattered)))
    }
}
