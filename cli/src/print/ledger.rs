//! Runs as the ledger records them, whichever process ran them: the table `strata runs` prints, the detail
//! `strata status` prints, and their JSON lines.

use std::fmt::Write;

use strata_planner::ledger::{LedgerRun, RunState};

/// One JSON line per run (the ledger's run as it serializes).
pub fn run_json(run: &LedgerRun) -> String {
    serde_json::to_string(run).unwrap_or_default()
}

/// The table of runs, a header and one line per run, in the order given.
pub fn runs_table(runs: &[LedgerRun]) -> String {
    let mut out = format!(
        "{:<36}  {:<9}  {:<10}  {:<34}  {:<23}  {:>8}  JOB\n",
        "RUN", "STATE", "ENGINE", "MODE", "STARTED", "SECONDS"
    );
    for run in runs {
        let _ = writeln!(
            out,
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
    out
}

fn seconds(run: &LedgerRun) -> String {
    run.elapsed_ms
        .map(|ms| format!("{:.1}", ms as f64 / 1000.0))
        .unwrap_or_else(|| "-".into())
}

/// One run: its state, mode and timing, why it failed, and what its summary recorded.
pub fn run_detail(run: &LedgerRun) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run {}  {}  ({} s)  {}",
        run.run_id,
        run.state,
        seconds(run),
        run.job
    );
    let _ = writeln!(
        out,
        "  engine {}, mode {}, started {}, finished {}",
        run.engine,
        run.mode.as_deref().unwrap_or("-"),
        run.started_at,
        run.finished_at.as_deref().unwrap_or("-")
    );
    if run.params.as_object().is_some_and(|p| !p.is_empty()) {
        let _ = writeln!(out, "  parameters {}", run.params);
    }
    if let Some(stage) = &run.failed_stage {
        let _ = writeln!(out, "  failed in: {stage}");
    }
    if let Some(error) = &run.error {
        let _ = writeln!(out, "  error: {error}");
    }
    if run.state == RunState::Killed {
        out.push_str(
            "  the run never recorded its end and its process is gone: it was killed; nothing it did was committed after its last table commit\n",
        );
    }
    let Some(summary) = &run.summary else {
        return out;
    };
    let list = |key: &str| summary[key].as_array().cloned().unwrap_or_default();
    let _ = writeln!(out, "  {:<40} {:<7} {:>12} {:>9}", "STAGE", "KIND", "ROWS", "SECONDS");
    for s in list("stages") {
        let _ = writeln!(
            out,
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
        let _ = writeln!(
            out,
            "  committed {} version {} ({} rows, {})",
            o["table"].as_str().unwrap_or_default(),
            o["version"],
            o["rows_written"],
            o["mode"].as_str().unwrap_or_default()
        );
    }
    for s in list("sources") {
        let _ = writeln!(
            out,
            "  read {} from topic {}: {} messages ({} malformed), lag {}",
            s["table"].as_str().unwrap_or_default(),
            s["topic"].as_str().unwrap_or_default(),
            s["messages"],
            s["malformed"],
            s["lag"]
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(state: RunState) -> LedgerRun {
        LedgerRun {
            run_id: "2f1c".into(),
            job: "jobs/j.sql".into(),
            state,
            engine: "embedded".into(),
            mode: Some("incremental".into()),
            params: serde_json::json!({}),
            started_at: "2026-01-01 00:00:00 UTC".into(),
            finished_at: None,
            elapsed_ms: None,
            error: None,
            failed_stage: None,
            summary: None,
            plan: None,
        }
    }

    #[test]
    fn the_runs_table_has_a_header_and_a_line_per_run() {
        let mut done = run(RunState::Succeeded);
        done.elapsed_ms = Some(2500);
        let text = runs_table(&[done, run(RunState::Killed)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("RUN ") && lines[0].ends_with("JOB"), "{text}");
        assert!(lines[1].contains("succeeded") && lines[1].contains("2.5"), "{text}");
        assert!(
            lines[2].contains("killed   ") && lines[2].ends_with("jobs/j.sql"),
            "{text}"
        );
        assert_eq!(
            run_json(&run(RunState::Running))
                .matches("\"state\":\"running\"")
                .count(),
            1
        );
    }

    #[test]
    fn a_failed_or_killed_run_says_why() {
        let mut failed = run(RunState::Failed);
        failed.failed_stage = Some("silver.ratio".into());
        failed.error = Some("Divide by zero".into());
        failed.summary = Some(serde_json::json!({
            "stages": [{"stage": "silver.ratio", "kind": "table", "rows_out": null, "elapsed_ms": 12}],
            "outputs": [{"table": "gold.t", "version": 3, "rows_written": 10, "mode": "overwrite"}],
        }));
        let text = run_detail(&failed);
        assert!(text.starts_with("run 2f1c  failed  (- s)  jobs/j.sql\n"), "{text}");
        assert!(
            text.contains("  failed in: silver.ratio\n  error: Divide by zero\n"),
            "{text}"
        );
        assert!(
            text.contains("committed gold.t version 3 (10 rows, overwrite)"),
            "{text}"
        );
        assert!(run_detail(&run(RunState::Killed)).contains("it was killed"));
        assert!(!text.contains("it was killed"));
    }
}
