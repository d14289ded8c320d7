//! Kafka topics as bounded sources and as sinks.
//!
//! A source (`CREATE EXTERNAL TABLE t (…) STORED AS KAFKA LOCATION 'kafka://host:port/topic'`) is read once per run,
//! one scan partition per Kafka partition, from the offsets stored in the job's output tables up to the end of each
//! partition as the broker reports it when the read starts. Every message becomes a row of the declared schema or,
//! when it does not fit, a dead-letter row that keeps its bytes and the reason. The next offsets are committed as
//! Delta transaction actions in the same commit as the rows ([`offsets`]), so a crashed run re-reads exactly the
//! range it did not commit. A sink ([`sink`]) produces rows as messages with an idempotent producer.

pub mod avro;
pub mod context;
pub mod decode;
pub mod offsets;
pub mod outbox;
pub mod scan;
pub mod sink;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use rdkafka::ClientConfig;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{ConnectorError, Result};
use context::ConnectionErrors;

/// The Kafka partition a staged row was read from (Int32). Every staged row carries this column and the ones
/// below besides the declared ones.
pub const PARTITION_COLUMN: &str = "__kafka_partition";
/// The message's offset in its partition (Int64).
pub const OFFSET_COLUMN: &str = "__kafka_offset";
/// The message's timestamp (UTC milliseconds); null when the broker sent none.
pub const TIMESTAMP_COLUMN: &str = "__kafka_timestamp";
/// The message key's bytes; null for an unkeyed message.
pub const KEY_COLUMN: &str = "__kafka_key";
/// The raw message value, kept only for messages that could not be decoded.
pub const VALUE_COLUMN: &str = "__kafka_value";
/// Why a message could not be decoded; null for good rows.
pub const ERROR_COLUMN: &str = "__kafka_error";

/// How message values are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Format {
    /// One JSON object per message.
    Json,
    /// One CSV record per message (no header), split on `csv.delimiter`.
    Csv,
    /// One Avro binary datum per message, optionally in the Confluent wire format.
    Avro,
}

impl Format {
    /// The format a `format` option names (`json`, `csv` or `avro`, any case).
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "avro" => Ok(Format::Avro),
            other => Err(ConnectorError::KafkaFormat { format: other.into() }),
        }
    }

    /// The format as a `format` option names it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Avro => "avro",
        }
    }
}

/// Where a first run (no stored offsets) starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartingPoint {
    /// Each partition's first retained message (its low watermark).
    Earliest,
    /// Each partition's end when the first run plans: only messages produced after it are read.
    Latest,
    /// The first message at or after this time (milliseconds since the epoch).
    Timestamp(i64),
}

impl StartingPoint {
    /// The starting point a `starting_offsets` option names: `earliest`, `latest` (any case) or an RFC 3339
    /// timestamp.
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "earliest" => Ok(StartingPoint::Earliest),
            "latest" => Ok(StartingPoint::Latest),
            _ => {
                let ts =
                    chrono::DateTime::parse_from_rfc3339(s).map_err(|source| ConnectorError::KafkaStartingOffsets {
                        value: s.into(),
                        source,
                    })?;
                Ok(StartingPoint::Timestamp(ts.timestamp_millis()))
            }
        }
    }
}

/// A topic on a cluster: `kafka://host:port[,host:port…]/topic`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicAddress {
    /// Bootstrap brokers, `host:port[,host:port…]`.
    pub brokers: String,
    /// The topic's name.
    pub topic: String,
}

impl TopicAddress {
    /// Parse `kafka://host:port[,host:port…]/topic`.
    pub fn parse(location: &str) -> Result<Self> {
        let invalid = |message: &str| ConnectorError::InvalidLocation {
            location: location.to_string(),
            message: message.to_string(),
        };
        let rest = location
            .strip_prefix("kafka://")
            .ok_or_else(|| invalid("a Kafka location is kafka://host:port/topic"))?;
        let (brokers, topic) = rest
            .split_once('/')
            .ok_or_else(|| invalid("a Kafka location is kafka://host:port/topic"))?;
        let topic = topic.trim_end_matches('/');
        if brokers.is_empty() || topic.is_empty() || topic.contains('/') {
            return Err(invalid("a Kafka location is kafka://host:port/topic"));
        }
        Ok(Self {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
        })
    }

