//! The console's JSON API (behind the login): runs from the ledger, one run in detail (stages with their DAG
//! edges and timings, outputs, expectations, Kafka sources, the error with its `file:line:col`), a job's recent
//! runs compared, the executors, and a symbol's chart from a table. Every answer is built from what the ledger
//! and the tables hold; nothing is written.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::scalar::ScalarValue;
use serde_json::{Value, json};
use strata_planner::ledger::LedgerRun;

use super::{Shared, json_error};

/// Most rows a chart draws (the newest).
const CHART_ROWS: usize = 5000;

async fn ledger_runs(console: &Shared) -> Result<Vec<LedgerRun>, Response> {
    console.options.ledger.runs().await.map_err(|e| {
        tracing::warn!(error = %e, "console: the ledger cannot be read");
        json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("the run ledger cannot be read: {e}"),
        )
    })
}

/// `YYYY-MM-DD HH:MM:SS UTC` (the ledger's text) as RFC 3339.
fn rfc3339(text: &str) -> Option<String> {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S UTC")
        .ok()
        .map(|t| t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn brief(run: &LedgerRun) -> Value {
    json!({
        "run_id": run.run_id,
        "job": run.job,
        "state": run.state.as_str(),
        "engine": run.engine,
        "mode": run.mode,
        "started_at": rfc3339(&run.started_at),
        "ended_at": run.finished_at.as_deref().and_then(rfc3339),
        "elapsed_ms": run.elapsed_ms,
        "error": run.error,
        "failed_stage": run.failed_stage,
    })
}

/// `GET /api/runs?job=&state=&since=&limit=`: newest first.
pub(super) async fn runs(State(console): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let runs = match ledger_runs(&console).await {
        Ok(runs) => runs,
        Err(response) => return response,
    };
    let since = q
        .get("since")
        .filter(|s| !s.is_empty())
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
    let limit = q.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(200);
    let listed: Vec<Value> = runs
        .iter()
        .rev()
        .filter(|r| q.get("job").is_none_or(|j| j.is_empty() || *j == r.job))
        .filter(|r| {
            q.get("state")
                .is_none_or(|s| s.is_empty() || s == "all" || *s == r.state.as_str())
        })
        .filter(|r| {
            since.is_none_or(|since| {
                chrono::NaiveDateTime::parse_from_str(&r.started_at, "%Y-%m-%d %H:%M:%S UTC")
                    .is_ok_and(|t| t.and_utc() >= since)
            })
        })
        .take(limit)
        .map(brief)
        .collect();
    axum::Json(json!({ "runs": listed })).into_response()
}

/// The first `file:line:col` an error names (every located error starts with or contains one).
pub(super) fn error_location(error: &str) -> Option<Value> {
    let bytes = error.as_bytes();
    let mut from = 0;
    while let Some(found) = error[from..].find(".sql:") {
        let dot = from + found;
        let start = error[..dot]
            .rfind(|c: char| c.is_whitespace() || c == '(' || c == '\'' || c == '"')
            .map_or(0, |i| i + 1);
        let rest = &error[dot + 5..];
        let line: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let after = &rest[line.len()..];
        let column: String = after
            .strip_prefix(':')
            .map(|c| c.chars().take_while(char::is_ascii_digit).collect())
            .unwrap_or_default();
        if !line.is_empty() && start < dot && bytes[start] != b':' {
            return Some(json!({
                "file": &error[start..dot + 4],
                "line": line.parse::<u64>().unwrap_or(0),
                "column": column.parse::<u64>().unwrap_or(1),
            }));
        }
        from = dot + 5;
    }
    None
}

/// The stages of a run: from its summary (timed) or, for a run without one, from the DAG its start recorded.
fn stages(run: &LedgerRun) -> Value {
    if let Some(stages) = run.summary.as_ref().and_then(|s| s.get("stages")) {
        return stages.clone();
    }
    let planned = run
        .plan
        .as_ref()
        .and_then(|p| p.get("stages"))
        .and_then(Value::as_array);
    Value::Array(
        planned
            .into_iter()
            .flatten()
            .map(|s| {
                json!({
                    "stage": s["stage"], "kind": s["kind"], "inputs": s["inputs"],
                    "started_ms": null, "elapsed_ms": null, "rows_out": null,
                })
            })
            .collect(),
    )
}

/// `GET /api/runs/{id}`.
pub(super) async fn run(State(console): State<Shared>, Path(id): Path<String>) -> Response {
    let runs = match ledger_runs(&console).await {
        Ok(runs) => runs,
        Err(response) => return response,
    };
    let Some(run) = runs.iter().rev().find(|r| r.run_id == id) else {
        return json_error(StatusCode::NOT_FOUND, "no run with this id in the ledger");
    };
    let mut out = brief(run);
    let summary = run.summary.clone().unwrap_or(Value::Null);
    let field = |name: &str| summary.get(name).cloned().unwrap_or_else(|| json!([]));
    out["error_location"] = run.error.as_deref().and_then(error_location).unwrap_or(Value::Null);
    out["stages"] = stages(run);
    out["outputs"] = field("outputs");
    out["expectations"] = field("expectations");
    out["sources"] = field("sources");
    out["tasks"] = field("tasks");
    axum::Json(out).into_response()
}

/// `GET /api/jobs/history?job=&limit=`: the job's last ended runs, oldest first, with their stages' times.
pub(super) async fn history(State(console): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(job) = q.get("job") else {
        return json_error(StatusCode::BAD_REQUEST, "name the job (?job=)");
    };
    let runs = match ledger_runs(&console).await {
        Ok(runs) => runs,
        Err(response) => return response,
    };
    let limit = q.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(10);
    let mut recent: Vec<Value> = runs
        .iter()
        .rev()
        .filter(|r| r.job == *job && r.state.is_final())
        .take(limit)
        .map(|r| {
            let stages: Vec<Value> = stages(r)
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| json!({ "stage": s["stage"], "elapsed_ms": s["elapsed_ms"], "rows_out": s["rows_out"] }))
                .collect();
            json!({
                "run_id": r.run_id, "started_at": rfc3339(&r.started_at), "state": r.state.as_str(),
                "elapsed_ms": r.elapsed_ms, "stages": stages,
            })
        })
        .collect();
    recent.reverse();
    axum::Json(json!({ "job": job, "runs": recent })).into_response()
}

/// `GET /api/executors`.
pub(super) async fn executors(State(console): State<Shared>) -> Response {
    match &console.options.executors {
        Some(list) => axum::Json(json!({ "executors": list().await })).into_response(),
        None => axum::Json(json!({
            "executors": null,
            "note": "this process runs queries itself (strata serve): it has no executors",
        }))
        .into_response(),
    }
}

/// `GET /api/tables`: the warehouse's tables, the run ledger left out.
pub(super) async fn tables(State(console): State<Shared>) -> Response {
    match console.engine.tables().await {
        Ok(tables) => {
            let names: Vec<String> = tables
                .iter()
                .filter(|t| t.table_type() == crate::catalog::TABLE)
                .map(ToString::to_string)
                .collect();
            axum::Json(json!({ "tables": names })).into_response()
        }
        Err(status) => json_error(StatusCode::SERVICE_UNAVAILABLE, status.message()),
    }
}

/// The column charts are drawn along, in order of preference.
const X_COLUMNS: &[&str] = &[
    "trade_date",
    "date",
    "day",
    "window_start",
    "ts",
    "timestamp",
    "time",
    "bar_start",
];

/// Numeric columns that are not values over time (partitions, counts of rows): left out of charts.
const NOT_SERIES: &[&str] = &["volume", "year", "month", "trades", "ticks", "rows"];

/// `GET /api/chart?table=&symbol=`: a symbol's numeric columns along its date or time, newest
/// [`CHART_ROWS`] rows. The table must be one the warehouse lists; the symbol is a bound parameter.
pub(super) async fn chart(State(console): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let (Some(table), Some(symbol)) = (q.get("table"), q.get("symbol")) else {
        return json_error(StatusCode::BAD_REQUEST, "name a table and a symbol (?table=&symbol=)");
    };
    let known = match console.engine.tables().await {
        Ok(tables) => tables,
        Err(status) => return json_error(StatusCode::SERVICE_UNAVAILABLE, status.message()),
    };
    let Some(found) = known.iter().find(|t| t.to_string() == *table) else {
        return json_error(StatusCode::NOT_FOUND, &format!("no table {table} in the warehouse"));
    };
    match chart_rows(&console, found, symbol).await {
        Ok(body) => axum::Json(body).into_response(),
        Err(message) => json_error(StatusCode::BAD_REQUEST, &message),
    }
}

async fn chart_rows(console: &Shared, table: &crate::catalog::WarehouseTable, symbol: &str) -> Result<Value, String> {
    // Identifiers cannot be bound: the table is one the catalog listed, quoted; the symbol is bound.
    let sql = format!(
        "SELECT * FROM \"{}\".\"{}\" WHERE symbol = $1",
        table.schema.replace('"', "\"\""),
        table.name.replace('"', "\"\"")
    );
    let query = crate::readonly::check(&sql).map_err(|s| s.message().to_string())?;
    let frame = console.engine.plan(&query).await.map_err(|s| s.message().to_string())?;
    let frame = crate::backend::bind(frame, Some(&[ScalarValue::Utf8(Some(symbol.to_string()))]))
        .map_err(|s| s.message().to_string())?;
    let schema = frame.schema().as_arrow().clone();
    let x = X_COLUMNS
        .iter()
        .find(|c| schema.field_with_name(c).is_ok())
        .ok_or_else(|| format!("{table} has no date or time column ({})", X_COLUMNS.join(", ")))?
        .to_string();
    let frame = frame
        .sort(vec![datafusion::prelude::col(format!("\"{x}\"")).sort(false, true)])
        .and_then(|f| f.limit(0, Some(CHART_ROWS)))
        .map_err(|e| e.to_string())?;
    let batches = frame.collect().await.map_err(|e| e.strip_backtrace())?;
    let numeric: Vec<String> = schema
        .fields()
        .iter()
        .filter(|f| f.data_type().is_numeric() && !NOT_SERIES.contains(&f.name().as_str()))
        .map(|f| f.name().clone())
        .collect();
    let mut x_values: Vec<String> = Vec::new();
    let mut series: Vec<Vec<Option<f64>>> = vec![Vec::new(); numeric.len()];
    for batch in &batches {
        let xs = cast(batch.column_by_name(&x).ok_or("no x column")?, &DataType::Utf8).map_err(|e| e.to_string())?;
        let xs = xs.as_string::<i32>();
        for row in 0..batch.num_rows() {
            x_values.push(if xs.is_null(row) {
                String::new()
            } else {
                xs.value(row).to_string()
            });
        }
        for (i, name) in numeric.iter().enumerate() {
            let column = batch.column_by_name(name).ok_or("a column went missing")?;
            let values = cast(column, &DataType::Float64).map_err(|e| e.to_string())?;
            let values = values.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
            for row in 0..batch.num_rows() {
                series[i].push(
                    (!values.is_null(row))
                        .then(|| values.value(row))
                        .filter(|v| v.is_finite()),
                );
            }
        }
    }
    // Newest first from the query; charts read left to right in time.
    x_values.reverse();
    let series: Vec<Value> = numeric
        .iter()
        .zip(series)
        .map(|(name, mut values)| {
            values.reverse();
            json!({ "name": name, "values": values })
        })
        .collect();
    Ok(json!({ "table": table.to_string(), "symbol": symbol, "x": x, "x_values": x_values, "series": series }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_location_is_found_wherever_the_error_names_it() {
        let at = |e: &str| error_location(e).map(|v| format!("{}:{}:{}", v["file"], v["line"], v["column"]));
        assert_eq!(
            at("/tmp/a/failing.sql:3:7: syntax error"),
            Some("\"/tmp/a/failing.sql\":3:7".into())
        );
        assert_eq!(
            at("stage 'smoke.bad' (jobs/x.sql:12:1) failed: Cast error"),
            Some("\"jobs/x.sql\":12:1".into())
        );
        assert_eq!(at("committing table 'a' failed: connection refused"), None);
    }
}
