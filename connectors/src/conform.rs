//! Conforming a query's batches to the schema its plan declared. DataFusion's planned types and the arrays its
//! kernels produce can disagree (DataFusion 55 plans `UInt64 - Int64` divided by a literal as `Decimal128(24, 4)`
//! and computes `Decimal128(25, 4)`). A stage must not die on that: a column whose values survive the cast to the
//! planned type unchanged (cast there and back, compared) is cast; anything else is refused with the column, both
//! types and the first value that does not fit. Columns that already match cost nothing.

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::util::display::ArrayFormatter;
use datafusion::error::{DataFusionError, Result};

/// `batch` with `schema`: columns of another type are cast when that loses nothing, or an error names the
/// column. The batch must have the schema's number of columns.
pub fn conform(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema_ref() == schema {
        return Ok(batch);
    }
    if batch.num_columns() != schema.fields().len() {
        return Err(DataFusionError::Internal(format!(
            "a batch of {} columns for a schema of {}",
            batch.num_columns(),
            schema.fields().len()
        )));
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| match column.data_type() == field.data_type() {
            true => Ok(column.clone()),
            false => lossless_cast(column, field.data_type(), field.name()),
        })
        .collect::<Result<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(schema.clone(), columns, &options)?)
}

/// `column` as `to`, when every value survives the cast unchanged.
fn lossless_cast(column: &ArrayRef, to: &DataType, name: &str) -> Result<ArrayRef> {
    let from = column.data_type();
    let strict = CastOptions {
        safe: false,
        ..Default::default()
    };
    let refused = |why: String| {
        DataFusionError::Execution(format!(
            "column `{name}`: the plan declares {to} but the query produced {from}, and {why}; cast the column \
             explicitly (CAST(… AS …)) to the type you want"
        ))
    };
    let cast = cast_with_options(column, to, &strict).map_err(|e| refused(format!("a value does not convert: {e}")))?;
    let back =
        cast_with_options(&cast, from, &strict).map_err(|e| refused(format!("the conversion is one-way: {e}")))?;
    if let Some(row) = (0..column.len()).find(|&i| !same(column, &back, i)) {
        let shown = ArrayFormatter::try_new(column.as_ref(), &Default::default())
            .map(|f| f.value(row).to_string())
            .unwrap_or_else(|_| "?".into());
        return Err(refused(format!("the value {shown} (row {row}) would change")));
    }
    Ok(cast)
}

fn same(a: &ArrayRef, b: &ArrayRef, row: usize) -> bool {
    match (a.is_null(row), b.is_null(row)) {
        (true, true) => true,
        (false, false) => a.slice(row, 1).to_data() == b.slice(row, 1).to_data(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Decimal128Array, Float64Array, Int64Array};
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;

    fn batch(column: ArrayRef) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("b", column.data_type().clone(), true)]));
        RecordBatch::try_new(schema, vec![column]).unwrap()
    }

    fn planned(t: DataType) -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("b", t, true)]))
    }

    #[test]
    fn a_wider_decimal_that_fits_is_narrowed_to_the_planned_type() {
        let produced = Decimal128Array::from(vec![Some(12_5000), None, Some(-3_0000)])
            .with_precision_and_scale(25, 4)
            .unwrap();
        let out = conform(batch(Arc::new(produced)), &planned(DataType::Decimal128(24, 4))).unwrap();
        assert_eq!(out.column(0).data_type(), &DataType::Decimal128(24, 4));
        let values = out.column(0).as_any().downcast_ref::<Decimal128Array>().unwrap();
        assert_eq!(values.value(0), 12_5000);
        assert!(values.is_null(1));
    }

    #[test]
    fn a_value_that_would_change_is_refused_with_the_column_and_value() {
        let produced = Float64Array::from(vec![1.0, 2.5]);
        let e = conform(batch(Arc::new(produced)), &planned(DataType::Int64))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("column `b`") && e.contains("Int64") && e.contains("Float64"),
            "{e}"
        );
        assert!(e.contains("2.5"), "{e}");
        let big = Decimal128Array::from(vec![10_i128.pow(24)])
            .with_precision_and_scale(25, 0)
            .unwrap();
        let e = conform(batch(Arc::new(big)), &planned(DataType::Decimal128(24, 0)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("Decimal128(24, 0)"), "{e}");
    }

    #[test]
    fn matching_batches_pass_untouched() {
        let b = batch(Arc::new(Int64Array::from(vec![1, 2])));
        let schema = b.schema();
        assert_eq!(conform(b.clone(), &schema).unwrap(), b);
    }
}
