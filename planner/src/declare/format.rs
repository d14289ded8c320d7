//! The one place a declaration's `STORED AS` is read: every other module matches on [`SourceFormat`].

use datafusion::sql::parser::CreateExternalTable;

/// What a `CREATE EXTERNAL TABLE … STORED AS <format>` declares, case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// A topic: a source the run stages once, or a sink inserts produce to.
    Kafka,
    /// A PostgreSQL table: read, inserted into, or both.
    Postgres,
    /// A Delta table: read at its current version, and the only source that accepts inserts as files.
    Delta,
    /// Any other format (Parquet, CSV, JSON …): a DataFusion listing table.
    Listing,
}

impl SourceFormat {
    pub fn of(create: &CreateExternalTable) -> Self {
        let format = &create.file_type;
        if format.eq_ignore_ascii_case("KAFKA") {
            SourceFormat::Kafka
        } else if format.eq_ignore_ascii_case("POSTGRES") {
            SourceFormat::Postgres
        } else if format.eq_ignore_ascii_case("DELTA") {
            SourceFormat::Delta
        } else {
            SourceFormat::Listing
        }
    }
}
