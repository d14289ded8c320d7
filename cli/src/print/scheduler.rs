//! Runs as a scheduler's job service reports them (`RunInfo`): the table of `strata runs --scheduler`, the
//! detail of `strata status --scheduler` and `submit --wait`, and their JSON.

use std::fmt::Write;

use strata_planner::ledger::RunState;
use strata_proto::job::RunInfo;

/// How long the run took, or has been running (seconds, one decimal).
fn elapsed(run: &RunInfo, now_ms: i64) -> String {
    let end = if run.ended_at_ms > 0 { run.ended_at_ms } else { now_ms };
    format!("{:.1}", (end - run.started_at_ms).max(0) as f64 / 1000.0)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The run as one JSON object.
pub fn run_json(run: &RunInfo) -> serde_json::Value {
    serde_json::json!({
        "run_id": run.run_id,
        "job": run.job,
        "state": run.state,
        "started_at_ms": run.started_at_ms,
        "ended_at_ms": run.ended_at_ms,
        "error": run.error,
        "stages": run.stages.iter().map(|s| serde_json::json!({
            "stage": s.name, "kind": s.kind, "state": s.state, "rows": s.rows,
            "elapsed_ms": s.elapsed_ms, "retries": s.retries,
        })).collect::<Vec<_>>(),
        "outputs": run.outputs.iter().map(|o| serde_json::json!({
            "table": o.table, "location": o.location, "version": o.version, "rows": o.rows,
        })).collect::<Vec<_>>(),
        "sources": run.sources.iter().map(|s| serde_json::json!({
            "table": s.table, "topic": s.topic, "messages": s.messages, "malformed": s.malformed, "lag": s.lag,
            "recovery": s.recovery,
        })).collect::<Vec<_>>(),
    })
}

/// The table of runs, a header and one line per run.
pub fn runs_table(runs: &[RunInfo]) -> String {
    let now = now_ms();
    let mut out = format!("{:<36}  {:<10}  {:>9}  JOB\n", "RUN", "STATE", "SECONDS");
    for run in runs {
        let _ = writeln!(
            out,
            "{:<36}  {:<10}  {:>9}  {}",
            run.run_id,
            run.state,
            elapsed(run, now),
            run.job
        );
    }
    out
}

/// One run: its state and error, each stage's progress, what it committed and read.
pub fn run_detail(run: &RunInfo) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run {}  {}  ({} s)  {}",
        run.run_id,
        run.state,
        elapsed(run, now_ms()),
        run.job
    );
    if !run.error.is_empty() {
        let _ = writeln!(out, "error: {}", run.error);
    }
    let _ = writeln!(
        out,
        "  {:<28} {:<7} {:<10} {:>12} {:>9}",
        "STAGE", "KIND", "STATE", "ROWS", "SECONDS"
    );
    for s in &run.stages {
        let rows = s.rows.map(|r| r.to_string()).unwrap_or_default();
        let state = if s.retries > 0 && s.state == RunState::Succeeded.as_str() {
            format!("succeeded ({} retries)", s.retries)
        } else {
            s.state.clone()
        };
        let _ = writeln!(
            out,
            "  {:<28} {:<7} {:<10} {:>12} {:>9.2}",
            s.name,
            s.kind,
            state,
            rows,
            s.elapsed_ms as f64 / 1000.0
        );
    }
    for o in &run.outputs {
        let _ = writeln!(out, "  committed {} version {} ({} rows)", o.table, o.version, o.rows);
    }
    for s in &run.sources {
        let _ = writeln!(
            out,
            "  read {} from topic {}: {} messages ({} malformed), lag {}{}",
            s.table,
            s.topic,
            s.messages,
            s.malformed,
            s.lag,
            if s.recovery { ", recovery run" } else { "" }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use strata_proto::job::{OutputInfo, StageInfo};

    use super::*;

    fn run() -> RunInfo {
        RunInfo {
            run_id: "r1".into(),
            job: "j.sql".into(),
            state: RunState::Failed.to_string(),
            started_at_ms: 1_000,
            ended_at_ms: 3_500,
            error: "no executor alive for 20 s".into(),
            stages: vec![
                StageInfo {
                    name: "silver.bars".into(),
                    kind: "table".into(),
                    state: RunState::Succeeded.to_string(),
                    retries: 2,
                    ..Default::default()
                },
                StageInfo {
                    name: "gold.daily".into(),
                    kind: "table".into(),
                    state: RunState::Failed.to_string(),
                    ..Default::default()
                },
            ],
            outputs: vec![OutputInfo {
                table: "silver.bars".into(),
                version: 4,
                rows: 10,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_run_shows_its_stages_retries_and_error() {
        let text = run_detail(&run());
        assert!(
            text.starts_with("run r1  failed  (2.5 s)  j.sql\nerror: no executor alive"),
            "{text}"
        );
        assert!(text.contains("succeeded (2 retries)"), "{text}");
        assert!(text.contains("committed silver.bars version 4 (10 rows)"), "{text}");
        let json = run_json(&run());
        assert_eq!(json["state"], "failed");
        assert_eq!(json["stages"][0]["retries"], 2);
        let table = runs_table(&[run()]);
        assert_eq!(table.lines().count(), 2);
        assert!(table.lines().nth(1).unwrap().contains("failed      "), "{table}");
    }
}
