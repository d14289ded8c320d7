//! Order keys as `i64`s that sort like the values they encode, so one vectorized accumulator serves every key
//! type a time series is ordered by: integers, dates, times, timestamps (any unit) and floats.

use datafusion::arrow::array::{ArrayRef, AsArray, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type, UInt64Type};
use datafusion::common::Result;

/// Whether keys of type `t` have an order-preserving `i64` encoding here.
pub(super) fn encodable(t: &DataType) -> bool {
    use DataType::*;
    matches!(
        t,
        Int8 | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Float32
            | Float64
            | Date32
            | Date64
            | Time32(_)
            | Time64(_)
            | Timestamp(_, _)
            | Duration(_)
    )
}

/// `keys` encoded: `a < b` exactly when the encodings compare so (floats in IEEE total order: -0 before +0, NaN
/// last); nulls stay null.
pub(super) fn encode(keys: &ArrayRef) -> Result<Int64Array> {
    Ok(match keys.data_type() {
        DataType::Float64 => keys
            .as_primitive::<Float64Type>()
            .unary(|v: f64| float_key(v.to_bits() as i64)),
        DataType::Float32 => keys
            .as_primitive::<Float32Type>()
            .unary(|v: f32| float_key(f64::from(v).to_bits() as i64)),
        DataType::UInt64 => keys.as_primitive::<UInt64Type>().unary(|v: u64| (v as i64) ^ i64::MIN),
        DataType::Int64 => keys.as_primitive::<datafusion::arrow::datatypes::Int64Type>().clone(),
        _ => cast(keys, &DataType::Int64)?.as_primitive().clone(),
    })
}

/// IEEE 754 bits to a signed integer of the same total order.
fn float_key(bits: i64) -> i64 {
    bits ^ (((bits >> 63) as u64) >> 1) as i64
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, TimestampMicrosecondArray, UInt64Array};

    use super::*;

    fn sorted_like(input: ArrayRef) {
        let encoded = encode(&input).unwrap();
        let values: Vec<i64> = encoded.values().to_vec();
        let mut sorted = values.clone();
        sorted.sort();
        assert_eq!(values, sorted, "{input:?}");
    }

    #[test]
    fn encodings_keep_the_order_of_every_key_type() {
        sorted_like(Arc::new(Float64Array::from(vec![
            f64::NEG_INFINITY,
            -2.5,
            -0.0,
            0.0,
            1e-300,
            3.0,
            f64::INFINITY,
            f64::NAN,
        ])));
        sorted_like(Arc::new(UInt64Array::from(vec![0, 1, u64::MAX / 2, u64::MAX])));
        sorted_like(Arc::new(
            TimestampMicrosecondArray::from(vec![-5, 0, 7]).with_timezone("UTC"),
        ));
        assert!(encodable(&DataType::Date32) && !encodable(&DataType::Utf8));
    }
}