    /// The address as a `kafka://brokers/topic` URL.
    pub fn url(&self) -> Result<Url> {
        let text = format!("kafka://{}/{}", self.brokers, self.topic);
        Url::parse(&text).map_err(|e| ConnectorError::InvalidLocation {
            location: text,
            message: e.to_string(),
        })
    }

    /// Wraps an error of librdkafka's on this topic (of one partition's read, with `partition`).
    pub(crate) fn kafka_err(
        &self,
        partition: Option<i32>,
    ) -> impl FnOnce(rdkafka::error::KafkaError) -> ConnectorError {
        let (topic, brokers) = (self.topic.clone(), self.brokers.clone());
        move |source| ConnectorError::Kafka {
            topic,
            brokers,
            partition,
            broker_said: None,
            source: Box::new(source),
        }
    }
}

/// Everything a Kafka table declares in `OPTIONS`, checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KafkaOptions {
    /// How message values are encoded.
    pub format: Format,
    /// Where a partition without a stored offset starts.
    pub starting: StartingPoint,
    /// Names the job's offsets (Delta transaction app ids) and its monitoring consumer group.
    pub consumer: Option<String>,
    /// Read at most this many messages per partition per run.
    pub max_per_partition: Option<i64>,
    /// Where malformed messages go (a warehouse table name); default `<source>_dead_letter`.
    pub dead_letter: Option<String>,
    /// JSON fields not in the declared schema make a message malformed unless this is set.
    pub ignore_unknown_fields: bool,
    /// The CSV field delimiter (one byte; `,` unless given).
    pub csv_delimiter: u8,
    /// Avro values carry the Confluent wire header (magic byte, schema id).
    pub avro_confluent: bool,
    /// Sinks with the Confluent header: the schema id to write.
    pub avro_schema_id: Option<u32>,
    /// Sinks: the column whose value keys each message.
    pub key_column: Option<String>,
    /// Passed to librdkafka as they are (`kafka.security.protocol` → `security.protocol`).
    pub client: BTreeMap<String, String>,
}

impl KafkaOptions {
    /// Read `OPTIONS (…)` (keys lower-case as DataFusion normalizes them). Unknown keys are errors.
    pub fn parse(options: &[(String, String)]) -> Result<Self> {
        let mut out = KafkaOptions {
            format: Format::Json,
            starting: StartingPoint::Earliest,
            consumer: None,
            max_per_partition: None,
            dead_letter: None,
            ignore_unknown_fields: false,
            csv_delimiter: b',',
            avro_confluent: false,
            avro_schema_id: None,
            key_column: None,
            client: BTreeMap::new(),
        };
        let bad = |key: &str, value: &str, expected: &'static str| ConnectorError::KafkaOption {
            option: key.into(),
            value: value.into(),
            expected,
        };
        for (key, value) in options {
            let key = key.to_ascii_lowercase();
            let key = key.strip_prefix("format.").map(|k| format!("csv.{k}")).unwrap_or(key);
            match key.as_str() {
                "format" => out.format = Format::parse(value)?,
                "starting_offsets" | "startingoffsets" => out.starting = StartingPoint::parse(value)?,
                "consumer" | "group.id" => out.consumer = Some(value.clone()),
                "max_messages_per_partition" => {
                    let n: i64 = value
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad(&key, value, "a positive integer"))?;
                    out.max_per_partition = Some(n);
                }
                "dead_letter" => out.dead_letter = Some(value.to_ascii_lowercase()),
                "unknown_fields" => {
                    out.ignore_unknown_fields = match value.to_ascii_lowercase().as_str() {
                        "ignore" => true,
                        "error" => false,
                        _ => return Err(bad(&key, value, "'error' or 'ignore'")),
                    }
                }
                "csv.delimiter" => {
                    let [b] = value.as_bytes() else {
                        return Err(bad(&key, value, "one character"));
                    };
                    out.csv_delimiter = *b;
                }
                "avro.framing" => {
                    out.avro_confluent = match value.to_ascii_lowercase().as_str() {
                        "confluent" => true,
                        "none" => false,
                        _ => return Err(bad(&key, value, "'none' or 'confluent'")),
                    }
                }
                "avro.schema_id" => {
                    out.avro_schema_id = Some(
                        value
                            .parse()
                            .map_err(|_| bad(&key, value, "a schema id (an unsigned 32-bit integer)"))?,
                    );
                }
                "key" => out.key_column = Some(value.to_ascii_lowercase()),
                other => match other.strip_prefix("kafka.") {
                    Some(setting) => {
                        out.client.insert(setting.to_string(), value.clone());
                    }
                    None => return Err(ConnectorError::KafkaUnknownOption { option: other.into() }),
                },
            }
        }
        Ok(out)
    }
}

