//! Turning message values into rows of the declared schema. A message that does not fit (not JSON, a wrong type,
//! a missing required field, a field the schema does not declare, a CSV record of the wrong width) is not an
//! error of the run: it becomes a dead-letter row with its bytes and the reason.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray, new_null_array,
};
use datafusion::arrow::compute::kernels::cast_utils::Parser;
use datafusion::arrow::compute::{CastOptions, cast_with_options, filter_record_batch};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::arrow::json::ReaderBuilder;
use datafusion::error::Result;
use serde_json::Value;

use super::{Format, KafkaOptions, staged_schema};

/// One consumed message, copied out of librdkafka's buffers.
#[derive(Debug, Clone)]
pub struct RawMessage {
    /// The Kafka partition it was read from.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
    /// Its timestamp (create or log-append time, as the topic keeps it) in milliseconds since the Unix epoch;
    /// `None` when the broker sent none.
    pub timestamp: Option<i64>,
    /// The key's bytes; `None` for an unkeyed message.
    pub key: Option<Vec<u8>>,
    /// The value's bytes; `None` for a tombstone (a null value).
    pub value: Option<Vec<u8>>,
}

/// Decodes batches of messages into staged rows (see [`super::staged_schema`]).
#[derive(Debug, Clone)]
pub struct MessageDecoder {
    /// The declared columns, all nullable.
    declared: SchemaRef,
    /// Which declared columns were declared NOT NULL (the staged schema relaxes them).
    required: Vec<bool>,
    staged: SchemaRef,
    format: Format,
    ignore_unknown_fields: bool,
    delimiter: u8,
    avro: Option<apache_avro::Schema>,
    avro_confluent: bool,
}

impl MessageDecoder {
    /// A decoder of messages of a table whose columns are `declared`, decoded as `options` say (format, unknown
    /// fields, CSV delimiter, Avro framing).
    pub fn new(declared: &Schema, options: &KafkaOptions) -> Self {
        let staged = staged_schema(declared);
        let declared_required = declared.fields().iter().map(|f| !f.is_nullable()).collect();
        // Checked when the job is planned; a schema without an Avro mapping never gets here.
        let avro = (options.format == Format::Avro)
            .then(|| super::avro::schema(declared).ok())
            .flatten();
        let declared = Arc::new(Schema::new(staged.fields()[..declared.fields().len()].to_vec()));
        Self {
            required: declared_required,
            declared,
            staged,
            format: options.format,
            ignore_unknown_fields: options.ignore_unknown_fields,
            delimiter: options.csv_delimiter,
            avro,
            avro_confluent: options.avro_confluent,
        }
    }

    /// The schema of every decoded batch: the declared columns (all nullable), then Kafka's own.
    pub fn staged_schema(&self) -> SchemaRef {
        self.staged.clone()
    }

