//! Arrow batches into binary `COPY … FROM STDIN`, each value in the exact wire form of its target column's type
//! (binary COPY is strictly typed: an int4 sent into a bigint column is an error, not a conversion).

use bytes::{BufMut, BytesMut};
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType,
};
use datafusion::arrow::record_batch::RecordBatch;

use super::decode::{EPOCH_DAYS, EPOCH_MICROS, SIGNATURE};
use super::types::{PgColumn, PgType};
use crate::error::{ConnectorError, Result};

/// The stream header: signature, no flags, no extension.
pub fn header(out: &mut BytesMut) {
    out.put_slice(SIGNATURE);
    out.put_u32(0);
    out.put_u32(0);
}

/// The stream trailer.
pub fn trailer(out: &mut BytesMut) {
    out.put_i16(-1);
}

/// `numeric`'s binary form of `v × 10^-scale`: base-10000 groups aligned to the decimal point.
pub fn put_numeric(v: i128, scale: i8, out: &mut BytesMut) {
    let (negative, mut magnitude) = (v < 0, v.unsigned_abs());
    let s = scale as i32;
    let pad = (4 - s.rem_euclid(4)) % 4;
    // Least significant group first; an i128 needs at most 11.
    let mut groups = [0u16; 11];
    let mut n = 0;
    if magnitude != 0 {
        let split = 10u128.pow((4 - pad) as u32);
        groups[0] = ((magnitude % split) * 10u128.pow(pad as u32)) as u16;
        magnitude /= split;
        n = 1;
        while magnitude != 0 {
            groups[n] = (magnitude % 10_000) as u16;
            magnitude /= 10_000;
            n += 1;
        }
    }
    let weight = if n == 0 { 0 } else { -(s + pad) / 4 + n as i32 - 1 };
    let low_zeros = groups[..n].iter().take_while(|d| **d == 0).count();
    let digits = &groups[low_zeros..n];
    out.put_i32(8 + 2 * digits.len() as i32);
    out.put_i16(digits.len() as i16);
    out.put_i16(weight as i16);
    out.put_u16(if negative { 0x4000 } else { 0 });
    out.put_u16(s.max(0) as u16);
    for d in digits.iter().rev() {
        out.put_u16(*d);
    }
}

fn put_uuid(text: &str, out: &mut BytesMut) -> std::result::Result<(), String> {
    let hex: Vec<u8> = text.bytes().filter(|b| *b != b'-').collect();
    if hex.len() != 32 {
        return Err(format!("'{text}' is not a UUID"));
    }
    out.put_i32(16);
    for pair in hex.chunks(2) {
        let s = std::str::from_utf8(pair).map_err(|e| e.to_string())?;
        out.put_u8(u8::from_str_radix(s, 16).map_err(|_| format!("'{text}' is not a UUID"))?);
    }
    Ok(())
}

/// Writes batches for a fixed list of target columns, optionally followed by a row-sequence column.
pub struct CopyEncoder {
    columns: Vec<PgColumn>,
}

impl CopyEncoder {
    /// An encoder of rows whose columns are `columns`, in order.
    pub fn new(columns: &[PgColumn]) -> Self {
        Self {
            columns: columns.to_vec(),
        }
    }

