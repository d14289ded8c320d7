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

/// A source's `lateness` option (`'2d'`, `'36h'`, `'90m'`, `'30s'`): how far below its watermark incremental runs
/// read again, for rows that arrive late. In microseconds, with the declaration without it.
pub(crate) fn lateness_option(
    stmt: &JobStatement,
    create: &CreateExternalTable,
) -> Result<(CreateExternalTable, Option<i64>)> {
    let mut create = create.clone();
    let mut found = None;
    create.options.retain(|(key, value)| {
        let ours = key.eq_ignore_ascii_case("lateness");
        if ours {
            found = Some(option_text(value));
        }
        !ours
    });
    let Some(text) = found else {
        return Ok((create, None));
    };
    let micros = parse_lateness(text.trim()).ok_or_else(|| {
        job_err(
            stmt,
            format!(
                "lateness '{text}': write a whole number of days, hours, minutes or seconds ('2d', '36h', '90m', '30s')"
            ),
        )
    })?;
    Ok((create, Some(micros)))
}

fn parse_lateness(text: &str) -> Option<i64> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3_600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    seconds.checked_mul(1_000_000)
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

#[cfg(test)]
mod lateness_tests {
    #[test]
    fn lateness_is_a_whole_number_of_a_unit() {
        assert_eq!(super::parse_lateness("2d"), Some(2 * 86_400 * 1_000_000));
        assert_eq!(super::parse_lateness("36h"), Some(36 * 3_600 * 1_000_000));
        assert_eq!(super::parse_lateness("90m"), Some(90 * 60 * 1_000_000));
        assert_eq!(super::parse_lateness("30s"), Some(30 * 1_000_000));
        for bad in ["", "d", "2", "2 weeks", "1.5d", "-1d"] {
            assert_eq!(super::parse_lateness(bad), None, "{bad}");
        }
    }
}