    /// Decode `messages`: good rows first, then one row per malformed message.
    pub fn decode(&self, messages: &[RawMessage]) -> Result<Vec<RecordBatch>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let (good, good_rows, mut bad) = match self.format {
            Format::Json => self.decode_json(messages, |bytes| {
                serde_json::from_slice::<Value>(bytes).map_err(|e| format!("not JSON: {e}"))
            })?,
            Format::Avro => match &self.avro {
                Some(schema) => self.decode_json(messages, |bytes| {
                    super::avro::decode(schema, bytes, self.avro_confluent)
                })?,
                None => (
                    Vec::new(),
                    RecordBatch::new_empty(self.declared.clone()),
                    (0..messages.len())
                        .map(|i| (i, "the declared schema has no Avro mapping".to_string()))
                        .collect(),
                ),
            },
            Format::Csv => self.decode_csv(messages)?,
        };
        let mut out = Vec::with_capacity(2);
        if !good.is_empty() {
            let picked: Vec<&RawMessage> = good.iter().map(|&i| &messages[i]).collect();
            let mut columns = good_rows.columns().to_vec();
            columns.extend(self.meta_columns(&picked, None)?);
            out.push(RecordBatch::try_new(self.staged.clone(), columns)?);
        }
        if !bad.is_empty() {
            bad.sort_by_key(|(i, _)| *i);
            let picked: Vec<&RawMessage> = bad.iter().map(|(i, _)| &messages[*i]).collect();
            let errors: Vec<&str> = bad.iter().map(|(_, e)| e.as_str()).collect();
            let mut columns: Vec<ArrayRef> = self
                .declared
                .fields()
                .iter()
                .map(|f| new_null_array(f.data_type(), picked.len()))
                .collect();
            columns.extend(self.meta_columns(&picked, Some(&errors))?);
            out.push(RecordBatch::try_new(self.staged.clone(), columns)?);
        }
        Ok(out)
    }

    /// Kafka's columns for `messages`; `errors` marks them malformed (their value is kept).
    fn meta_columns(&self, messages: &[&RawMessage], errors: Option<&[&str]>) -> Result<Vec<ArrayRef>> {
        let n = messages.len();
        let partition = Int32Array::from_iter_values(messages.iter().map(|m| m.partition));
        let offset = Int64Array::from_iter_values(messages.iter().map(|m| m.offset));
        let timestamp = TimestampMillisecondArray::from_iter(messages.iter().map(|m| m.timestamp)).with_timezone("UTC");
        let key = BinaryArray::from_iter(messages.iter().map(|m| m.key.as_deref()));
        let (value, error): (ArrayRef, ArrayRef) = match errors {
            Some(errors) => (
                Arc::new(BinaryArray::from_iter(messages.iter().map(|m| m.value.as_deref()))),
                Arc::new(StringArray::from_iter_values(errors.iter())),
            ),
            None => (new_null_array(&DataType::Binary, n), new_null_array(&DataType::Utf8, n)),
        };
        Ok(vec![
            Arc::new(partition),
            Arc::new(offset),
            Arc::new(timestamp),
            Arc::new(key),
            value,
            error,
        ])
    }

    #[allow(clippy::type_complexity)]
    fn decode_json(
        &self,
        messages: &[RawMessage],
        parse: impl Fn(&[u8]) -> Result<Value, String>,
    ) -> Result<(Vec<usize>, RecordBatch, Vec<(usize, String)>)> {
        let mut good = Vec::with_capacity(messages.len());
        let mut values = Vec::with_capacity(messages.len());
        let mut bad = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let Some(bytes) = m.value.as_deref() else {
                bad.push((i, "the message has no value".to_string()));
                continue;
            };
            match parse(bytes) {
                Err(e) => bad.push((i, e)),
                Ok(v) => match self.check_json(&v) {
                    Ok(()) => {
                        good.push(i);
                        values.push(v);
                    }
                    Err(e) => bad.push((i, e)),
                },
            }
        }
        let batch = match self.serialize(&values) {
            Ok(batch) => batch,
            Err(_) => {
                // The checks above should make this unreachable; find the rows arrow-json rejects one by one.
                let mut kept = Vec::new();
                let mut kept_values = Vec::new();
                for (i, v) in good.into_iter().zip(values) {
                    match self.serialize(std::slice::from_ref(&v)) {
                        Ok(_) => {
                            kept.push(i);
                            kept_values.push(v);
                        }
                        Err(e) => bad.push((i, e.to_string())),
                    }
                }
                good = kept;
                self.serialize(&kept_values)?
            }
        };
        Ok((good, batch, bad))
    }

    fn serialize(&self, values: &[Value]) -> Result<RecordBatch> {
        let mut decoder = ReaderBuilder::new(self.declared.clone())
            .with_batch_size(values.len().max(1))
            .with_strict_mode(false)
            .build_decoder()?;
        decoder.serialize(values)?;
        Ok(decoder
            .flush()?
            .unwrap_or_else(|| RecordBatch::new_empty(self.declared.clone())))
    }

    /// A message must be an object whose fields are declared columns with values of the column's type.
    fn check_json(&self, value: &Value) -> Result<(), String> {
        let Value::Object(map) = value else {
            return Err(format!("expected a JSON object, got {}", json_kind(value)));
        };
        if !self.ignore_unknown_fields
            && let Some(extra) = map.keys().find(|k| self.declared.field_with_name(k).is_err())
        {
            return Err(format!("field '{extra}' is not in the declared schema"));
        }
        for (field, required) in self.declared.fields().iter().zip(self.staged_required()) {
            match map.get(field.name()) {
                None | Some(Value::Null) if required => {
                    return Err(format!("required field '{}' is missing", field.name()));
                }
                None | Some(Value::Null) => {}
                Some(v) => {
                    if !json_fits(v, field.data_type()) {
                        return Err(format!(
                            "field '{}': {} {} is not a {}",
                            field.name(),
                            json_kind(v),
                            short(v),
                            field.data_type()
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn staged_required(&self) -> impl Iterator<Item = bool> + '_ {
        self.required.iter().copied()
    }

    #[allow(clippy::type_complexity)]
    fn decode_csv(&self, messages: &[RawMessage]) -> Result<(Vec<usize>, RecordBatch, Vec<(usize, String)>)> {
        let width = self.declared.fields().len();
        let mut cells: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(messages.len()); width];
        let mut parsed = Vec::with_capacity(messages.len());
        let mut bad: Vec<(usize, String)> = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let Some(bytes) = m.value.as_deref() else {
                bad.push((i, "the message has no value".to_string()));
                continue;
            };
            match self.csv_record(bytes) {
                Ok(record) if record.len() == width => {
                    for (column, cell) in cells.iter_mut().zip(record) {
                        column.push(cell);
                    }
                    parsed.push(i);
                }
                Ok(record) => bad.push((i, format!("expected {width} CSV fields, got {}", record.len()))),
                Err(e) => bad.push((i, e)),
            }
        }
        // Cast each column at once; a cell that was not empty but casts to null did not parse.
        let mut ok = vec![true; parsed.len()];
        let mut reasons: Vec<Option<String>> = vec![None; parsed.len()];
        let mut columns = Vec::with_capacity(width);
        for ((field, column), required) in self.declared.fields().iter().zip(&cells).zip(self.staged_required()) {
            let text = StringArray::from_iter(column.iter().map(|c| c.as_deref()));
            let options = CastOptions {
                safe: true,
                ..Default::default()
            };
            let typed = cast_with_options(&text, field.data_type(), &options)?;
            for row in 0..parsed.len() {
                if !ok[row] {
                    continue;
                }
                let missing = text.is_null(row);
                if (missing && required) || (!missing && typed.is_null(row)) {
                    ok[row] = false;
                    reasons[row] = Some(if missing {
                        format!("required field '{}' is empty", field.name())
                    } else {
                        format!(
                            "field '{}': '{}' is not a {}",
                            field.name(),
                            text.value(row),
                            field.data_type()
                        )
                    });
                }
            }
            columns.push(typed);
        }
        let batch = RecordBatch::try_new(self.declared.clone(), columns)?;
        let keep = BooleanArray::from(ok.clone());
        let batch = filter_record_batch(&batch, &keep)?;
        let mut good = Vec::with_capacity(parsed.len());
        for (row, i) in parsed.into_iter().enumerate() {
            match reasons[row].take() {
                None => good.push(i),
                Some(reason) => bad.push((i, reason)),
            }
        }
        Ok((good, batch, bad))
    }

    /// One CSV record; empty cells are nulls.
    fn csv_record(&self, bytes: &[u8]) -> Result<Vec<Option<String>>, String> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .delimiter(self.delimiter)
            .from_reader(bytes);
        let mut records = reader.records();
        let record = match records.next() {
            None => return Err("empty CSV record".into()),
            Some(r) => r.map_err(|e| format!("not CSV: {e}"))?,
        };
        if records.next().is_some() {
            return Err("more than one CSV record in one message".into());
        }
        Ok(record.iter().map(|c| (!c.is_empty()).then(|| c.to_string())).collect())
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 40 {
        let cut = (0..=40).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
        format!("{}…", &s[..cut])
    } else {
        s
    }
}

/// Whether a JSON value is acceptable for a column of type `t` (as arrow-json would read it, but strictly: no
/// numbers for strings, no strings for numbers).
fn json_fits(v: &Value, t: &DataType) -> bool {
    use DataType::*;
    match t {
        Boolean => v.is_boolean(),
        Int8 | Int16 | Int32 | Int64 => {
            let (min, max) = match t {
                Int8 => (i8::MIN as i64, i8::MAX as i64),
                Int16 => (i16::MIN as i64, i16::MAX as i64),
                Int32 => (i32::MIN as i64, i32::MAX as i64),
                _ => (i64::MIN, i64::MAX),
            };
            v.as_i64().is_some_and(|n| n >= min && n <= max)
        }
        UInt8 | UInt16 | UInt32 | UInt64 => {
            let max = match t {
                UInt8 => u8::MAX as u64,
                UInt16 => u16::MAX as u64,
                UInt32 => u32::MAX as u64,
                _ => u64::MAX,
            };
            v.as_u64().is_some_and(|n| n <= max)
        }
        Float16 | Float32 | Float64 | Decimal128(..) | Decimal256(..) => v.is_number(),
        Utf8 | LargeUtf8 | Utf8View => v.is_string(),
        Timestamp(unit, _) => match v {
            Value::Number(n) => n.is_i64(),
            // The parser the cast kernel (and so arrow-json) uses, without building an array per value.
            Value::String(s) => match unit {
                TimeUnit::Second => TimestampSecondType::parse(s).is_some(),
                TimeUnit::Millisecond => TimestampMillisecondType::parse(s).is_some(),
                TimeUnit::Microsecond => TimestampMicrosecondType::parse(s).is_some(),
                TimeUnit::Nanosecond => TimestampNanosecondType::parse(s).is_some(),
            },
            _ => false,
        },
        Date32 | Date64 => match v {
            Value::Number(n) => n.is_i64(),
            Value::String(s) if *t == Date32 => Date32Type::parse(s).is_some(),
            Value::String(s) => Date64Type::parse(s).is_some(),
            _ => false,
        },
        Null => v.is_null(),
        // Nested types: arrow-json decides.
        _ => true,
    }
}
