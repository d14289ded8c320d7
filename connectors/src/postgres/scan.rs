//! Reading a PostgreSQL table: [`PgTable`] plans, [`PgScanExec`] streams. Each plan partition reads one value range
//! of the partition column over its own connection, in a read-only repeatable-read transaction, with binary
//! `COPY (SELECT <projection> FROM t WHERE <filters> AND <range>) TO STDOUT`.
//! Filter values and range bounds are bound parameters (see [`super::filters`]).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchReceiverStream;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_postgres::{Client, IsolationLevel};

use super::connection::{PgAddress, connect, quote_ident};
use super::decode::CopyDecoder;
use super::filters::{Predicate, filter_sql, timestamp_text};
use super::options::PgOptions;
use super::types::{PgColumn, PgType, arrow_schema};
use crate::error::ConnectorError;

/// Rows per Arrow batch.
const BATCH_ROWS: usize = 8192;

/// A PostgreSQL table as a job reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PgSource {
    /// The server and database.
    pub address: PgAddress,
    /// The table's options.
    pub options: PgOptions,
    /// The columns read (the declared ones, else the catalog's), with their PostgreSQL types.
    pub columns: Vec<PgColumn>,
    /// The column whose range splits the read (`partition_column`, else the primary key's first column when it
    /// is an integer, date or timestamp).
    pub partition_column: Option<String>,
    /// Expose a single plan partition that reads every range concurrently: Ballista 55 reads a leaf it does not
    /// know whole in every task it gives several partitions to (see the Kafka scan).
    pub single_task: bool,
}

/// A driver error on `table`, for DataFusion.
fn query_err(table: &str) -> impl Fn(tokio_postgres::Error) -> DataFusionError + '_ {
    move |source| {
        DataFusionError::from(ConnectorError::PostgresQuery {
            table: table.into(),
            source,
        })
    }
}

/// A COPY decoding error on `table`, for DataFusion.
fn read_err(table: &str) -> impl Fn(ConnectorError) -> DataFusionError + '_ {
    move |e| {
        DataFusionError::from(ConnectorError::PostgresRead {
            table: table.into(),
            source: Box::new(e),
        })
    }
}

/// A value range's bound of `kind` (date, timestamp) that has no value.
fn bound_err(table: &str, kind: &'static str) -> DataFusionError {
    DataFusionError::from(ConnectorError::PostgresRangeBound {
        table: table.into(),
        kind,
    })
}

/// Whether partition columns of this type can be split by value.
pub fn splittable(t: PgType) -> bool {
    matches!(
        t,
        PgType::Int2 | PgType::Int4 | PgType::Int8 | PgType::Date | PgType::Timestamp | PgType::Timestamptz
    )
}

/// The provider a job's source registers.
#[derive(Debug)]
pub struct PgTable {
    /// The read this table's scans perform.
    pub source: PgSource,
    schema: SchemaRef,
}

impl PgTable {
    /// A provider for `source`; its schema is the Arrow schema of the source's columns.
    pub fn new(source: PgSource) -> Self {
        let schema = arrow_schema(&source.columns);
        Self { source, schema }
    }
}

#[async_trait]
impl TableProvider for PgTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(
                |f| match filter_sql(f, &self.source.columns, &mut Predicate::default()) {
                    Some(_) => TableProviderFilterPushDown::Exact,
                    None => TableProviderFilterPushDown::Unsupported,
                },
            )
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut predicate = Predicate::default();
        for f in filters {
            if let Some(sql) = filter_sql(f, &self.source.columns, &mut predicate) {
                predicate.sql.push(sql);
            }
        }
        let wanted = self
            .source
            .options
            .partitions
            .unwrap_or_else(|| state.config().target_partitions());
        let ranges = match &self.source.partition_column {
            Some(column) if wanted > 1 => split(&self.source, column, &predicate, wanted).await?,
            _ => vec![predicate],
        };
        Ok(Arc::new(PgScanExec::new(
            self.source.clone(),
            projection.cloned(),
            ranges,
            limit,
        )?))
    }
}

