//! Where a stage's rows go when the job commits: an [`Output`] table, written as Delta unless it names a
//! [`Sink`]. A leaf of the planner: declarations, planning and the commit phase all share these types, so this
//! module imports none of them (only the error type).

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use strata_connectors::delta::WriteMode;
use strata_connectors::kafka::outbox::Outbox;
use strata_connectors::kafka::{KafkaOptions, TopicAddress};
use strata_connectors::postgres::sink::PgSink;
use strata_connectors::postgres::types::arrow_schema;
use strata_sql::{JobStatement, MergeSpec};
use url::Url;

use crate::error::{Result, job_err};

/// Where a stage's rows go when the job commits.
#[derive(Debug, Clone)]
pub struct Output {
    /// Normalized table name.
    pub table: String,
    pub url: Url,
    pub partition_by: Vec<String>,
    pub mode: WriteMode,
    /// Set when the table is not Delta: a Kafka topic (rows produced as messages) or a PostgreSQL table.
    pub sink: Option<Sink>,
}

impl Output {
    /// How the run summary names this output's commit (`replaced`: a range rewrite replaces some of its files).
    pub fn report_mode(&self, replaced: bool) -> &'static str {
        match (&self.sink, self.mode) {
            _ if replaced => "replace range",
            (Some(Sink::Kafka(_)), _) => "produce",
            (Some(Sink::Merge(_)), _) => "merge",
            (Some(Sink::Postgres(p)), _) if p.options.key.is_empty() => "append",
            (Some(Sink::Postgres(_)), _) => "upsert",
            (None, WriteMode::Overwrite) => "overwrite",
            (None, WriteMode::Append) => "append",
        }
    }
}

/// A non-Delta table an insert writes, in the commit phase.
#[derive(Debug, Clone)]
pub enum Sink {
    Kafka(Box<KafkaSink>),
    Postgres(Box<PgSink>),
    /// `MERGE INTO` a Delta table.
    Merge(Box<DeltaMerge>),
}

impl Sink {
    /// Where reports show the sink (never credentials), and the schema an insert into it is cast to.
    pub(crate) fn target(&self, stmt: &JobStatement) -> Result<(Url, SchemaRef)> {
        match self {
            Sink::Kafka(k) => Ok((k.address.url().map_err(|e| job_err(stmt, e))?, k.declared.clone())),
            Sink::Postgres(p) => {
                let mut url = Url::parse(&p.address.display())
                    .map_err(|e| DataFusionError::Internal(format!("sink location: {e}")))?;
                url.query_pairs_mut().append_pair("table", &p.options.table.to_string());
                Ok((url, arrow_schema(&p.columns)))
            }
            Sink::Merge(m) => {
                Err(DataFusionError::Internal(format!("'{}' declared as a merge target", m.table)).into())
            }
        }
    }

    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Sink::Postgres(_))
    }
}

/// A Kafka table the job inserts into.
#[derive(Debug, Clone)]
pub struct KafkaSink {
    pub address: TopicAddress,
    pub options: KafkaOptions,
    pub declared: SchemaRef,
    /// Where rows fed by a Kafka source wait to be published exactly once (`strata_connectors::kafka::outbox`).
    pub outbox: Outbox,
}

/// A planned merge into the Delta table at `url` (see `crate::merge`).
#[derive(Debug, Clone)]
pub struct DeltaMerge {
    pub spec: MergeSpec,
    pub url: Url,
    pub table: String,
    /// Column names of the target, for `INSERT VALUES (…)` without a column list.
    pub target_columns: Vec<String>,
}
