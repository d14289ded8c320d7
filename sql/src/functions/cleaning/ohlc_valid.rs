//! `ohlc_valid`: is a bar internally consistent?

use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::as_float64_array;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility, scalar_doc_sections,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct OhlcValid {
    signature: Signature,
    doc: Documentation,
}

impl OhlcValid {
    pub fn new() -> Self {
        let doc = Documentation::builder(
            scalar_doc_sections::DOC_SECTION_OTHER,
            "True when a bar is consistent: open, high, low and close present and positive, \
             low ≤ min(open, close), high ≥ max(open, close), and the volume (if given) present and not negative. \
             Never NULL: a bar with a missing value is not valid.",
            "ohlc_valid(open, high, low, close [, volume])",
        )
        .with_sql_example("SELECT * FROM raw WHERE ohlc_valid(open, high, low, close, volume)")
        .build();
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            doc,
        }
    }
}

impl Default for OhlcValid {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for OhlcValid {
    fn name(&self) -> &str {
        "ohlc_valid"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(4..=5).contains(&arg_types.len()) {
            return plan_err!(
                "ohlc_valid(open, high, low, close [, volume]): expected 4 or 5 arguments, got {}",
                arg_types.len()
            );
        }
        arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if t.is_numeric() || t.is_null() {
                    Ok(DataType::Float64)
                } else {
                    plan_err!("ohlc_valid: argument {} must be numeric, got {t}", i + 1)
                }
            })
            .collect()
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let cols = arrays.iter().map(|a| as_float64_array(a)).collect::<Result<Vec<_>>>()?;
        let value = |c: usize, i: usize| cols[c].is_valid(i).then(|| cols[c].value(i));
        let out: BooleanArray = (0..args.number_rows)
            .map(|i| {
                let ok = match (value(0, i), value(1, i), value(2, i), value(3, i)) {
                    (Some(o), Some(h), Some(l), Some(c)) => {
                        o > 0.0 && h > 0.0 && l > 0.0 && c > 0.0 && l <= o.min(c) && h >= o.max(c)
                    }
                    _ => false,
                };
                let volume_ok = cols.len() < 5 || value(4, i).is_some_and(|v| v >= 0.0);
                Some(ok && volume_ok)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}
