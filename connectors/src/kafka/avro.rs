//! Avro message values: one binary-encoded datum per message, written with the record schema derived from the
//! table's declared columns (nullable columns are `["null", T]` unions). With `avro.framing 'confluent'` each
//! value starts with the Confluent wire header (a zero byte and a 4-byte schema id), which is checked and skipped
//! when reading and written (with `avro.schema_id`) when producing. Decoded records go through the same checks as
//! JSON messages.

use std::io::Cursor;

use apache_avro::Schema as AvroSchema;
use apache_avro::types::Value as Avro;
use chrono::{DateTime, NaiveDate};
use datafusion::arrow::datatypes::{DataType, Schema, TimeUnit};
use serde_json::{Map, Number, Value as Json};

use crate::error::{ConnectorError, Result};

fn unsupported(column: &str, t: &DataType) -> ConnectorError {
    ConnectorError::KafkaAvroType {
        column: column.into(),
        data_type: t.clone(),
    }
}

/// The Avro record schema of the declared columns.
pub fn schema(declared: &Schema) -> Result<AvroSchema> {
    let mut fields = Vec::with_capacity(declared.fields().len());
    for f in declared.fields() {
        let t = match f.data_type() {
            DataType::Boolean => serde_json::json!("boolean"),
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 => {
                serde_json::json!("int")
            }
            DataType::Int64 | DataType::UInt32 => serde_json::json!("long"),
            DataType::Float32 => serde_json::json!("float"),
            DataType::Float64 => serde_json::json!("double"),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => serde_json::json!("string"),
            DataType::Date32 => serde_json::json!({"type": "int", "logicalType": "date"}),
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                serde_json::json!({"type": "long", "logicalType": "timestamp-millis"})
            }
            DataType::Timestamp(..) => serde_json::json!({"type": "long", "logicalType": "timestamp-micros"}),
            other => return Err(unsupported(f.name(), other)),
        };
        let field = if f.is_nullable() {
            serde_json::json!({"name": f.name(), "type": ["null", t], "default": null})
        } else {
            serde_json::json!({"name": f.name(), "type": t})
        };
        fields.push(field);
    }
    let record = serde_json::json!({"type": "record", "name": "strata_row", "fields": fields});
    AvroSchema::parse(&record).map_err(|source| ConnectorError::KafkaAvroSchema { source })
}

/// Strip the Confluent wire header.
fn unframe(bytes: &[u8]) -> Result<&[u8], String> {
    match bytes {
        [0, _, _, _, _, rest @ ..] => Ok(rest),
        _ => Err("not in the Confluent wire format (no magic byte and schema id)".into()),
    }
}

/// Decode one message value into a JSON object of the declared columns.
pub fn decode(schema: &AvroSchema, bytes: &[u8], confluent: bool) -> Result<Json, String> {
    let body = if confluent { unframe(bytes)? } else { bytes };
    let mut cursor = Cursor::new(body);
    let value = apache_avro::from_avro_datum(schema, &mut cursor, None)
        .map_err(|e| format!("not Avro for the declared schema: {e}"))?;
    let left = body.len() as u64 - cursor.position();
    if left > 0 {
        return Err(format!(
            "not Avro for the declared schema: {left} bytes after the record"
        ));
    }
    to_json(value)
}

