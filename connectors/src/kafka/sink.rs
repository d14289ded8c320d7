//! Rows out to a topic: one message per row, encoded as the table's format, keyed by a chosen column, sent with
//! an idempotent producer (no duplicates from the producer's own retries). Every delivery is awaited: a message
//! the broker did not acknowledge fails the run.

use std::time::Duration;

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use futures::future::join_all;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use super::{Format, KafkaOptions, TopicAddress, client_config};
use crate::error::{ConnectorError, Result};

/// Messages in flight at once.
const IN_FLIGHT: usize = 10_000;

/// What a finished production sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Produced {
    /// Messages the brokers acknowledged.
    pub messages: u64,
}

/// Encode each row of `batch` as one message value of the table whose columns are `declared`.
pub fn encode_rows(batch: &RecordBatch, options: &KafkaOptions, declared: &Schema) -> Result<Vec<Vec<u8>>> {
    match options.format {
        Format::Avro => {
            let schema = super::avro::schema(declared)?;
            let id = options.avro_confluent.then_some(options.avro_schema_id.unwrap_or(0));
            encode(batch, Format::Json, b',')?
                .iter()
                .map(|row| super::avro::encode(&schema, declared, row, id))
                .collect()
        }
        format => encode(batch, format, options.csv_delimiter),
    }
}

/// Encode each row of `batch` as one JSON or CSV line.
pub fn encode(batch: &RecordBatch, format: Format, delimiter: u8) -> Result<Vec<Vec<u8>>> {
    let mut buf = Vec::new();
    match format {
        Format::Json | Format::Avro => {
            let mut writer = datafusion::arrow::json::LineDelimitedWriter::new(&mut buf);
            writer.write(batch).map_err(datafusion::error::DataFusionError::from)?;
            writer.finish().map_err(datafusion::error::DataFusionError::from)?;
        }
        Format::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(false)
                .with_delimiter(delimiter)
                .build(&mut buf);
            writer.write(batch).map_err(datafusion::error::DataFusionError::from)?;
        }
    }
    // One line per row: JSON escapes newlines in strings; CSV quotes them, so split only outside quotes.
    let mut rows = Vec::with_capacity(batch.num_rows());
    let mut start = 0;
    let mut quoted = false;
    for (i, &b) in buf.iter().enumerate() {
        match b {
            b'"' if format == Format::Csv => quoted = !quoted,
            b'\n' if !quoted => {
                let line = buf[start..i].strip_suffix(b"\r").unwrap_or(&buf[start..i]);
                rows.push(line.to_vec());
                start = i + 1;
            }
            _ => {}
        }
    }
    if rows.len() != batch.num_rows() {
        return Err(ConnectorError::KafkaEncoding {
            rows: batch.num_rows(),
            messages: rows.len(),
        });
    }
    Ok(rows)
}

/// Produce every row of `batches` (rows of the table whose columns are `declared`) to `address`.
pub async fn produce(
    address: &TopicAddress,
    options: &KafkaOptions,
    declared: &Schema,
    batches: &[RecordBatch],
) -> Result<Produced> {
    let mut config = client_config(&address.brokers, &options.client);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5");
    // Keys land where Kafka's own clients (and the outbox, `super::outbox`) put them, unless the table says otherwise.
    if !options.client.contains_key("partitioner") {
        config.set("partitioner", "murmur2_random");
    }
    if !options.client.contains_key("message.timeout.ms") {
        config.set("message.timeout.ms", "30000");
    }
    let producer: FutureProducer = config.create().map_err(address.kafka_err(None))?;
    let (topic, brokers) = (&address.topic, &address.brokers);
    let key_err = |column: &str, problem| ConnectorError::KafkaKeyColumn {
        topic: topic.clone(),
        brokers: brokers.clone(),
        column: column.into(),
        problem,
    };
    let mut messages = 0u64;
    for batch in batches.iter().filter(|b| b.num_rows() > 0) {
        let values = encode_rows(batch, options, declared)?;
        let keys = match &options.key_column {
            Some(column) => {
                let index = batch
                    .schema()
                    .index_of(column)
                    .map_err(|_| key_err(column, "is not a column of the rows"))?;
                let keys =
                    cast(batch.column(index), &DataType::Utf8).map_err(datafusion::error::DataFusionError::from)?;
                let keys = keys
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .cloned()
                    .ok_or_else(|| key_err(column, "did not cast to text"))?;
                Some(keys)
            }
            None => None,
        };
        let rows: Vec<usize> = (0..values.len()).collect();
        for chunk in rows.chunks(IN_FLIGHT) {
            let sends = chunk.iter().map(|&row| {
                let mut record: FutureRecord<'_, str, [u8]> =
                    FutureRecord::to(&address.topic).payload(values[row].as_slice());
                if let Some(keys) = &keys
                    && keys.is_valid(row)
                {
                    record = record.key(keys.value(row));
                }
                producer.send(record, Duration::from_secs(30))
            });
            for result in join_all(sends).await {
                if let Err((source, _)) = result {
                    return Err(ConnectorError::KafkaProduce {
                        topic: topic.clone(),
                        brokers: brokers.clone(),
                        step: "delivery",
                        source: Box::new(source),
                    });
                }
            }
            messages += chunk.len() as u64;
        }
    }
    let flushing = producer.clone();
    tokio::task::spawn_blocking(move || flushing.flush(Duration::from_secs(30)))
        .await
        .map_err(|source| ConnectorError::KafkaFlushTask {
            topic: topic.clone(),
            brokers: brokers.clone(),
            source,
        })?
        .map_err(|source| ConnectorError::KafkaProduce {
            topic: topic.clone(),
            brokers: brokers.clone(),
            step: "flush",
            source: Box::new(source),
        })?;
    if let Some((source, reason)) = producer.client().fatal_error() {
        return Err(ConnectorError::KafkaProducer {
            topic: topic.clone(),
            brokers: brokers.clone(),
            source,
            reason,
        });
    }
    tracing::debug!(topic = %address.topic, messages, "produced");
    Ok(Produced { messages })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;

    #[test]
    fn one_message_per_row() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("symbol", DataType::Utf8, true),
            Field::new("close", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("A\nB"), None])),
                Arc::new(Float64Array::from(vec![1.5, 2.0])),
            ],
        )
        .unwrap();
        let json = encode(&batch, Format::Json, b',').unwrap();
        assert_eq!(json[0], br#"{"symbol":"A\nB","close":1.5}"#.to_vec());
        assert_eq!(json[1], br#"{"close":2.0}"#.to_vec());
        let csv = encode(&batch, Format::Csv, b',').unwrap();
        assert_eq!(csv, vec![b"\"A\nB\",1.5".to_vec(), b",2.0".to_vec()]);
    }
}