/// The schema of staged rows: the declared columns (nullable: a malformed message has none) and Kafka's own.
pub fn staged_schema(declared: &Schema) -> SchemaRef {
    let mut fields: Vec<Field> = declared
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    fields.extend([
        Field::new(PARTITION_COLUMN, DataType::Int32, false),
        Field::new(OFFSET_COLUMN, DataType::Int64, false),
        Field::new(
            TIMESTAMP_COLUMN,
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Field::new(KEY_COLUMN, DataType::Binary, true),
        Field::new(VALUE_COLUMN, DataType::Binary, true),
        Field::new(ERROR_COLUMN, DataType::Utf8, true),
    ]);
    Arc::new(Schema::new(fields))
}

/// How many queued librdkafka events a failed request serves before it reports why the connection failed.
const QUEUED_EVENTS: usize = 256;

/// How long metadata and watermark requests may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The librdkafka settings every client takes from its process's environment, where a deployment's Secrets
/// arrive (the chart's `kafka.existingSecret`): credentials never belong in a job file.
pub const ENV_SETTINGS: [(&str, &str); 8] = [
    ("STRATA_KAFKA_SECURITY_PROTOCOL", "security.protocol"),
    ("STRATA_KAFKA_SASL_MECHANISM", "sasl.mechanism"),
    ("STRATA_KAFKA_SASL_USERNAME", "sasl.username"),
    ("STRATA_KAFKA_SASL_PASSWORD", "sasl.password"),
    ("STRATA_KAFKA_SSL_CA_LOCATION", "ssl.ca.location"),
    ("STRATA_KAFKA_SSL_CERTIFICATE_LOCATION", "ssl.certificate.location"),
    ("STRATA_KAFKA_SSL_KEY_LOCATION", "ssl.key.location"),
    ("STRATA_KAFKA_SSL_KEY_PASSWORD", "ssl.key.password"),
];

/// Secrets given as files (a mounted Kubernetes Secret): the variable names the file, whose content (trimmed) is the
/// setting. A value given directly ([`ENV_SETTINGS`]) wins.
pub const ENV_SECRET_FILES: [(&str, &str); 2] = [
    ("STRATA_KAFKA_SASL_PASSWORD_FILE", "sasl.password"),
    ("STRATA_KAFKA_SSL_KEY_PASSWORD_FILE", "ssl.key.password"),
];

/// The settings the environment gives (`var` reads a variable), file secrets read. An unreadable secret file is
/// reported by its variable and path (never its content) and left out, so the broker refuses the login.
pub fn env_settings(var: impl Fn(&str) -> Option<String>) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for (name, key) in ENV_SETTINGS {
        if let Some(value) = var(name).filter(|v| !v.is_empty()) {
            out.push((key, value));
        }
    }
    for (name, key) in ENV_SECRET_FILES {
        let Some(path) = var(name).filter(|v| !v.is_empty()) else {
            continue;
        };
        if out.iter().any(|(k, _)| *k == key) {
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(secret) => out.push((key, secret.trim().to_string())),
            Err(e) => tracing::error!(variable = name, path = %path, error = %e, "cannot read the Kafka secret file"),
        }
    }
    out
}

