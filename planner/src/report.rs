//! What a run reports: progress events while it runs, a summary when it ends.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

/// Progress of a run, for terminals and logs.
#[derive(Debug, Clone)]
pub enum JobEvent {
    /// The job's stages, in topological order, before anything runs.
    Planned {
        /// Each stage's display name and kind (`source`, `view`, `table`, `insert` or `merge`).
        stages: Vec<(String, &'static str)>,
    },
    /// A stage began running.
    StageStarted {
        /// The stage's position in the job file ([`Stage::index`](crate::dag::Stage::index)).
        index: usize,
        /// The stage's display name.
        name: String,
    },
    /// A stage ran to its end.
    StageFinished {
        /// The stage's position in the job file.
        index: usize,
        /// The stage's display name.
        name: String,
        /// Rows the stage produced; `None` for sources and views, which run nothing by themselves.
        rows: Option<u64>,
        /// Wall-clock time the stage took, retries included.
        elapsed: Duration,
    },
    /// A stage failed on the cluster and runs again (`attempt` counts from 1).
    StageRetried {
        /// The stage's position in the job file.
        index: usize,
        /// The stage's display name.
        name: String,
        /// Which retry this is, from 1.
        attempt: u32,
        /// The error of the failed attempt.
        error: String,
    },
    /// All stages succeeded; output tables are being committed.
    Committing {
        /// How many output tables are committed (dead-letter tables not counted).
        tables: usize,
    },
    /// One table was committed: an output or a dead-letter table.
    Committed {
        /// The table's name.
        table: String,
        /// The Delta version the commit made; 0 for a Kafka topic or a PostgreSQL table, which have none.
        version: u64,
        /// Rows written (messages, for a topic).
        rows: u64,
    },
}

/// Receives progress events; must be cheap, it is called from stage tasks.
pub type EventSink = Arc<dyn Fn(JobEvent) + Send + Sync>;

/// One stage of a finished run.
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    /// The stage's display name.
    pub stage: String,
    /// `source`, `view`, `table`, `insert` or `merge`.
    pub kind: &'static str,
    /// Rows the stage produced (`None` for sources and views, which produce nothing by themselves).
    pub rows_out: Option<u64>,
    /// The stages it reads (its edges in the stage DAG).
    pub inputs: Vec<String>,
    /// Milliseconds from the run's start to the stage's start (for timelines).
    pub started_ms: u128,
    /// Wall-clock milliseconds the stage took.
    pub elapsed_ms: u128,
    /// With [`PlannedJob::profile`](crate::PlannedJob::profile): the stage's physical plan with every operator's
    /// metrics, as `EXPLAIN ANALYZE` shows them. Not recorded in the ledger.
    #[serde(skip)]
    pub profile: Option<String>,
}

/// One committed output table.
#[derive(Debug, Clone, Serialize)]
pub struct OutputReport {
    /// The table's name.
    pub table: String,
    /// The table's URL (a Delta table's directory, or the sink it names).
    pub location: String,
    /// The Delta version committed; 0 for a Kafka topic or a PostgreSQL table, which have none.
    pub version: u64,
    /// Rows written (messages, for a topic).
    pub rows_written: u64,
    /// How it was written: `overwrite`, `append`, `replace range`, `merge`, `upsert` or `produce`.
    pub mode: &'static str,
}

/// A rule's outcome in a run.
#[derive(Debug, Clone, Serialize)]
pub struct ExpectationReport {
    /// The table (or view) the rule is declared on.
    pub table: String,
    /// The rule's name.
    pub rule: String,
    /// What happened to violating rows: `warn`, `drop`, `quarantine` or `fail`.
    pub action: &'static str,
    /// Rows for which the rule's condition was false or NULL.
    pub violations: u64,
}

/// The result of a successful run.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// The job file's path, as given.
    pub job: String,
    /// The run's id, as recorded in the ledger.
    pub run_id: String,
    /// The stages that ran, in run (topological) order.
    pub stages: Vec<StageReport>,
    /// Every table committed, dead-letter tables included.
    pub outputs: Vec<OutputReport>,
    /// Kafka sources: what was read and the lag left behind.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceReport>,
    /// Every expectation's violations in this run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expectations: Vec<ExpectationReport>,
    /// `incremental`, `full-refresh` or `backfill`.
    pub mode: String,
    /// What the run rewrote of each table with an event time.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<crate::modes::RangeReport>,
    /// Each event-time source's watermark after this run (microseconds since the epoch): the next incremental
    /// run reads what is newer.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub watermarks: std::collections::BTreeMap<String, i64>,
    /// The job's `--! optimize` / `--! vacuum` directives, carried out after the commits.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub maintenance: Vec<MaintenanceReport>,
    /// On a cluster whose scheduler ran the run: every task of its stages, for the timeline.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<crate::tasks::TaskReport>,
    /// Wall-clock milliseconds of the whole run, commit included.
    pub elapsed_ms: u128,
}

