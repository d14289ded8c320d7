//! The shape of an `ohlcv` bar — its struct fields — and how bucket times are read, shared by the row-at-a-time
//! accumulator (`ohlcv.rs`) and the vectorized one (`ohlcv_groups.rs`). A leaf: it imports neither.

use std::sync::LazyLock;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::Result;
use datafusion::common::cast::{as_date32_array, as_timestamp_microsecond_array};

/// The fields of the struct `ohlcv` returns.
pub(super) static FIELDS: LazyLock<Fields> = LazyLock::new(|| {
    Fields::from(vec![
        Field::new("open", DataType::Float64, true),
        Field::new("high", DataType::Float64, true),
        Field::new("low", DataType::Float64, true),
        Field::new("close", DataType::Float64, true),
        Field::new("volume", DataType::Float64, true),
        Field::new("vwap", DataType::Float64, true),
        Field::new("trades", DataType::Int64, true),
    ])
});

/// Times as i64 (microseconds or days; only their order matters).
pub(super) fn times(array: &ArrayRef) -> Result<Vec<Option<i64>>> {
    Ok(match array.data_type() {
        DataType::Date32 => as_date32_array(array)?.iter().map(|d| d.map(i64::from)).collect(),
        _ => as_timestamp_microsecond_array(array)?.iter().collect(),
    })
}