/// A client configuration: the brokers, the table's `kafka.*` settings, then the environment's [`env_settings`]
/// (the deployment's choice of protocol and credentials wins over a job's).
pub fn client_config(brokers: &str, settings: &BTreeMap<String, String>) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    config.set("broker.address.family", "v4");
    for (k, v) in settings {
        config.set(k, v);
    }
    for (key, value) in env_settings(|name| std::env::var(name).ok()) {
        config.set(key, value);
    }
    config
}

/// Metadata and offset lookups for one topic (no group membership, no side effects).
pub struct TopicClient {
    consumer: BaseConsumer<ConnectionErrors>,
    address: TopicAddress,
}

impl TopicClient {
    /// A client for `address` with the table's `kafka.*` settings. librdkafka connects lazily: an unreachable
    /// broker fails the first request, not this.
    pub fn connect(address: &TopicAddress, settings: &BTreeMap<String, String>) -> Result<Self> {
        // Info level: a broker closing the TLS handshake (no client certificate) is logged only at that level.
        let consumer: BaseConsumer<ConnectionErrors> = client_config(&address.brokers, settings)
            .set_log_level(RDKafkaLogLevel::Info)
            .create_with_context(ConnectionErrors::default())
            .map_err(address.kafka_err(None))?;
        Ok(Self {
            consumer,
            address: address.clone(),
        })
    }