/// Begin the read transaction and bind `params`.
async fn begin<'a>(
    client: &'a mut Client,
    params: &[String],
) -> std::result::Result<tokio_postgres::Transaction<'a>, tokio_postgres::Error> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    if !params.is_empty() {
        tx.execute(
            "SELECT count(set_config('strata.p' || i, v, true)) FROM unnest($1::text[]) WITH ORDINALITY AS t(v, i)",
            &[&params],
        )
        .await?;
    }
    Ok(tx)
}

/// The filters split into `n` value ranges of `column` (from its min and max under the filters); NULLs go with the
/// first range.
async fn split(source: &PgSource, column: &str, filters: &Predicate, n: usize) -> Result<Vec<Predicate>> {
    let table = source.options.table.to_string();
    let c = source.columns.iter().find(|c| c.name == column).ok_or_else(|| {
        DataFusionError::from(ConnectorError::PostgresPartitionColumn {
            table: table.clone(),
            column: column.into(),
        })
    })?;
    let q = quote_ident(column);
    let as_int = |agg: &str| match c.pg_type {
        PgType::Date => format!("({agg}({q}) - DATE '1970-01-01')::int8"),
        PgType::Timestamp | PgType::Timestamptz => format!("(extract(epoch FROM {agg}({q})) * 1000000)::int8"),
        _ => format!("{agg}({q})::int8"),
    };
    let mut sql = format!(
        "SELECT {}, {} FROM {}",
        as_int("min"),
        as_int("max"),
        source.options.table.sql()
    );
    if !filters.sql.is_empty() {
        sql.push_str(&format!(" WHERE {}", filters.sql.join(" AND ")));
    }
    let mut client = connect(&source.address, &source.options.connect, "strata-read")
        .await
        .map_err(DataFusionError::from)?;
    let tx = begin(&mut client, &filters.params).await.map_err(query_err(&table))?;
    let row = tx.query_one(&sql, &[]).await.map_err(query_err(&table))?;
    let (Some(lo), Some(hi)) = (row.get::<_, Option<i64>>(0), row.get::<_, Option<i64>>(1)) else {
        return Ok(vec![filters.clone()]);
    };
    let span = hi as i128 - lo as i128 + 1;
    let n = (n as i128).min(span).max(1);
    let step = (span + n - 1) / n;
    let bound = |v: i128| -> Result<String> {
        let v = v as i64;
        match c.pg_type {
            PgType::Date => Ok(chrono::DateTime::from_timestamp(v * 86_400, 0)
                .ok_or_else(|| bound_err(&table, "date"))?
                .date_naive()
                .to_string()),
            PgType::Timestamp | PgType::Timestamptz => {
                timestamp_text(v, c.pg_type == PgType::Timestamptz).ok_or_else(|| bound_err(&table, "timestamp"))
            }
            _ => Ok(v.to_string()),
        }
    };
    let mut ranges = Vec::with_capacity(n as usize);
    for i in 0..n {
        // Each range is the filters and its own bounds, numbered after the filters' parameters.
        let mut p = filters.clone();
        let from = lo as i128 + i * step;
        let to = from + step;
        let lower = (i > 0).then(|| -> Result<String> { Ok(format!("{q} >= {}", p.param(bound(from)?, c.pg_type))) });
        let lower = lower.transpose()?;
        let upper = if i + 1 < n {
            Some(format!("{q} < {}", p.param(bound(to)?, c.pg_type)))
        } else {
            None
        };
        let clause = match (lower, upper) {
            (Some(l), Some(u)) => format!("{l} AND {u}"),
            (Some(l), None) => l,
            (None, Some(u)) => format!("({u} OR {q} IS NULL)"),
            (None, None) => "true".into(),
        };
        p.sql.push(clause);
        ranges.push(p);
    }
    Ok(ranges)
}

