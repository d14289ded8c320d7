//! Reading a `CREATE EXTERNAL TABLE` the same way for every connector: its location as written, its options as
//! text, the options only Strata reads, and its declared columns as an Arrow schema.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{CreateExternalTable, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::Value;
use strata_connectors::store::BucketOptions;
use strata_sql::JobStatement;

use crate::error::{Result, df_err, job_err};

/// The `LOCATION` as the job wrote it (empty when it wrote none).
pub(crate) fn written_location(create: &CreateExternalTable) -> String {
    create.locations.first().cloned().unwrap_or_default()
}

/// An option's value as text: quoted strings unquoted, anything else as written.
pub(crate) fn option_text(v: &Value) -> String {
    match v {
        Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every option as `(key, text)`, for the connectors' own option parsers.
pub(crate) fn option_pairs(create: &CreateExternalTable) -> Vec<(String, String)> {
    create
        .options
        .iter()
        .map(|(k, v)| (k.clone(), option_text(v)))
        .collect()
}

/// A source's `event_time` option (which only Strata reads), and the declaration without it.
pub(crate) fn event_time_option(create: &CreateExternalTable) -> (CreateExternalTable, Option<String>) {
    let mut create = create.clone();
    let mut event_time = None;
    create.options.retain(|(key, value)| {
        if key.eq_ignore_ascii_case("event_time") {
            event_time = Some(option_text(value));
            false
        } else {
            true
        }
    });
    (create, event_time)
}

/// A source's store options ([`strata_connectors::store::LOCATION_OPTIONS`], keys in lower case), and the
/// declaration without them.
pub(crate) fn store_options(create: &CreateExternalTable) -> (CreateExternalTable, BucketOptions) {
    let mut create = create.clone();
    let mut found = BucketOptions::new();
    create.options.retain(|(key, value)| {
        if strata_connectors::store::is_location_option(key) {
            found.insert(key.to_ascii_lowercase(), option_text(value));
            false
        } else {
            true
        }
    });
    (create, found)
}

/// The schema the statement declares (DataFusion's own column-definition rules, NOT NULL included).
pub(crate) async fn declared_schema(
    ctx: &SessionContext,
    stmt: &JobStatement,
    create: &CreateExternalTable,
) -> Result<SchemaRef> {
    if create.columns.is_empty() {
        return Err(job_err(
            stmt,
            format!(
                "table '{}' must declare its columns: CREATE EXTERNAL TABLE name (column type, …) STORED AS {} …",
                stmt.target().name,
                create.file_type.to_uppercase()
            ),
        ));
    }
    let mut probe = create.clone();
    probe.file_type = "CSV".into();
    probe.options = Vec::new();
    let plan = ctx
        .state()
        .statement_to_plan(DFStatement::CreateExternalTable(probe))
        .await
        .map_err(|e| df_err(stmt, e))?;
    match plan {
        LogicalPlan::Ddl(datafusion::logical_expr::DdlStatement::CreateExternalTable(c)) => {
            Ok(Arc::new(c.schema.as_arrow().clone()))
        }
        _ => Err(job_err(stmt, "not a table declaration")),
    }
}