    /// A failed request's error, with the last connection error librdkafka reported (why the brokers could not be
    /// reached: a refused login, a certificate that does not verify), which the request's own error does not say.
    fn err(&self, partition: Option<i32>) -> impl FnOnce(KafkaError) -> ConnectorError + '_ {
        move |source| {
            // librdkafka queues its log events until the client is polled; each poll serves at most one, and the
            // queue holds a handful per failed connection attempt.
            for _ in 0..QUEUED_EVENTS {
                let _ = self.consumer.poll(Duration::ZERO);
            }
            ConnectorError::Kafka {
                topic: self.address.topic.clone(),
                brokers: self.address.brokers.clone(),
                partition,
                broker_said: self.consumer.context().last(),
                source: Box::new(source),
            }
        }
    }

    /// The topic's partition ids; a missing topic is an error that names it.
    pub fn partitions(&self) -> Result<Vec<i32>> {
        let metadata = self
            .consumer
            .fetch_metadata(Some(&self.address.topic), REQUEST_TIMEOUT)
            .map_err(self.err(None))?;
        let no_topic = || ConnectorError::KafkaNoTopic {
            topic: self.address.topic.clone(),
            brokers: self.address.brokers.clone(),
        };
        let topic = metadata
            .topics()
            .iter()
            .find(|t| t.name() == self.address.topic)
            .ok_or_else(no_topic)?;
        if let Some(err) = topic.error() {
            let code = rdkafka::types::RDKafkaErrorCode::from(err);
            return Err(if code == rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition {
                no_topic()
            } else {
                ConnectorError::KafkaTopic {
                    topic: self.address.topic.clone(),
                    brokers: self.address.brokers.clone(),
                    source: code,
                }
            });
        }
        let mut ids: Vec<i32> = topic.partitions().iter().map(|p| p.id()).collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// (low, high) watermarks of a partition, as the broker's offset lookup reports them.
    pub fn watermarks(&self, partition: i32) -> Result<(i64, i64)> {
        self.consumer
            .fetch_watermarks(&self.address.topic, partition, REQUEST_TIMEOUT)
            .map_err(self.err(Some(partition)))
    }

    /// The first offset at or after `millis` in each partition (the high watermark where there is none).
    pub fn offsets_for_time(&self, partitions: &[i32], millis: i64) -> Result<BTreeMap<i32, i64>> {
        let mut list = TopicPartitionList::new();
        for &p in partitions {
            list.add_partition_offset(&self.address.topic, p, Offset::Offset(millis))
                .map_err(self.err(None))?;
        }
        let found = self
            .consumer
            .offsets_for_times(list, REQUEST_TIMEOUT)
            .map_err(self.err(None))?;
        let mut out = BTreeMap::new();
        for e in found.elements() {
            let offset = match e.offset() {
                Offset::Offset(o) => o,
                _ => self.watermarks(e.partition())?.1,
            };
            out.insert(e.partition(), offset);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_environment_gives_protocol_credentials_and_secret_files() {
        let file = std::env::temp_dir().join(format!("strata-kafka-password-{}", std::process::id()));
        std::fs::write(&file, "s3cret\n").unwrap();
        let path = file.display().to_string();
        let env = |vars: Vec<(&'static str, String)>| {
            move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
        };
        let got = super::env_settings(env(vec![
            ("STRATA_KAFKA_SECURITY_PROTOCOL", "SASL_SSL".into()),
            ("STRATA_KAFKA_SSL_CA_LOCATION", "/etc/ca.pem".into()),
            ("STRATA_KAFKA_SASL_PASSWORD_FILE", path.clone()),
            ("STRATA_KAFKA_SASL_USERNAME", String::new()),
        ]));
        assert_eq!(
            got,
            [
                ("security.protocol", "SASL_SSL".to_string()),
                ("ssl.ca.location", "/etc/ca.pem".to_string()),
                ("sasl.password", "s3cret".to_string()),
            ]
        );
        // A password given directly wins over the file; a missing file gives nothing.
        let got = super::env_settings(env(vec![
            ("STRATA_KAFKA_SASL_PASSWORD", "direct".into()),
            ("STRATA_KAFKA_SASL_PASSWORD_FILE", path),
            ("STRATA_KAFKA_SSL_KEY_PASSWORD_FILE", "/nonexistent/key-password".into()),
        ]));
        assert_eq!(got, [("sasl.password", "direct".to_string())]);
        std::fs::remove_file(&file).unwrap();
    }

    use super::*;

    #[test]
    fn locations_name_brokers_and_topic() {
        let a = TopicAddress::parse("kafka://127.0.0.1:9092,127.0.0.2:9092/raw-stock-data").unwrap();
        assert_eq!(a.brokers, "127.0.0.1:9092,127.0.0.2:9092");
        assert_eq!(a.topic, "raw-stock-data");
        for bad in ["kafka://host:1", "kafka:///t", "http://h/t", "kafka://h/a/b"] {
            let e = TopicAddress::parse(bad).unwrap_err().to_string();
            assert!(e.contains("kafka://host:port/topic"), "{bad}: {e}");
        }
    }

    #[test]
    fn options_are_checked() {
        let o = |kv: &[(&str, &str)]| {
            KafkaOptions::parse(
                &kv.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<Vec<_>>(),
            )
        };
        let ok = o(&[
            ("format", "csv"),
            ("starting_offsets", "2024-01-02T00:00:00Z"),
            ("kafka.client.id", "x"),
            ("max_messages_per_partition", "10"),
        ])
        .unwrap();
        assert_eq!(ok.format, Format::Csv);
        assert_eq!(ok.starting, StartingPoint::Timestamp(1_704_153_600_000));
        assert_eq!(ok.client.get("client.id").map(String::as_str), Some("x"));
        assert_eq!(ok.max_per_partition, Some(10));
        assert!(
            o(&[("format", "xml")])
                .unwrap_err()
                .to_string()
                .contains("unsupported format 'xml'")
        );
        assert!(
            o(&[("starting_offsets", "soon")])
                .unwrap_err()
                .to_string()
                .contains("'soon'")
        );
        assert!(o(&[("colour", "red")]).unwrap_err().to_string().contains("colour"));
        assert!(o(&[("max_messages_per_partition", "0")]).is_err());
    }
}
