//! Binary `COPY … TO STDOUT` into Arrow batches, decoded straight from the wire bytes (no per-value `FromSql`,
//! and `numeric` decoded exactly, which the driver's types cannot do). The stream is taken as arbitrary chunks:
//! a tuple may span chunks.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder,
    Int16Builder, Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};

use super::types::{PgColumn, PgType, arrow_schema};
use crate::error::{ConnectorError, Result};

/// `PGCOPY\n\xff\r\n\0`
pub const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// Days from 1970-01-01 to PostgreSQL's epoch 2000-01-01.
pub const EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
pub const EPOCH_MICROS: i64 = 946_684_800_000_000;

enum Builder {
    Bool(BooleanBuilder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Decimal(Decimal128Builder, u8, i8),
    Text(StringBuilder),
    Jsonb(StringBuilder),
    Uuid(StringBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
    Bytea(BinaryBuilder),
}

fn fixed<const N: usize>(v: &[u8]) -> std::result::Result<[u8; N], String> {
    v.try_into().map_err(|_| format!("expected {N} bytes, got {}", v.len()))
}

impl Builder {
    fn new(t: PgType, capacity: usize) -> Self {
        match t {
            PgType::Bool => Builder::Bool(BooleanBuilder::with_capacity(capacity)),
            PgType::Int2 => Builder::I16(Int16Builder::with_capacity(capacity)),
            PgType::Int4 => Builder::I32(Int32Builder::with_capacity(capacity)),
            PgType::Int8 => Builder::I64(Int64Builder::with_capacity(capacity)),
            PgType::Float4 => Builder::F32(Float32Builder::with_capacity(capacity)),
            PgType::Float8 => Builder::F64(Float64Builder::with_capacity(capacity)),
            PgType::Numeric { precision, scale, .. } => Builder::Decimal(
                Decimal128Builder::with_capacity(capacity)
                    .with_precision_and_scale(precision, scale)
                    .unwrap_or_default(),
                precision,
                scale,
            ),
            PgType::Text | PgType::Json => Builder::Text(StringBuilder::with_capacity(capacity, capacity * 16)),
            PgType::Jsonb => Builder::Jsonb(StringBuilder::with_capacity(capacity, capacity * 16)),
            PgType::Uuid => Builder::Uuid(StringBuilder::with_capacity(capacity, capacity * 36)),
            PgType::Date => Builder::Date(Date32Builder::with_capacity(capacity)),
            PgType::Timestamp => Builder::Timestamp(TimestampMicrosecondBuilder::with_capacity(capacity)),
            PgType::Timestamptz => {
                Builder::Timestamp(TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"))
            }
            PgType::Bytea => Builder::Bytea(BinaryBuilder::with_capacity(capacity, capacity * 16)),
        }
    }

    fn append(&mut self, value: Option<&[u8]>) -> std::result::Result<(), String> {
        let Some(v) = value else {
            match self {
                Builder::Bool(b) => b.append_null(),
                Builder::I16(b) => b.append_null(),
                Builder::I32(b) => b.append_null(),
                Builder::I64(b) => b.append_null(),
                Builder::F32(b) => b.append_null(),
                Builder::F64(b) => b.append_null(),
                Builder::Decimal(b, ..) => b.append_null(),
                Builder::Text(b) | Builder::Jsonb(b) | Builder::Uuid(b) => b.append_null(),
                Builder::Date(b) => b.append_null(),
                Builder::Timestamp(b) => b.append_null(),
                Builder::Bytea(b) => b.append_null(),
            }
            return Ok(());
        };
        match self {
            Builder::Bool(b) => b.append_value(fixed::<1>(v)?[0] != 0),
            Builder::I16(b) => b.append_value(i16::from_be_bytes(fixed(v)?)),
            Builder::I32(b) => b.append_value(i32::from_be_bytes(fixed(v)?)),
            Builder::I64(b) => b.append_value(i64::from_be_bytes(fixed(v)?)),
            Builder::F32(b) => b.append_value(f32::from_be_bytes(fixed(v)?)),
            Builder::F64(b) => b.append_value(f64::from_be_bytes(fixed(v)?)),
            Builder::Decimal(b, precision, scale) => b.append_value(numeric_to_i128(v, *precision, *scale)?),
            Builder::Text(b) => b.append_value(std::str::from_utf8(v).map_err(|e| e.to_string())?),
            Builder::Jsonb(b) => match v.split_first() {
                Some((1, text)) => b.append_value(std::str::from_utf8(text).map_err(|e| e.to_string())?),
                _ => return Err("unknown jsonb version".into()),
            },
            Builder::Uuid(b) => {
                let u: [u8; 16] = fixed(v)?;
                let hex: String = u.iter().map(|x| format!("{x:02x}")).collect();
                b.append_value(format!(
                    "{}-{}-{}-{}-{}",
                    &hex[0..8],
                    &hex[8..12],
                    &hex[12..16],
                    &hex[16..20],
                    &hex[20..]
                ));
            }
            Builder::Date(b) => {
                let days = i32::from_be_bytes(fixed(v)?);
                let days = days
                    .checked_add(EPOCH_DAYS)
                    .filter(|_| days != i32::MAX && days != i32::MIN)
                    .ok_or("infinite dates have no Arrow value")?;
                b.append_value(days);
            }
            Builder::Timestamp(b) => {
                let micros = i64::from_be_bytes(fixed(v)?);
                let micros = micros
                    .checked_add(EPOCH_MICROS)
                    .filter(|_| micros != i64::MAX && micros != i64::MIN)
                    .ok_or("infinite timestamps have no Arrow value")?;
                b.append_value(micros);
            }
            Builder::Bytea(b) => b.append_value(v),
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::I16(b) => Arc::new(b.finish()),
            Builder::I32(b) => Arc::new(b.finish()),
            Builder::I64(b) => Arc::new(b.finish()),
            Builder::F32(b) => Arc::new(b.finish()),
            Builder::F64(b) => Arc::new(b.finish()),
            Builder::Decimal(b, ..) => Arc::new(b.finish()),
            Builder::Text(b) | Builder::Jsonb(b) | Builder::Uuid(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
            Builder::Bytea(b) => Arc::new(b.finish()),
        }
    }
}

/// A `numeric` in its binary form (`ndigits, weight, sign, dscale`, base-10000 digits) as an integer at
/// `scale`. Exact or an error: digits beyond the scale, values beyond the precision, NaN and infinities fail.
pub fn numeric_to_i128(b: &[u8], precision: u8, scale: i8) -> std::result::Result<i128, String> {
    let h = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    if b.len() < 8 {
        return Err("short numeric".into());
    }
    let (ndigits, weight, sign) = (h(0) as usize, h(2) as i16 as i32, h(4));
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Err("NaN has no decimal value".into()),
        0xD000 | 0xF000 => return Err("infinity has no decimal value".into()),
        _ => return Err("invalid numeric sign".into()),
    }
    if b.len() != 8 + 2 * ndigits {
        return Err("numeric length does not match its digits".into());
    }
    let overflow = || format!("value does not fit decimal({precision},{scale})");
    let mut acc: i128 = 0;
    for i in 0..ndigits {
        let d = h(8 + 2 * i) as i128;
        if d >= 10_000 {
            return Err("invalid numeric digit".into());
        }
        // Decimal exponent of this group's last digit, at the target scale.
        let e = 4 * (weight - i as i32) + scale as i32;
        if e >= 0 {
            let m = 10i128
                .checked_pow(e as u32)
                .and_then(|p| d.checked_mul(p))
                .ok_or_else(overflow)?;
            acc = acc.checked_add(m).ok_or_else(overflow)?;
        } else if e > -4 {
            let div = 10i128.pow((-e) as u32);
            if d % div != 0 {
                return Err(format!("value has more than {scale} decimal digits"));
            }
            acc = acc.checked_add(d / div).ok_or_else(overflow)?;
        } else if d != 0 {
            return Err(format!("value has more than {scale} decimal digits"));
        }
    }
    if precision <= 38 && acc >= 10i128.pow(precision as u32) {
        return Err(overflow());
    }
    Ok(if sign == 0x4000 { -acc } else { acc })
}

/// Decodes one binary COPY stream.
pub struct CopyDecoder {
    columns: Vec<PgColumn>,
    schema: SchemaRef,
    builders: Vec<Builder>,
    /// Bytes of an incomplete tuple (or header) carried to the next chunk.
    carry: Vec<u8>,
    header_done: bool,
    trailer_seen: bool,
    rows_in_batch: usize,
    rows_total: u64,
    batch_size: usize,
}

impl CopyDecoder {
    /// A decoder of a COPY stream of `columns`, emitting batches of `batch_size` rows (at least one).
    pub fn new(columns: &[PgColumn], batch_size: usize) -> Self {
        Self {
            columns: columns.to_vec(),
            schema: arrow_schema(columns),
            builders: columns.iter().map(|c| Builder::new(c.pg_type, batch_size)).collect(),
            carry: Vec::new(),
            header_done: false,
            trailer_seen: false,
            rows_in_batch: 0,
            rows_total: 0,
            batch_size: batch_size.max(1),
        }
    }

    /// The Arrow schema of the batches.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Decode every complete tuple in `chunk` (plus what was carried); full batches are returned.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        if self.carry.is_empty() {
            let used = self.consume(chunk, &mut out)?;
            self.carry.extend_from_slice(&chunk[used..]);
        } else {
            let mut data = std::mem::take(&mut self.carry);
            data.extend_from_slice(chunk);
            let used = self.consume(&data, &mut out)?;
            data.drain(..used);
            self.carry = data;
        }
        Ok(out)
    }

    /// The last, partial batch. Fails if the stream ended without its trailer (a cut connection).
    pub fn finish(mut self) -> Result<Option<RecordBatch>> {
        if !self.trailer_seen || !self.carry.is_empty() {
            return Err(ConnectorError::PostgresCopyEnded { rows: self.rows_total });
        }
        if self.rows_in_batch == 0 {
            return Ok(None);
        }
        self.flush().map(Some)
    }

    /// Rows decoded so far.
    pub fn rows(&self) -> u64 {
        self.rows_total
    }

    fn flush(&mut self) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows_in_batch));
        self.rows_in_batch = 0;
        RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)
            .map_err(|source| ConnectorError::PostgresCopyBatch { source })
    }

    /// Decode from `data`; returns how many bytes were used (the rest is an incomplete tuple).
    fn consume(&mut self, data: &[u8], out: &mut Vec<RecordBatch>) -> Result<usize> {
        let mut pos = 0;
        if !self.header_done {
            if data.len() < 19 {
                return Ok(0);
            }
            if &data[..11] != SIGNATURE {
                return Err(ConnectorError::PostgresCopySignature);
            }
            let flags = u32::from_be_bytes([data[11], data[12], data[13], data[14]]);
            if flags & 0xFFFE_0000 != 0 || flags & (1 << 16) != 0 {
                return Err(ConnectorError::PostgresCopyFlags { flags });
            }
            let extension = u32::from_be_bytes([data[15], data[16], data[17], data[18]]) as usize;
            if data.len() < 19 + extension {
                return Ok(0);
            }
            pos = 19 + extension;
            self.header_done = true;
        }
        let ncols = self.columns.len();
        while pos + 2 <= data.len() {
            if self.trailer_seen {
                return Err(ConnectorError::PostgresCopyTrailer);
            }
            let count = i16::from_be_bytes([data[pos], data[pos + 1]]);
            if count == -1 {
                self.trailer_seen = true;
                pos += 2;
                continue;
            }
            if count as usize != ncols {
                return Err(ConnectorError::PostgresCopyFields { count, expected: ncols });
            }
            // Find the tuple's end before decoding anything, so an incomplete tuple is left whole.
            let mut end = pos + 2;
            let mut complete = true;
            for _ in 0..ncols {
                if end + 4 > data.len() {
                    complete = false;
                    break;
                }
                let len = i32::from_be_bytes([data[end], data[end + 1], data[end + 2], data[end + 3]]);
                end += 4 + len.max(0) as usize;
                if end > data.len() {
                    complete = false;
                    break;
                }
            }
            if !complete {
                break;
            }
            let mut field = pos + 2;
            for (i, builder) in self.builders.iter_mut().enumerate() {
                let len = i32::from_be_bytes([data[field], data[field + 1], data[field + 2], data[field + 3]]);
                field += 4;
                let value = (len >= 0).then(|| &data[field..field + len as usize]);
                field += len.max(0) as usize;
                builder
                    .append(value)
                    .map_err(|problem| ConnectorError::PostgresCopyValue {
                        column: self.columns[i].name.clone(),
                        sql_type: self.columns[i].sql_type.clone(),
                        row: self.rows_total + 1,
                        problem,
                    })?;
            }
            pos = end;
            self.rows_in_batch += 1;
            self.rows_total += 1;
            if self.rows_in_batch >= self.batch_size {
                out.push(self.flush()?);
            }
        }
        Ok(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Decimal128Type, Int64Type};

    fn column(name: &str, pg_type: PgType) -> PgColumn {
        PgColumn::new(name, pg_type, true)
    }

    #[test]
    fn numerics_decode_exactly() {
        // 12345.678 as PostgreSQL 15 sends it.
        let v = [0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c];
        assert_eq!(numeric_to_i128(&v, 10, 3), Ok(12_345_678));
        assert_eq!(numeric_to_i128(&v, 12, 5), Ok(1_234_567_800));
        assert!(numeric_to_i128(&v, 10, 2).unwrap_err().contains("decimal digits"));
        assert!(numeric_to_i128(&v, 6, 3).unwrap_err().contains("does not fit"));
        // -0.5
        assert_eq!(
            numeric_to_i128(&[0, 1, 0xff, 0xff, 0x40, 0, 0, 1, 0x13, 0x88], 4, 2),
            Ok(-50)
        );
        // zero and NaN
        assert_eq!(numeric_to_i128(&[0, 0, 0, 0, 0, 0, 0, 2], 4, 2), Ok(0));
        assert!(numeric_to_i128(&[0, 0, 0, 0, 0xC0, 0, 0, 0], 4, 2).is_err());
    }

    #[test]
    fn tuples_split_across_chunks() {
        let columns = [
            column("id", PgType::Int8),
            column(
                "price",
                PgType::Numeric {
                    precision: 10,
                    scale: 3,
                    constrained: true,
                },
            ),
        ];
        let mut stream = SIGNATURE.to_vec();
        stream.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        for id in 0..5i64 {
            stream.extend_from_slice(&2i16.to_be_bytes());
            stream.extend_from_slice(&8i32.to_be_bytes());
            stream.extend_from_slice(&id.to_be_bytes());
            if id == 3 {
                stream.extend_from_slice(&(-1i32).to_be_bytes());
            } else {
                stream.extend_from_slice(&14i32.to_be_bytes());
                stream.extend_from_slice(&[0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c]);
            }
        }
        stream.extend_from_slice(&(-1i16).to_be_bytes());
        let mut decoder = CopyDecoder::new(&columns, 2);
        let mut batches = Vec::new();
        for chunk in stream.chunks(7) {
            batches.extend(decoder.push(chunk).unwrap());
        }
        batches.extend(decoder.finish().unwrap());
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 5);
        let last = &batches[1];
        assert_eq!(last.column(0).as_primitive::<Int64Type>().value(1), 3);
        assert!(last.column(1).is_null(1));
        assert_eq!(last.column(1).as_primitive::<Decimal128Type>().value(0), 12_345_678);
    }

    #[test]
    fn a_cut_stream_is_an_error() {
        let mut decoder = CopyDecoder::new(&[column("id", PgType::Int4)], 8);
        let mut stream = SIGNATURE.to_vec();
        stream.extend_from_slice(&[0; 8]);
        stream.extend_from_slice(&[0, 1, 0, 0, 0, 4, 0, 0, 0, 7]);
        decoder.push(&stream).unwrap();
        assert!(
            decoder
                .finish()
                .unwrap_err()
                .to_string()
                .contains("ended early after 1 rows")
        );
    }
}
