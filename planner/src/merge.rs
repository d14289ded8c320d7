//! `MERGE INTO target USING source ON … WHEN [NOT] MATCHED [BY SOURCE] [AND …] THEN UPDATE | DELETE | INSERT` on a
//! Delta table: the source query runs as a stage like any other (on a cluster too); in the commit phase its rows
//! are merged into the table by delta-rs, in one commit. The clauses' conditions and values are SQL over the two
//! aliases, evaluated by delta-rs' DataFusion session (built-in functions only).

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    AssignmentTarget, Expr, MergeAction, MergeClause, MergeClauseKind, MergeInsertKind, ObjectName,
};
use strata_connectors::ConnectorError;
use strata_connectors::delta::{self, WriteOutcome};
use strata_sql::{JobStatement, MergeSpec};

use crate::error::PlannerError;
use crate::output::{DeltaMerge, Output};

/// A merge into `output`'s table, which must be an existing Delta table (`schema` known) that the job does not
/// create itself.
pub(crate) fn plan_merge(
    stmt: &JobStatement,
    spec: &MergeSpec,
    output: &Output,
    schema: Option<SchemaRef>,
    created_by_job: bool,
) -> Result<DeltaMerge, PlannerError> {
    let table = stmt.target().name;
    let schema = match schema {
        Some(schema) if !created_by_job && output.sink.is_none() => schema,
        _ => {
            return Err(PlannerError::Job {
                location: stmt.location.clone(),
                message: format!(
                    "MERGE INTO '{table}': the target must be an existing Delta table that this job does not create"
                ),
            });
        }
    };
    Ok(DeltaMerge {
        spec: spec.clone(),
        url: output.url.clone(),
        table,
        target_columns: schema.fields().iter().map(|f| f.name().clone()).collect(),
    })
}

fn unsupported(m: &DeltaMerge, message: String) -> ConnectorError {
    ConnectorError::Unsupported {
        location: m.table.clone(),
        message,
    }
}

/// The column an assignment or insert names (`t.close`, `"Close"` or `close`).
fn column(name: &ObjectName) -> String {
    let text = name.to_string();
    let last = text.rsplit('.').next().unwrap_or(&text);
    match last.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(quoted) => quoted.to_string(),
        None => last.to_ascii_lowercase(),
    }
}

fn sql(e: &Option<Expr>) -> Option<String> {
    e.as_ref().map(ToString::to_string)
}

/// Merge `batches` (the source query's rows, `schema`) into the table; one Delta commit.
pub(crate) async fn merge(
    m: &DeltaMerge,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<WriteOutcome, ConnectorError> {
    let table = delta::open(&m.url).await?;
    let ctx = SessionContext::new();
    let source = MemTable::try_new(schema, vec![batches])?;
    let source = ctx.read_table(Arc::new(source))?;
    let mut builder = table
        .merge(source, m.spec.on.to_string())
        .with_source_alias(&m.spec.source_alias)
        .with_target_alias(&m.spec.target_alias);
    let delta_err = |e| ConnectorError::Delta {
        location: m.url.to_string(),
        source: e,
    };
    for MergeClause {
        clause_kind,
        predicate,
        action,
        ..
    } in &m.spec.clauses
    {
        let predicate = sql(predicate);
        builder = match (clause_kind, action) {
            (MergeClauseKind::Matched | MergeClauseKind::NotMatchedBySource, MergeAction::Update(update)) => {
                let mut sets = Vec::with_capacity(update.assignments.len());
                for a in &update.assignments {
                    let AssignmentTarget::ColumnName(name) = &a.target else {
                        return Err(unsupported(m, "UPDATE SET (a, b) = … is not supported".into()));
                    };
                    sets.push((column(name), a.value.to_string()));
                }
                let apply = |mut u: deltalake::operations::merge::UpdateBuilder| {
                    if let Some(p) = &predicate {
                        u = u.predicate(p.clone());
                    }
                    for (c, v) in &sets {
                        u = u.update(c.as_str(), v.clone());
                    }
                    u
                };
                if *clause_kind == MergeClauseKind::Matched {
                    builder.when_matched_update(apply).map_err(delta_err)?
                } else {
                    builder.when_not_matched_by_source_update(apply).map_err(delta_err)?
                }
            }
            (MergeClauseKind::Matched | MergeClauseKind::NotMatchedBySource, MergeAction::Delete { .. }) => {
                let apply = |mut d: deltalake::operations::merge::DeleteBuilder| {
                    if let Some(p) = &predicate {
                        d = d.predicate(p.clone());
                    }
                    d
                };
                if *clause_kind == MergeClauseKind::Matched {
                    builder.when_matched_delete(apply).map_err(delta_err)?
                } else {
                    builder.when_not_matched_by_source_delete(apply).map_err(delta_err)?
                }
            }
            (MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget, MergeAction::Insert(insert)) => {
                let MergeInsertKind::Values(values) = &insert.kind else {
                    return Err(unsupported(
                        m,
                        "INSERT ROW is not supported: write INSERT VALUES (…)".into(),
                    ));
                };
                let Some(row) = values.rows.first().filter(|_| values.rows.len() == 1) else {
                    return Err(unsupported(m, "INSERT takes one VALUES row".into()));
                };
                let columns: Vec<String> = if insert.columns.is_empty() {
                    m.target_columns.clone()
                } else {
                    insert.columns.iter().map(column).collect()
                };
                if columns.len() != row.len() {
                    return Err(unsupported(
                        m,
                        format!("INSERT names {} columns and gives {} values", columns.len(), row.len()),
                    ));
                }
                let sets: Vec<(String, String)> =
                    columns.into_iter().zip(row.iter().map(ToString::to_string)).collect();
                builder
                    .when_not_matched_insert(|mut i| {
                        if let Some(p) = &predicate {
                            i = i.predicate(p.clone());
                        }
                        for (c, v) in &sets {
                            i = i.set(c.as_str(), v.clone());
                        }
                        i
                    })
                    .map_err(delta_err)?
            }
            (kind, action) => {
                return Err(unsupported(m, format!("WHEN {kind} THEN {action} is not supported")));
            }
        };
    }
    let (table, metrics) = builder.await.map_err(delta_err)?;
    tracing::info!(
        table = %m.table,
        inserted = metrics.num_target_rows_inserted,
        updated = metrics.num_target_rows_updated,
        deleted = metrics.num_target_rows_deleted,
        "merged"
    );
    Ok(WriteOutcome {
        version: table.version().unwrap_or_default(),
        rows: (metrics.num_target_rows_inserted + metrics.num_target_rows_updated + metrics.num_target_rows_deleted)
            as u64,
    })
}
