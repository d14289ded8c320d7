//! The parts of error texts that are not one variant's own: a PostgreSQL driver error as the server reports it
//! (also for log lines), why a column type has no mapping, and the optional phrases of some messages.

use std::fmt;

use datafusion::arrow::datatypes::DataType;

/// Why a column type has no exact mapping between PostgreSQL and Arrow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeMapping {
    /// A `numeric` whose precision is above 38 (the most `Decimal128` holds).
    Precision {
        /// The type, as PostgreSQL prints it.
        sql_type: String,
    },
    /// A PostgreSQL type Strata does not read or write.
    Unsupported {
        /// The type, as PostgreSQL prints it.
        sql_type: String,
    },
    /// An Arrow type no PostgreSQL column type holds exactly.
    NoColumnType {
        /// The Arrow type.
        data_type: DataType,
    },
}

impl fmt::Display for TypeMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeMapping::Precision { sql_type } => {
                write!(f, "{sql_type}: precision above 38 has no exact Arrow type")
            }
            TypeMapping::Unsupported { sql_type } => write!(
                f,
                "type {sql_type} is not supported (supported: boolean, smallint, integer, bigint, real, double \
                 precision, numeric, text, varchar, char, date, timestamp, timestamptz, bytea, uuid, json, jsonb)"
            ),
            TypeMapping::NoColumnType { data_type } => write!(f, "no PostgreSQL column type for Arrow {data_type}"),
        }
    }
}

/// A PostgreSQL driver error as the server reports it: for a server error its message, SQLSTATE, detail and hint
/// (the driver's own text is only "db error"); otherwise the driver's text and every cause below it.
pub fn describe_postgres(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = format!("{} ({})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(&format!("; {detail}"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!("; hint: {hint}"));
            }
            text
        }
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            text
        }
    }
}

/// `", partition 3"` for a partition's failure, nothing for a topic's.
pub(super) fn at_partition(partition: &Option<i32>) -> String {
    partition.map(|p| format!(", partition {p}")).unwrap_or_default()
}

/// `"; the connection failed: …"` when librdkafka reported why it could not talk to the brokers.
pub(super) fn connection_failure(reason: &Option<String>) -> String {
    reason
        .as_ref()
        .map(|r| format!("; the connection failed: {r}"))
        .unwrap_or_default()
}

/// `" after 4 attempts"` when the retries ran out.
pub(super) fn after_attempts(attempts: &Option<u32>) -> String {
    attempts.map(|n| format!(" after {n} attempts")).unwrap_or_default()
}

/// `"after 4 attempts; "` when the retries ran out.
pub(super) fn attempts_then(attempts: &Option<u32>) -> String {
    attempts.map(|n| format!("after {n} attempts; ")).unwrap_or_default()
}

impl super::ConnectorError {
    /// Whether a Delta commit lost a race with another writer (another commit took its version, or changed what it
    /// read): the table is unchanged by it, and a re-run can succeed.
    pub fn is_commit_conflict(&self) -> bool {
        use deltalake::DeltaTableError;
        use deltalake::kernel::transaction::TransactionError;
        match self {
            super::ConnectorError::Delta { source, .. } => matches!(
                source,
                DeltaTableError::VersionAlreadyExists(_)
                    | DeltaTableError::Transaction {
                        source: TransactionError::VersionAlreadyExists(_)
                            | TransactionError::CommitConflict(_)
                            | TransactionError::MaxCommitAttempts(_),
                    }
            ),
            _ => false,
        }
    }
}