/// Streams one table read; plan partition `i` reads `ranges[i]` (all of them when `single_task`). Each range is a
/// complete predicate: the pushed filters and the range's bounds.
#[derive(Debug)]
pub struct PgScanExec {
    /// The table read.
    pub source: PgSource,
    /// Indices into `source.columns` of the columns read; `None` for all of them.
    pub projection: Option<Vec<usize>>,
    /// One complete predicate per range: the pushed filters and the range's bounds.
    pub ranges: Vec<Predicate>,
    /// The most rows each range's query returns (a pushed-down `LIMIT`).
    pub limit: Option<usize>,
    columns: Vec<PgColumn>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl PgScanExec {
    /// A scan of `source`'s `projection`, one plan partition per predicate of `ranges` (one reading everything when
    /// it is empty, one for all of them when `single_task`), each returning at most `limit` rows. A projection index
    /// out of range fails.
    pub fn new(
        source: PgSource,
        projection: Option<Vec<usize>>,
        ranges: Vec<Predicate>,
        limit: Option<usize>,
    ) -> Result<Self> {
        let columns: Vec<PgColumn> = match &projection {
            Some(p) => p
                .iter()
                .map(|&i| {
                    source
                        .columns
                        .get(i)
                        .cloned()
                        .ok_or_else(|| DataFusionError::Internal(format!("projection index {i} out of range")))
                })
                .collect::<Result<_>>()?,
            None => source.columns.clone(),
        };
        let schema = arrow_schema(&columns);
        let ranges = if ranges.is_empty() {
            vec![Predicate::default()]
        } else {
            ranges
        };
        let partitions = if source.single_task { 1 } else { ranges.len() };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(Self {
            source,
            projection,
            ranges,
            limit,
            columns,
            schema,
            properties,
        })
    }

    /// The `COPY` statement of one range and the parameters it binds.
    pub fn copy_sql(&self, range: &Predicate) -> (String, Vec<String>) {
        let select: Vec<String> = self.columns.iter().map(|c| quote_ident(&c.name)).collect();
        let mut sql = format!("SELECT {} FROM {}", select.join(", "), self.source.options.table.sql());
        if !range.sql.is_empty() {
            sql.push_str(&format!(" WHERE {}", range.sql.join(" AND ")));
        }
        if let Some(limit) = self.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        (format!("COPY ({sql}) TO STDOUT (FORMAT binary)"), range.params.clone())
    }
}

impl DisplayAs for PgScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "PgScanExec: table={}, ranges={}, where=[{}]",
            self.source.options.table,
            self.ranges.len(),
            self.ranges.first().map(|r| r.sql.join(" AND ")).unwrap_or_default()
        )
    }
}

impl ExecutionPlan for PgScanExec {
    fn name(&self) -> &str {
        "PgScanExec"
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal("PgScanExec has no children".into()))
        }
    }

    fn execute(&self, partition: usize, _context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let mut builder = RecordBatchReceiverStream::builder(self.schema.clone(), 2);
        let ranges: Vec<Predicate> = if self.source.single_task {
            self.ranges.clone()
        } else {
            self.ranges.get(partition).cloned().into_iter().collect()
        };
        for range in ranges {
            let (sql, params) = self.copy_sql(&range);
            let tx = builder.tx();
            let source = self.source.clone();
            let columns = self.columns.clone();
            builder.spawn(async move {
                let table = source.options.table.to_string();
                let mut client = connect(&source.address, &source.options.connect, "strata-read")
                    .await
                    .map_err(DataFusionError::from)?;
                let txn = begin(&mut client, &params).await.map_err(query_err(&table))?;
                let cancel = txn.cancel_token();
                let stream = txn.copy_out(sql.as_str()).await.map_err(query_err(&table))?;
                let mut stream = std::pin::pin!(stream);
                let mut decoder = CopyDecoder::new(&columns, BATCH_ROWS);
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(query_err(&table))?;
                    for batch in decoder.push(&chunk).map_err(read_err(&table))? {
                        if tx.send(Ok(batch)).await.is_err() {
                            // The reader went away: stop the server's work too.
                            let _ = cancel.cancel_query(tokio_postgres::NoTls).await;
                            return Ok(());
                        }
                    }
                }
                let rows = decoder.rows();
                if let Some(batch) = decoder.finish().map_err(read_err(&table))? {
                    let _ = tx.send(Ok(batch)).await;
                }
                txn.commit().await.map_err(query_err(&table))?;
                tracing::debug!(table, rows, "PostgreSQL range read");
                Ok(())
            });
        }
        Ok(builder.build())
    }
}
