//! `strata runs --warehouse DIR` and `strata status RUN_ID --warehouse DIR` (or `--ledger postgres://…`): runs as
//! the ledger records them, whichever process ran them.

use strata_planner::ledger::{Ledger, LedgerRun, RunState};

use crate::LogFormat;
use crate::commands::CliError;

pub async fn runs(ledger: &Ledger, limit: u32, format: LogFormat) -> Result<(), CliError> {
    let mut runs = ledger.runs().await?;
    runs.reverse();
    if limit > 0 {
        runs.truncate(limit as usize);
    }
    match format {
        LogFormat::Json => {
            for run in &runs {
                println!("{}", serde_json::to_string(run).unwrap_or_default());
            }
        }
        LogFormat::Human => {
            println!(
                "{:<36}  {:<9}  {:<10}  {:<34}  {:<23}  {:>8}  JOB",
                "RUN", "STATE", "ENGINE", "MODE", "STARTED", "SECONDS"
            );
            for run in &runs {
                println!(
                    "{:<36}  {:<9}  {:<10}  {:<34}  {:<23}  {:>8}  {}",
                    run.run_id,
                    run.state,
                    run.engine,
                    run.mode.as_deref().unwrap_or("-"),
                    run.started_at,
                    seconds(run),
                    run.job
                );
            }
        }
    }
    Ok(())
}

fn seconds(run: &LedgerRun) -> String {
    run.elapsed_ms
        .map(|ms| format!("{:.1}", ms as f64 / 1000.0))
        .unwrap_or_else(|| "-".into())
}

pub async fn status(ledger: &Ledger, run_id: &str, format: LogFormat) -> Result<(), CliError> {
    let runs = ledger.runs().await?;
    let run = runs
        .iter()
        .rev()
        .find(|r| r.run_id == run_id || (run_id.len() >= 8 && r.run_id.starts_with(run_id)))
        .ok_or_else(|| CliError::Usage(format!("no run {run_id} in {}", ledger.describe())))?;
    if format == LogFormat::Json {
        println!("{}", serde_json::to_string(run).unwrap_or_default());
        return Ok(());
    }
    println!("run {}  {}  ({} s)  {}", run.run_id, run.state, seconds(run), run.job);
    println!(
        "  engine {}, mode {}, started {}, finished {}",
        run.engine,
        run.mode.as_deref().unwrap_or("-"),
        run.started_at,
        run.finished_at.as_deref().unwrap_or("-")
    );
    if run.params.as_object().is_some_and(|p| !p.is_empty()) {
        println!("  parameters {}", run.params);
    }
    if let Some(stage) = &run.failed_stage {
        println!("  failed in: {stage}");
    }
    if let Some(error) = &run.error {
        println!("  error: {error}");
    }
    if run.state == RunState::Killed {
        println!(
            "  the run never recorded its end and its process is gone: it was killed; nothing it did was committed after its last table commit"
        );
    }
    let Some(summary) = &run.summary else {
        return Ok(());
    };
    let list = |key: &str| summary[key].as_array().cloned().unwrap_or_default();
    println!("  {:<40} {:<7} {:>12} {:>9}", "STAGE", "KIND", "ROWS", "SECONDS");
    for s in list("stages") {
        println!(
            "  {:<40} {:<7} {:>12} {:>9.2}",
            s["stage"].as_str().unwrap_or_default(),
            s["kind"].as_str().unwrap_or_default(),
            s["rows_out"]
                .as_u64()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "-".into()),
            s["elapsed_ms"].as_f64().unwrap_or_default() / 1000.0
        );
    }
    for o in list("outputs") {
        println!(
            "  committed {} version {} ({} rows, {})",
            o["table"].as_str().unwrap_or_default(),
            o["version"],
            o["rows_written"],
            o["mode"].as_str().unwrap_or_default()
        );
    }
    for s in list("sources") {
        println!(
            "  read {} from topic {}: {} messages ({} malformed), lag {}",
            s["table"].as_str().unwrap_or_default(),
            s["topic"].as_str().unwrap_or_default(),
            s["messages"],
            s["malformed"],
            s["lag"]
        );
    }
    Ok(())
}

/// What a run in `mode` rewrites of each table with an event time (empty when the job has none).
pub fn ranges(mode: &strata_planner::RunMode, ranges: &[strata_planner::modes::RangeReport]) -> String {
    if ranges.is_empty() {
        return String::new();
    }
    let mut out = format!("\n== what the run rewrites ({})\n", mode.describe());
    out.push_str(&format!(
        "  {:<28} {:<40} {:<48} READ\n",
        "TABLE", "ACTION", "EVENT TIMES REWRITTEN"
    ));
    for r in ranges {
        out.push_str(&format!(
            "  {:<28} {:<40} {:<48} {}\n",
            r.table,
            format!("{} ({})", r.action, r.reason),
            r.range,
            r.read
        ));
    }
    out
}
