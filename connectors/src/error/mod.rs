//! The `strata-connectors` error type: one enum for every connector.
//!
//! An error that comes from a library (librdkafka, the PostgreSQL driver, Apache Avro, rustls, Arrow, the file
//! system) is kept as the variant's `source`; a condition Strata itself detects (a bad option value, a missing
//! topic, a COPY stream cut short) carries the names involved as fields. The `Display` text is what a user sees and
//! says where (topic, table, server, option) and what went wrong.
//!
//! No variant holds a secret, so neither `Display` nor `Debug` can show one: servers are named as
//! `postgres://host:port/db` (never with user info), a `password` option is rejected without keeping its value, a
//! password file is named by its path, and the PostgreSQL driver's own errors hold no credentials.

mod detail;

use std::collections::BTreeMap;
use std::path::PathBuf;

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use deltalake::DeltaTableError;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

pub use detail::{TypeMapping, describe_postgres};
use detail::{after_attempts, at_partition, attempts_then, connection_failure};

/// Errors from reading or writing external tables.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// Nothing is stored at the location (a table not written yet).
    #[error("no table at '{location}'")]
    Missing {
        /// The table's location.
        location: String,
    },
    /// Files are stored at the location, but no Delta log.
    #[error("'{location}' is not a Delta table (no _delta_log)")]
    NotDelta {
        /// The table's location.
        location: String,
    },
    /// A location Strata cannot use (wrong scheme, missing parts); credentials are removed from `location`.
    #[error("invalid location '{location}': {message}")]
    InvalidLocation {
        /// The location as written, without credentials.
        location: String,
        /// What is wrong with it.
        message: String,
    },
    /// An object store could not be set up for a location (credentials are never part of the message).
    #[error("object store for '{location}': {source}")]
    ObjectStore {
        /// The location, without credentials.
        location: String,
        /// `object_store`'s error.
        #[source]
        source: object_store::Error,
    },
    /// delta-rs failed on a table.
    #[error("Delta table '{location}': {source}")]
    Delta {
        /// The table's location.
        location: String,
        /// delta-rs's error.
        #[source]
        source: DeltaTableError,
    },
    /// A Delta table uses something Strata does not handle (a protocol feature, a change it cannot make).
    #[error("Delta table '{location}': {message}")]
    Unsupported {
        /// The table's location.
        location: String,
        /// What is unsupported.
        message: String,
    },

    /// A Kafka `format` option names no format Strata reads.
    #[error("Kafka format: unsupported format '{format}': use 'json', 'csv' or 'avro'")]
    KafkaFormat {
        /// The value given.
        format: String,
    },
    /// A Kafka `starting_offsets` option is neither `earliest`, `latest` nor a timestamp.
    #[error("Kafka starting_offsets: '{value}' is not earliest, latest or an RFC 3339 timestamp")]
    KafkaStartingOffsets {
        /// The value given.
        value: String,
        /// Why it is not an RFC 3339 timestamp.
        #[source]
        source: chrono::ParseError,
    },
    /// A Kafka table option has a value Strata cannot use.
    #[error("Kafka option '{option}': '{value}' is not {expected}")]
    KafkaOption {
        /// The option's key (lower case).
        option: String,
        /// The value given.
        value: String,
        /// What the option takes.
        expected: &'static str,
    },
    /// A Kafka table option Strata does not know (a typo must not be ignored).
    #[error(
        "Kafka option '{option}': unknown option; Kafka tables take format, starting_offsets, consumer, \
         max_messages_per_partition, dead_letter, unknown_fields, csv.delimiter, avro.framing, avro.schema_id, key \
         and kafka.*"
    )]
    KafkaUnknownOption {
        /// The option's key (lower case).
        option: String,
    },
    /// librdkafka failed on a topic: creating a client, fetching metadata, watermarks or offsets, or (with
    /// `partition`) reading a partition.
    #[error("Kafka topic '{topic}' at {brokers}{}: {source}{}", at_partition(.partition), connection_failure(.broker_said))]
    Kafka {
        /// The topic.
        topic: String,
        /// The bootstrap brokers (`host:port[,host:port…]`).
        brokers: String,
        /// The partition being read, when the failure is one partition's.
        partition: Option<i32>,
        /// The last connection error librdkafka reported (a refused login, a certificate that does not verify):
        /// a request that times out or finds no broker says only that.
        broker_said: Option<String>,
        /// librdkafka's error (boxed: it is large, and errors are passed by value).
        #[source]
        source: Box<KafkaError>,
    },
    /// The topic is not on the cluster.
    #[error("Kafka topic '{topic}' at {brokers}: the topic does not exist")]
    KafkaNoTopic {
        /// The topic.
        topic: String,
        /// The bootstrap brokers.
        brokers: String,
    },
    /// The broker answered the topic's metadata request with an error.
    #[error("Kafka topic '{topic}' at {brokers}: {source}")]
    KafkaTopic {
        /// The topic.
        topic: String,
        /// The bootstrap brokers.
        brokers: String,
        /// The broker's error code.
        #[source]
        source: RDKafkaErrorCode,
    },
    /// A partition read saw neither a message nor the partition's end for too long.
    #[error(
        "Kafka topic '{topic}' at {brokers}, partition {partition}: no message and no end of partition for \
         {seconds} s (reading from offset {offset})"
    )]
    KafkaIdle {
        /// The topic.
        topic: String,
        /// The bootstrap brokers.
        brokers: String,
        /// The partition being read.
        partition: i32,
        /// How long the read waited, in seconds.
        seconds: u64,
        /// The offset the read was waiting for.
        offset: i64,
    },
    /// A sink's key column is not among the rows, or its values cannot be text.
    #[error("Kafka topic '{topic}' at {brokers}: key column '{column}' {problem}")]
    KafkaKeyColumn {
        /// The topic.
        topic: String,
        /// The bootstrap brokers.
        brokers: String,
        /// The `key` option's column.
        column: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// Producing failed at `step` (a delivery, the flush, or a step of a producer transaction).
    #[error("Kafka topic '{topic}' at {brokers}: {step} failed: {source}")]
    KafkaProduce {
        /// The topic.
        topic: String,
        /// The bootstrap brokers.
        brokers: String,
        /// What was being done: `delivery`, `flush`, `begin transaction`, `commit transaction` …
        step: &'static str,
        /// librdkafka's error (boxed: it is large, and errors are passed by value).
        #[source]
        source: Box<KafkaError>,
    },
    /// The blocking task that flushes the producer did not finish (it panicked or was cancelled).
    #[error("Kafka topic '{topic}' at {brokers}: {source}")]
    KafkaFlushTask {
        /// The topic.
        topic: String,
        /// The bootstrap brokers.
        brokers: String,
        /// The task's failure.
        #[source]
        source: tokio::task::JoinError,
    },
    /// librdkafka reported a fatal producer error: nothing more can be produced with this client.
    #[error("Kafka topic '{topic}' at {brokers}: producer failed: {source:?}: {reason}")]
    KafkaProducer {
        /// The topic.
        topic: String,
        /// The bootstrap brokers.
        brokers: String,
        /// librdkafka's error code.
        #[source]
        source: RDKafkaErrorCode,
        /// librdkafka's explanation.
        reason: String,
    },
    /// Encoding a batch did not give one message per row.
    #[error("Kafka encoding: {rows} rows became {messages} messages")]
    KafkaEncoding {
        /// Rows in the batch.
        rows: usize,
        /// Messages the encoder produced.
        messages: usize,
    },
    /// The offsets stored in a source's output tables cannot come from one interrupted run.
    #[error(
        "Kafka stored offsets: the output tables' stored offsets disagree in a way one interrupted run cannot \
         explain: {tables:?}"
    )]
    KafkaOffsets {
        /// Per output table (`None`: no table yet), the next offset stored per partition.
        tables: Vec<Option<BTreeMap<i32, Option<i64>>>>,
    },
    /// Another run moved a sink's stored offsets after this run planned its read: its rows are not written.
    #[error(
        "Kafka offsets of '{sink}' for topic '{topic}' partition {partition} moved from {expected:?} to {found:?} \
         while this run was going on (another run of the job?): nothing was written"
    )]
    OffsetsMoved {
        /// The sink table.
        sink: String,
        /// The source topic.
        topic: String,
        /// The source partition.
        partition: i32,
        /// The next offset planning read (`None`: none stored).
        expected: Option<i64>,
        /// The next offset stored now.
        found: Option<i64>,
    },
    /// A declared column's type has no Avro mapping.
    #[error("Kafka avro: column '{column}': type {data_type} has no Avro mapping here")]
    KafkaAvroType {
        /// The column.
        column: String,
        /// Its declared type.
        data_type: DataType,
    },
    /// Apache Avro rejected the record schema derived from the declared columns.
    #[error("Kafka avro schema: {source}")]
    KafkaAvroSchema {
        /// Apache Avro's error.
        #[source]
        source: apache_avro::Error,
    },
    /// A row to produce as Avro is not the JSON object arrow-json should have written.
    #[error("Kafka avro encoding: {source}")]
    KafkaAvroRow {
        /// Why the row is not JSON.
        #[source]
        source: serde_json::Error,
    },
    /// A row to produce as Avro is JSON, but not an object.
    #[error("Kafka avro encoding: a row is not an object")]
    KafkaAvroNotObject,
    /// A row's value has no Avro form of its column's type.
    #[error("Kafka avro encoding: column '{column}': cannot encode {value}")]
    KafkaAvroValue {
        /// The column.
        column: String,
        /// The value, as arrow-json wrote it.
        value: serde_json::Value,
    },
    /// A row has no value for a NOT NULL column.
    #[error("Kafka avro encoding: column '{column}' is NOT NULL but the row has none")]
    KafkaAvroNull {
        /// The column.
        column: String,
    },
    /// Apache Avro could not write a record as a datum of the schema.
    #[error("Kafka avro encoding: {source}")]
    KafkaAvroDatum {
        /// Apache Avro's error.
        #[source]
        source: apache_avro::Error,
    },

    /// The password file could not be read (named by its path; its content is never shown).
    #[error("PostgreSQL {server}: cannot read the password file {}: {source}", .path.display())]
    PostgresPasswordFile {
        /// The server, as `postgres://host:port/db`.
        server: String,
        /// The password file.
        path: PathBuf,
        /// The file system's error.
        #[source]
        source: std::io::Error,
    },
    /// The server refused the login.
    #[error(
        "PostgreSQL {server}: cannot connect: authentication failed for user '{user}': {} (check STRATA_PG_USER and \
         STRATA_PG_PASSWORD or the password file, and sslmode)",
        describe_postgres(.source)
    )]
    PostgresAuth {
        /// The server, as `postgres://host:port/db`.
        server: String,
        /// The user that tried to log in.
        user: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// Connecting failed. `attempts` is set when every attempt failed for a reason that may pass (a refused or
    /// dropped connection) and the retries ran out; it is `None` for a failure retrying cannot fix.
    #[error("PostgreSQL {server}: cannot connect{}: {}", after_attempts(.attempts), describe_postgres(.source))]
    PostgresConnect {
        /// The server, as `postgres://host:port/db`.
        server: String,
        /// How many attempts were made, when the retries ran out.
        attempts: Option<u32>,
        /// The driver's error of the last attempt.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The server did not complete the connection (socket, TLS, authentication) in time, up to the last attempt.
    #[error("PostgreSQL {server}: cannot connect after {attempts} attempts: no answer within {seconds} s")]
    PostgresConnectTimeout {
        /// The server, as `postgres://host:port/db`.
        server: String,
        /// How many attempts were made.
        attempts: u32,
        /// How long one attempt may take, in seconds.
        seconds: u64,
        /// The timeout.
        #[source]
        source: tokio::time::error::Elapsed,
    },
    /// rustls could not build the TLS client configuration.
    #[error("PostgreSQL {server}: TLS: {source}")]
    PostgresTls {
        /// The server, as `postgres://host:port/db`.
        server: String,
        /// rustls's error.
        #[source]
        source: rustls::Error,
    },
    /// The `sslrootcert` file is not readable PEM.
    #[error("PostgreSQL {server}: sslrootcert {}: {source}", .path.display())]
    PostgresRootCert {
        /// The server, as `postgres://host:port/db`.
        server: String,
        /// The `sslrootcert` file.
        path: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The `sslrootcert` file holds no certificate rustls accepts.
    #[error("PostgreSQL {server}: sslrootcert {}: no certificate in it", .path.display())]
    PostgresNoRootCert {
        /// The server, as `postgres://host:port/db`.
        server: String,
        /// The `sslrootcert` file.
        path: PathBuf,
    },
    /// The `table` option is not `name` or `schema.name`.
    #[error("PostgreSQL table option: '{text}' is not `name` or `schema.name`")]
    PostgresTableName {
        /// The option's value.
        text: String,
    },
    /// A PostgreSQL table option has a value Strata cannot use.
    #[error("PostgreSQL options: {option} must be {expected}, not '{value}'")]
    PostgresOption {
        /// The option's key (lower case).
        option: String,
        /// The value given.
        value: String,
        /// What the option takes.
        expected: &'static str,
    },
    /// A `password` option: passwords never belong in job files (its value is not kept).
    #[error(
        "PostgreSQL options: passwords do not belong in job files: set STRATA_PG_PASSWORD or the password_file option"
    )]
    PostgresPasswordOption,
    /// A PostgreSQL table option Strata does not know (a typo must not be ignored).
    #[error(
        "PostgreSQL options: unknown option '{option}' (known: table, key, indexes, partition_column, partitions, \
         user, password_file, connect_timeout, retries, sslmode, sslrootcert)"
    )]
    PostgresUnknownOption {
        /// The option's key (lower case).
        option: String,
    },
    /// The options name no table.
    #[error("PostgreSQL options: name the table: OPTIONS (table 'schema.name')")]
    PostgresNoTable,
    /// A column type has no exact mapping between PostgreSQL and Arrow.
    #[error("PostgreSQL type mapping: {problem}")]
    PostgresType {
        /// Which type, and why.
        problem: TypeMapping,
    },
    /// A statement on a table failed: a catalog lookup or a read.
    #[error("PostgreSQL table '{table}': {}", describe_postgres(.source))]
    PostgresQuery {
        /// The table, as the `table` option names it.
        table: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The `partition_column` option names no column of the table.
    #[error("PostgreSQL table '{table}': partition column '{column}' is not a column")]
    PostgresPartitionColumn {
        /// The table, as the `table` option names it.
        table: String,
        /// The option's column.
        column: String,
    },
    /// A bound of a read's value ranges is outside the dates or timestamps Strata represents.
    #[error("PostgreSQL table '{table}': {kind} out of range")]
    PostgresRangeBound {
        /// The table, as the `table` option names it.
        table: String,
        /// `date` or `timestamp`.
        kind: &'static str,
    },
    /// Reading a table's rows failed after the server sent them (decoding the COPY stream).
    #[error("PostgreSQL table '{table}': {source}")]
    PostgresRead {
        /// The table, as the `table` option names it.
        table: String,
        /// The decoding error.
        #[source]
        source: Box<ConnectorError>,
    },
    /// A COPY stream does not start with the binary COPY signature.
    #[error("PostgreSQL COPY decode: not a binary COPY stream")]
    PostgresCopySignature,
    /// A COPY stream's header has flags Strata does not read (OIDs, or unknown critical flags).
    #[error("PostgreSQL COPY decode: unsupported COPY flags {flags:#x}")]
    PostgresCopyFlags {
        /// The header's flags field.
        flags: u32,
    },
    /// A COPY stream goes on after its trailer.
    #[error("PostgreSQL COPY decode: data after the COPY trailer")]
    PostgresCopyTrailer,
    /// A COPY tuple has another number of fields than the read's columns.
    #[error("PostgreSQL COPY decode: a tuple has {count} fields, expected {expected}")]
    PostgresCopyFields {
        /// Fields in the tuple.
        count: i16,
        /// Columns read.
        expected: usize,
    },
    /// A COPY value is not a value of its column's type (or has no Arrow value, like an infinite date).
    #[error("PostgreSQL COPY decode: column '{column}' ({sql_type}), row {row}: {problem}")]
    PostgresCopyValue {
        /// The column.
        column: String,
        /// Its type, as PostgreSQL prints it.
        sql_type: String,
        /// The row, counted from 1 over the whole stream.
        row: u64,
        /// What is wrong with the value.
        problem: String,
    },
    /// A COPY stream ended without its trailer (a cut connection).
    #[error("PostgreSQL COPY decode: the COPY stream ended early after {rows} rows")]
    PostgresCopyEnded {
        /// Rows decoded before the end.
        rows: u64,
    },
    /// The decoded columns did not make a batch.
    #[error("PostgreSQL COPY decode: {source}")]
    PostgresCopyBatch {
        /// Arrow's error.
        #[source]
        source: ArrowError,
    },
    /// A batch to write has another number of columns than the table's written columns.
    #[error("PostgreSQL COPY encode: {given} columns to write, the table takes {expected}")]
    PostgresCopyColumns {
        /// Columns in the batch.
        given: usize,
        /// Columns written.
        expected: usize,
    },
    /// A column to write does not cast to the Arrow type of its PostgreSQL column.
    #[error("PostgreSQL COPY encode: {source}")]
    PostgresCopyCast {
        /// Arrow's error.
        #[source]
        source: ArrowError,
    },
    /// A value to write has no binary form of its column's type.
    #[error("PostgreSQL COPY encode: column '{column}' ({sql_type}): {problem}")]
    PostgresCopyEncodeValue {
        /// The column.
        column: String,
        /// Its type, as PostgreSQL prints it.
        sql_type: String,
        /// What is wrong with the value.
        problem: String,
    },
    /// A write failed and its transaction was rolled back. `attempts` is set when lost connections used up the
    /// retries; it is `None` for a failure redoing cannot fix.
    #[error(
        "PostgreSQL table '{table}' at {server}: {} ({}nothing was committed)",
        describe_postgres(.source),
        attempts_then(.attempts)
    )]
    PostgresWrite {
        /// The table, as the `table` option names it.
        table: String,
        /// The server, as `postgres://host:port/db`.
        server: String,
        /// How many attempts were made, when the retries ran out.
        attempts: Option<u32>,
        /// The driver's error of the last attempt.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The connection was lost while committing an append (no key): the server may or may not have committed.
    #[error(
        "PostgreSQL table '{table}' at {server}: the connection was lost while committing ({}): the rows may or may \
         not have been appended; declare a key to make the write idempotent",
        describe_postgres(.source)
    )]
    PostgresCommitLost {
        /// The table, as the `table` option names it.
        table: String,
        /// The server, as `postgres://host:port/db`.
        server: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The rows of a write could not be encoded; its transaction was rolled back.
    #[error("PostgreSQL table '{table}' at {server}: {source} (nothing was committed)")]
    PostgresWriteRows {
        /// The table, as the `table` option names it.
        table: String,
        /// The server, as `postgres://host:port/db`.
        server: String,
        /// The encoding error.
        #[source]
        source: Box<ConnectorError>,
    },
    /// A ledger location (`postgres://…?schema=…`) is not a URL.
    #[error("PostgreSQL ledger location: {source}")]
    PostgresLedgerUrl {
        /// Why it is not a URL.
        #[source]
        source: url::ParseError,
    },
    /// A ledger location names a table: the ledger's table is always `<schema>.runs`.
    #[error("PostgreSQL ledger location: the ledger's table is always <schema>.runs")]
    PostgresLedgerTable,
    /// A statement on the run ledger's table failed, or one of its rows could not be read.
    #[error("PostgreSQL ledger {ledger}: {}", describe_postgres(.source))]
    PostgresLedger {
        /// The ledger, as `postgres://host:port/db (schema s)`.
        ledger: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// DataFusion failed inside a connector.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
}

impl From<ConnectorError> for DataFusionError {
    fn from(e: ConnectorError) -> Self {
        match e {
            ConnectorError::DataFusion(e) => e,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

/// A connector result: `ConnectorError` unless given.
pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;