    /// Append `batch`'s rows (its columns in the encoder's order). With `sequence`, each row also gets a bigint
    /// counting from it (the staging table's arrival order, for resolving duplicate keys).
    pub fn encode(&self, batch: &RecordBatch, sequence: Option<i64>, out: &mut BytesMut) -> Result<()> {
        if batch.num_columns() != self.columns.len() {
            return Err(ConnectorError::PostgresCopyColumns {
                given: batch.num_columns(),
                expected: self.columns.len(),
            });
        }
        let arrays: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .zip(&self.columns)
            .map(|(a, c)| cast(a, &c.pg_type.arrow()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|source| ConnectorError::PostgresCopyCast { source })?;
        let fields = self.columns.len() as i16 + i16::from(sequence.is_some());
        out.reserve(batch.num_rows() * (2 + self.columns.len() * 12));
        for row in 0..batch.num_rows() {
            out.put_i16(fields);
            for (array, column) in arrays.iter().zip(&self.columns) {
                if array.is_null(row) {
                    out.put_i32(-1);
                    continue;
                }
                self.put_value(array, column, row, out)
                    .map_err(|problem| ConnectorError::PostgresCopyEncodeValue {
                        column: column.name.clone(),
                        sql_type: column.sql_type.clone(),
                        problem,
                    })?;
            }
            if let Some(start) = sequence {
                out.put_i32(8);
                out.put_i64(start + row as i64);
            }
        }
        Ok(())
    }

    fn put_value(
        &self,
        array: &ArrayRef,
        column: &PgColumn,
        row: usize,
        out: &mut BytesMut,
    ) -> std::result::Result<(), String> {
        match column.pg_type {
            PgType::Bool => {
                out.put_i32(1);
                out.put_u8(u8::from(array.as_boolean().value(row)));
            }
            PgType::Int2 => {
                out.put_i32(2);
                out.put_i16(array.as_primitive::<Int16Type>().value(row));
            }
            PgType::Int4 => {
                out.put_i32(4);
                out.put_i32(array.as_primitive::<Int32Type>().value(row));
            }
            PgType::Int8 => {
                out.put_i32(8);
                out.put_i64(array.as_primitive::<Int64Type>().value(row));
            }
            PgType::Float4 => {
                out.put_i32(4);
                out.put_f32(array.as_primitive::<Float32Type>().value(row));
            }
            PgType::Float8 => {
                out.put_i32(8);
                out.put_f64(array.as_primitive::<Float64Type>().value(row));
            }
            PgType::Numeric { scale, .. } => {
                put_numeric(array.as_primitive::<Decimal128Type>().value(row), scale, out);
            }
            PgType::Text | PgType::Json => {
                let v = array.as_string::<i32>().value(row);
                out.put_i32(v.len() as i32);
                out.put_slice(v.as_bytes());
            }
            PgType::Jsonb => {
                let v = array.as_string::<i32>().value(row);
                out.put_i32(v.len() as i32 + 1);
                out.put_u8(1);
                out.put_slice(v.as_bytes());
            }
            PgType::Uuid => put_uuid(array.as_string::<i32>().value(row), out)?,
            PgType::Date => {
                out.put_i32(4);
                out.put_i32(array.as_primitive::<Date32Type>().value(row) - EPOCH_DAYS);
            }
            PgType::Timestamp | PgType::Timestamptz => {
                let v = array.as_primitive::<TimestampMicrosecondType>().value(row);
                out.put_i32(8);
                out.put_i64(v.checked_sub(EPOCH_MICROS).ok_or("timestamp out of range")?);
            }
            PgType::Bytea => {
                let v = array.as_binary::<i32>().value(row);
                out.put_i32(v.len() as i32);
                out.put_slice(v);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::decode::numeric_to_i128;

    #[test]
    fn numerics_encode_like_postgres() {
        let mut out = BytesMut::new();
        put_numeric(12_345_678, 3, &mut out);
        // length 14, then ndigits 3, weight 1, sign +, dscale 3, digits 1 2345 6780: PostgreSQL 15's own bytes.
        assert_eq!(
            &out[..],
            &[0, 0, 0, 14, 0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c]
        );
        for (v, s) in [
            (0i128, 2i8),
            (-50, 2),
            (1, 4),
            (123, -2),
            (i128::MAX / 10, 10),
            (-(10i128.pow(37)), 0),
        ] {
            let mut out = BytesMut::new();
            put_numeric(v, s, &mut out);
            assert_eq!(numeric_to_i128(&out[4..], 38, s), Ok(v), "{v} at scale {s}");
        }
    }

    #[test]
    fn uuids() {
        let mut out = BytesMut::new();
        put_uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", &mut out).unwrap();
        assert_eq!(out.len(), 20);
        assert!(put_uuid("nope", &mut out).is_err());
    }
}