fn to_json(value: Avro) -> Result<Json, String> {
    Ok(match value {
        Avro::Null => Json::Null,
        Avro::Boolean(b) => Json::Bool(b),
        Avro::Int(i) => Json::from(i),
        Avro::Long(i) => Json::from(i),
        Avro::Float(f) => Number::from_f64(f as f64).map_or(Json::Null, Json::Number),
        Avro::Double(f) => Number::from_f64(f).map_or(Json::Null, Json::Number),
        Avro::String(s) => Json::String(s),
        Avro::Union(_, inner) => to_json(*inner)?,
        Avro::Date(days) => {
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).ok_or("bad epoch")?;
            let date = epoch
                .checked_add_signed(chrono::Duration::days(days as i64))
                .ok_or_else(|| format!("date {days} out of range"))?;
            Json::String(date.to_string())
        }
        Avro::TimestampMillis(ms) => {
            let t = DateTime::from_timestamp_millis(ms).ok_or_else(|| format!("timestamp {ms} out of range"))?;
            Json::String(t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.f").to_string())
        }
        Avro::TimestampMicros(us) => {
            let t = DateTime::from_timestamp_micros(us).ok_or_else(|| format!("timestamp {us} out of range"))?;
            Json::String(t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.f").to_string())
        }
        Avro::Record(fields) => {
            let mut map = Map::with_capacity(fields.len());
            for (name, v) in fields {
                map.insert(name, to_json(v)?);
            }
            Json::Object(map)
        }
        other => return Err(format!("unsupported Avro value {other:?}")),
    })
}

/// Encode one row (as arrow-json wrote it) as an Avro datum of `schema`, framed when `schema_id` is given.
pub fn encode(schema: &AvroSchema, declared: &Schema, row: &[u8], schema_id: Option<u32>) -> Result<Vec<u8>> {
    let Json::Object(map) =
        serde_json::from_slice::<Json>(row).map_err(|source| ConnectorError::KafkaAvroRow { source })?
    else {
        return Err(ConnectorError::KafkaAvroNotObject);
    };
    let mut record = Vec::with_capacity(declared.fields().len());
    for f in declared.fields() {
        let v = map.get(f.name()).cloned().unwrap_or(Json::Null);
        let value = if v.is_null() {
            Avro::Null
        } else {
            from_json(&v, f.data_type()).ok_or_else(|| ConnectorError::KafkaAvroValue {
                column: f.name().clone(),
                value: v.clone(),
            })?
        };
        let value = match (f.is_nullable(), value) {
            (true, Avro::Null) => Avro::Union(0, Box::new(Avro::Null)),
            (true, v) => Avro::Union(1, Box::new(v)),
            (false, Avro::Null) => {
                return Err(ConnectorError::KafkaAvroNull {
                    column: f.name().clone(),
                });
            }
            (false, v) => v,
        };
        record.push((f.name().clone(), value));
    }
    let datum = apache_avro::to_avro_datum(schema, Avro::Record(record))
        .map_err(|source| ConnectorError::KafkaAvroDatum { source })?;
    Ok(match schema_id {
        Some(id) => {
            let mut framed = Vec::with_capacity(datum.len() + 5);
            framed.push(0);
            framed.extend_from_slice(&id.to_be_bytes());
            framed.extend_from_slice(&datum);
            framed
        }
        None => datum,
    })
}

fn from_json(v: &Json, t: &DataType) -> Option<Avro> {
    Some(match t {
        DataType::Boolean => Avro::Boolean(v.as_bool()?),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 => {
            Avro::Int(i32::try_from(v.as_i64()?).ok()?)
        }
        DataType::Int64 | DataType::UInt32 => Avro::Long(v.as_i64()?),
        DataType::Float32 => Avro::Float(v.as_f64()? as f32),
        DataType::Float64 => Avro::Double(v.as_f64()?),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Avro::String(v.as_str()?.to_string()),
        DataType::Date32 => {
            let d = NaiveDate::parse_from_str(v.as_str()?, "%Y-%m-%d").ok()?;
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
            Avro::Date((d - epoch).num_days() as i32)
        }
        DataType::Timestamp(unit, _) => {
            let text = v.as_str()?;
            let t = chrono::NaiveDateTime::parse_from_str(text.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f")
                .ok()?
                .and_utc();
            match unit {
                TimeUnit::Millisecond => Avro::TimestampMillis(t.timestamp_millis()),
                _ => Avro::TimestampMicros(t.timestamp_micros()),
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::Field;

    use super::*;

    #[test]
    fn rows_round_trip_through_avro() {
        let declared = Schema::new(vec![
            Field::new("symbol", DataType::Utf8, false),
            Field::new("price", DataType::Float64, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
            Field::new("day", DataType::Date32, true),
        ]);
        let avro = schema(&declared).unwrap();
        let row = br#"{"symbol":"AAPL","price":101.5,"ts":"2024-05-01T10:00:00.250","day":"2024-05-01"}"#;
        let bytes = encode(&avro, &declared, row, None).unwrap();
        let back = decode(&avro, &bytes, false).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"symbol": "AAPL", "price": 101.5, "ts": "2024-05-01T10:00:00.250", "day": "2024-05-01"})
        );
        let framed = encode(&avro, &declared, br#"{"symbol":"X"}"#, Some(7)).unwrap();
        assert_eq!(&framed[..5], &[0, 0, 0, 0, 7]);
        assert_eq!(decode(&avro, &framed, true).unwrap()["price"], Json::Null);
        assert!(decode(&avro, &framed, false).unwrap_err().contains("not Avro"));
        assert!(decode(&avro, b"\x06abc", true).unwrap_err().contains("Confluent"));
        assert!(decode(&avro, b"garbage bytes here", false).is_err());
    }
}
