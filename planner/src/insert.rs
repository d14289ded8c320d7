//! Where an insert's rows go: a table this job creates, a Delta source, a warehouse table, or a Kafka or
//! PostgreSQL sink; and its columns cast to the target's.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder, cast, col};
use datafusion::prelude::SessionContext;
use strata_connectors::delta::{self, WriteMode};
use strata_connectors::location;
use strata_connectors::stage::StageTable;
use strata_sql::{JobStatement, StatementKind};
use url::Url;

use crate::dag::StageDag;
use crate::declare::format::SourceFormat;
use crate::error::{PlannerError, Result, df_err, job_err};
use crate::output::{Output, Sink};
use crate::stage::PlannedStage;

/// Resolve an insert's target: a table this job creates, a Delta source, or a warehouse table.
pub(crate) async fn insert_target(
    ctx: &SessionContext,
    dag: &StageDag,
    planned: &[Option<PlannedStage>],
    sinks: &HashMap<String, Sink>,
    stmt: &JobStatement,
    warehouse: &strata_connectors::location::Warehouse,
) -> Result<(Output, Option<SchemaRef>, Option<Arc<StageTable>>)> {
    let name = stmt.target().name;
    let definer = dag
        .stages
        .iter()
        .find(|s| !matches!(s.statement.kind, StatementKind::Insert { .. }) && s.statement.target().name == name);
    let append = |url: Url, partition_by: Vec<String>| Output {
        table: name.clone(),
        url,
        partition_by,
        mode: WriteMode::Append,
        sink: None,
    };
    if let Some(sink) = sinks.get(&name) {
        let (url, schema) = sink.target(stmt)?;
        let output = Output {
            sink: Some(sink.clone()),
            ..append(url, Vec::new())
        };
        return Ok((output, Some(schema), None));
    }
    match definer.map(|d| (&d.statement.kind, d.index)) {
        Some((StatementKind::Table { expectations, .. }, i)) => {
            if !expectations.is_empty() {
                return Err(PlannerError::Job {
                    location: stmt.location.clone(),
                    message: format!(
                        "INSERT INTO '{name}': the table declares expectations, which apply to its CREATE TABLE only; \
                         write one query (UNION ALL) instead"
                    ),
                });
            }
            let stage = planned[i]
                .as_ref()
                .ok_or_else(|| DataFusionError::Internal("insert before its table".into()))?;
            let out = stage
                .output()
                .cloned()
                .ok_or_else(|| DataFusionError::Internal("table without output".into()))?;
            let table = stage.table().cloned();
            Ok((
                append(out.url, out.partition_by),
                table.as_ref().map(|t| t.schema()),
                table,
            ))
        }
        Some((StatementKind::Source(create), i)) => {
            // The definer is planned first: an insert depends on it.
            let stage = planned[i]
                .as_ref()
                .ok_or_else(|| DataFusionError::Internal("insert before its source".into()))?;
            let PlannedStage::Source {
                format: SourceFormat::Delta,
                location,
                ..
            } = stage
            else {
                return Err(PlannerError::Job {
                    location: stmt.location.clone(),
                    message: format!(
                        "INSERT INTO '{name}': only Delta, Kafka and PostgreSQL tables accept inserts, it is {}",
                        create.file_type
                    ),
                });
            };
            let url = Url::parse(location).map_err(|e| job_err(stmt, e))?;
            let table = delta::open(&url).await.map_err(|e| job_err(stmt, e))?;
            let partition_by = delta::partition_columns(&table).map_err(|e| job_err(stmt, e))?;
            let provider = ctx
                .table_provider(TableReference::from(name.as_str()))
                .await
                .map_err(|e| df_err(stmt, e))?;
            Ok((append(url, partition_by), Some(provider.schema()), None))
        }
        Some((StatementKind::View { .. }, _)) => Err(PlannerError::Job {
            location: stmt.target().location,
            message: format!("INSERT INTO '{name}': it is a view"),
        }),
        _ => {
            let url = location::warehouse_table(&name, warehouse).map_err(|e| job_err(stmt, e))?;
            match delta::open(&url).await {
                Ok(table) => {
                    let partition_by = delta::partition_columns(&table).map_err(|e| job_err(stmt, e))?;
                    let provider = delta::provider(&table, &ctx.state())
                        .await
                        .map_err(|e| job_err(stmt, e))?;
                    Ok((append(url, partition_by), Some(provider.schema()), None))
                }
                Err(
                    strata_connectors::ConnectorError::Missing { .. }
                    | strata_connectors::ConnectorError::NotDelta { .. },
                ) => Ok((append(url, Vec::new()), None, None)),
                Err(e) => Err(job_err(stmt, e)),
            }
        }
    }
}

/// Cast and rename an insert's columns, by position, to the target's schema.
pub(crate) fn conform(plan: LogicalPlan, target: &SchemaRef, stmt: &JobStatement) -> Result<LogicalPlan> {
    let source = plan.schema().clone();
    if source.fields().len() != target.fields().len() {
        return Err(PlannerError::Job {
            location: stmt.location.clone(),
            message: format!(
                "INSERT INTO '{}' gives {} columns, the table has {}",
                stmt.target().name,
                source.fields().len(),
                target.fields().len()
            ),
        });
    }
    let exprs = source
        .columns()
        .into_iter()
        .zip(target.fields())
        .map(|(c, f)| cast(col(c), f.data_type().clone()).alias(f.name()))
        .collect::<Vec<_>>();
    Ok(LogicalPlanBuilder::from(plan)
        .project(exprs)
        .map_err(|e| df_err(stmt, e))?
        .build()?)
}
