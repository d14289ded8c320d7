//! Progress on a terminal (one line per stage) and progress events as JSON lines.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use strata_planner::JobEvent;

/// Spinners per stage while a job runs.
pub struct Progress {
    multi: MultiProgress,
    bars: Mutex<HashMap<usize, ProgressBar>>,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    /// Whether stderr is a terminal worth drawing on.
    pub fn enabled() -> bool {
        std::io::stderr().is_terminal()
    }

    /// No spinners yet, drawing on stderr.
    pub fn new() -> Self {
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
        }
    }

    /// Show `event`: a spinner when a stage starts, its rows and time when it finishes, a line per commit and per
    /// retry.
    pub fn event(&self, event: JobEvent) {
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        match event {
            JobEvent::StageStarted { index, name } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_message(name);
                bar.enable_steady_tick(Duration::from_millis(120));
                bars.insert(index, bar);
            }
            JobEvent::StageFinished {
                index,
                name,
                rows,
                elapsed,
            } => {
                if let Some(bar) = bars.get(&index) {
                    bar.set_style(
                        ProgressStyle::with_template("✔ {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    let rows = rows.map(|r| format!("{r} rows, ")).unwrap_or_default();
                    bar.finish_with_message(format!("{name} ({rows}{:.2}s)", elapsed.as_secs_f64()));
                }
            }
            JobEvent::Committed { table, version, rows } => {
                let _ = self
                    .multi
                    .println(format!("committed {table}: {rows} rows, version {version}"));
            }
            JobEvent::StageRetried {
                name, attempt, error, ..
            } => {
                let _ = self
                    .multi
                    .println(format!("retrying {name} (attempt {attempt}) after: {error}"));
            }
            JobEvent::Planned { .. } | JobEvent::Committing { .. } => {}
        }
    }

    /// Stop any spinner still running (a failed run).
    pub fn finish(&self) {
        if let Ok(bars) = self.bars.lock() {
            for bar in bars.values().filter(|b| !b.is_finished()) {
                bar.abandon();
            }
        }
    }
}

/// One progress event as a JSON object.
pub fn event_json(event: &JobEvent) -> serde_json::Value {
    match event {
        JobEvent::Planned { stages } => serde_json::json!({
            "event": "planned",
            "stages": stages.iter().map(|(n, k)| serde_json::json!({"stage": n, "kind": k})).collect::<Vec<_>>(),
        }),
        JobEvent::StageStarted { name, .. } => {
            serde_json::json!({"event": "stage_started", "stage": name})
        }
        JobEvent::StageFinished {
            name, rows, elapsed, ..
        } => serde_json::json!({
            "event": "stage_finished", "stage": name, "rows_out": rows, "elapsed_ms": elapsed.as_millis() as u64,
        }),
        JobEvent::StageRetried {
            name, attempt, error, ..
        } => {
            serde_json::json!({"event": "stage_retried", "stage": name, "attempt": attempt, "error": error})
        }
        JobEvent::Committing { tables } => {
            serde_json::json!({"event": "committing", "tables": tables})
        }
        JobEvent::Committed { table, version, rows } => {
            serde_json::json!({"event": "committed", "table": table, "version": version, "rows": rows})
        }
    }
}