impl RunSummary {
    /// A plain-text table of stages and outputs.
    pub fn render(&self) -> String {
        let mut rows: Vec<[String; 4]> = vec![["stage".into(), "kind".into(), "rows out".into(), "time".into()]];
        for s in &self.stages {
            rows.push([
                s.stage.clone(),
                s.kind.to_string(),
                s.rows_out.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
                format!("{:.3}s", s.elapsed_ms as f64 / 1000.0),
            ]);
        }
        let mut out = table(&rows);
        if !self.outputs.is_empty() {
            let mut rows: Vec<[String; 4]> =
                vec![["table".into(), "mode".into(), "rows written".into(), "version".into()]];
            for o in &self.outputs {
                rows.push([
                    o.table.clone(),
                    o.mode.to_string(),
                    o.rows_written.to_string(),
                    o.version.to_string(),
                ]);
            }
            out.push('\n');
            out.push_str(&table(&rows));
        }
        if !self.sources.is_empty() {
            let mut rows: Vec<[String; 4]> = vec![[
                "source".into(),
                "topic".into(),
                "messages (malformed)".into(),
                "lag".into(),
            ]];
            for s in &self.sources {
                rows.push([
                    if s.recovery {
                        format!("{} (recovery)", s.table)
                    } else {
                        s.table.clone()
                    },
                    s.topic.clone(),
                    format!("{} ({})", s.messages, s.malformed),
                    s.lag.to_string(),
                ]);
            }
            out.push('\n');
            out.push_str(&table(&rows));
            for s in self.sources.iter().filter(|s| s.messages == 0) {
                out.push_str(&format!("no new messages in '{}'\n", s.topic));
            }
        }
        for m in &self.maintenance {
            let verb = if m.failed { "failed" } else { "done" };
            out.push_str(&format!("{} {} {verb}: {}\n", m.action, m.table, m.outcome));
        }
        if !self.expectations.is_empty() {
            let mut rows: Vec<[String; 4]> = vec![[
                "table".into(),
                "expectation".into(),
                "on violation".into(),
                "violations".into(),
            ]];
            for e in &self.expectations {
                rows.push([
                    e.table.clone(),
                    e.rule.clone(),
                    e.action.to_string(),
                    e.violations.to_string(),
                ]);
            }
            out.push('\n');
            out.push_str(&table(&rows));
        }
        if !self.ranges.is_empty() {
            let mut rows: Vec<[String; 4]> = vec![[
                "table".into(),
                format!("{} run", self.mode),
                "event times rewritten".into(),
                "read".into(),
            ]];
            for r in &self.ranges {
                rows.push([
                    r.table.clone(),
                    format!("{} ({})", r.action, r.reason),
                    r.range.clone(),
                    r.read.clone(),
                ]);
            }
            out.push('\n');
            out.push_str(&table(&rows));
        }
        out.push_str(&format!(
            "\nrun {} of {} finished in {:.3}s\n",
            self.run_id,
            self.job,
            self.elapsed_ms as f64 / 1000.0
        ));
        out
    }
}

fn table(rows: &[[String; 4]]) -> String {
    let mut widths = [0usize; 4];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        let line: Vec<String> = r
            .iter()
            .zip(widths)
            .enumerate()
            .map(
                |(j, (c, w))| {
                    if j >= 2 { format!("{c:>w$}") } else { format!("{c:<w$}") }
                },
            )
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&rule.join("  "));
            out.push('\n');
        }
    }
    out
}

/// What a run read from one Kafka source.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    /// The source's name in the job.
    pub table: String,
    /// The Kafka topic it reads.
    pub topic: String,
    /// Messages read, malformed ones included.
    pub messages: u64,
    /// Messages that failed to decode (sent to the dead-letter table).
    pub malformed: u64,
    /// The dead-letter table, when this run wrote to it.
    pub dead_letter: Option<String>,
    /// The previous run stopped between its commits; this one replayed its range.
    pub recovery: bool,
    /// Messages left in the topic after this run (sum over partitions).
    pub lag: i64,
    /// Each partition of the topic this run covered: its offsets and lag.
    pub partitions: Vec<PartitionReport>,
}

/// One partition of a Kafka source after a run.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionReport {
    /// The partition's number.
    pub partition: i32,
    /// First offset this run read from.
    pub from: i64,
    /// Next offset the next run reads from.
    pub next: i64,
    /// The partition's high watermark after the run minus `next`.
    pub lag: i64,
}

/// What one directive did.
#[derive(Debug, Clone, Serialize)]
pub struct MaintenanceReport {
    /// The table.
    pub table: String,
    /// `optimize` or `vacuum`.
    pub action: &'static str,
    /// What it did, in words (`12 files -> 1`, `13 files deleted`), or why it failed.
    pub outcome: String,
    /// Whether it failed.
    pub failed: bool,
}
