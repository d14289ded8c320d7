//! Every Prometheus metric Strata records, in one catalog: name, kind, help and label names. Code records through
//! the `metrics` facade with these names (a process without an installed recorder records nothing, at no cost);
//! the binaries install the Prometheus exporter and serve `/metrics` (`strata_planner::metrics`).
//!
//! Conventions the catalog is tested against (here and on a real scrape): names start with `strata_`; counters end
//! in `_total`; histograms and gauges name their base unit (`_seconds`, `_bytes`, `_messages`, …); labels come from
//! [`LABELS`], whose values are bounded by what an operator declares (job files, tables, topics and their
//! partitions, stages, rules, gRPC methods) — never a run id, a user value or a row's content. The job file is
//! `strata_job`, not `job`: Prometheus gives every scraped series the scrape job's `job` label (and a Pushgateway
//! its grouping key's), which a metric's own `job` would collide with.

/// What a family is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (resets when the process restarts).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Observations in buckets (`_bucket`, `_sum`, `_count`).
    Histogram,
}

/// One metric family.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    /// The metric's name.
    pub name: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// What it measures (the `# HELP` line).
    pub help: &'static str,
    /// The labels it carries.
    pub labels: &'static [&'static str],
}

/// The label names any family may carry.
pub const LABELS: &[&str] = &[
    "strata_job",
    "outcome",
    "stage",
    "table",
    "topic",
    "partition",
    "rule",
    "method",
    "code",
    "version",
];

/// Runs started, by job file.
pub const RUNS_STARTED: &str = "strata_runs_started_total";
/// Runs ended, by job file and outcome (`succeeded`, `failed`).
pub const RUNS_FINISHED: &str = "strata_runs_finished_total";
/// A run's wall-clock time.
pub const RUN_DURATION: &str = "strata_run_duration_seconds";
/// A stage's wall-clock time.
pub const STAGE_DURATION: &str = "strata_stage_duration_seconds";
/// Rows stages produced.
pub const STAGE_ROWS: &str = "strata_stage_rows_total";
/// Rows committed to a table (messages, for a topic).
pub const TABLE_ROWS_WRITTEN: &str = "strata_table_rows_written_total";
/// Rows a run read from a source table.
pub const TABLE_ROWS_READ: &str = "strata_table_rows_read_total";
/// Rows that violated an expectation.
pub const EXPECTATION_VIOLATIONS: &str = "strata_expectation_violations_total";
/// Delta commits, by table and outcome (`committed`, `conflict`, `failed`).
pub const DELTA_COMMITS: &str = "strata_delta_commits_total";
/// How long a Delta commit took (successful or not).
pub const DELTA_COMMIT_DURATION: &str = "strata_delta_commit_duration_seconds";
/// Kafka messages read, malformed ones included.
pub const KAFKA_MESSAGES_READ: &str = "strata_kafka_messages_read_total";
/// Kafka messages that failed to decode and went to the dead-letter table.
pub const KAFKA_DEAD_LETTERS: &str = "strata_kafka_dead_letters_total";
/// Messages left in a partition after the last run.
pub const KAFKA_LAG: &str = "strata_kafka_lag_messages";
/// Rows written to PostgreSQL tables.
pub const POSTGRES_ROWS: &str = "strata_postgres_rows_written_total";
/// Failed PostgreSQL writes (nothing of them was committed).
pub const POSTGRES_ERRORS: &str = "strata_postgres_write_errors_total";
/// An executor's task slots.
pub const EXECUTOR_SLOTS: &str = "strata_executor_task_slots";
/// Tasks running on an executor now.
pub const EXECUTOR_RUNNING: &str = "strata_executor_tasks_running";
/// Tasks an executor finished, by outcome (`succeeded`, `failed`).
pub const EXECUTOR_TASKS: &str = "strata_executor_tasks_total";
/// How long a task took on an executor.
pub const EXECUTOR_TASK_DURATION: &str = "strata_executor_task_duration_seconds";
/// Bytes of the executor's memory pool reserved by running tasks.
pub const EXECUTOR_MEMORY: &str = "strata_executor_memory_reserved_bytes";
/// The executor's memory limit (0: unbounded).
pub const EXECUTOR_MEMORY_LIMIT: &str = "strata_executor_memory_limit_bytes";
/// Times tasks spilled to disk.
pub const EXECUTOR_SPILLS: &str = "strata_executor_spills_total";
/// Bytes tasks spilled to disk.
pub const EXECUTOR_SPILLED: &str = "strata_executor_spilled_bytes_total";
/// Executors registered with the scheduler and alive.
pub const SCHEDULER_EXECUTORS: &str = "strata_scheduler_executors";
/// Flight SQL (and job service) calls, by gRPC method and status code.
pub const FLIGHT_REQUESTS: &str = "strata_flight_requests_total";
/// How long a Flight SQL call took until its response began.
pub const FLIGHT_DURATION: &str = "strata_flight_request_duration_seconds";
/// Refused logins and tokens.
pub const FLIGHT_AUTH_FAILURES: &str = "strata_flight_auth_failures_total";
/// When a scheduled job last succeeded (seconds since the epoch).
pub const SCHEDULE_LAST_SUCCESS: &str = "strata_schedule_last_success_timestamp_seconds";
/// Time between a scheduled job's runs.
pub const SCHEDULE_INTERVAL: &str = "strata_schedule_interval_seconds";
/// Always 1, labelled with the running version.
pub const BUILD_INFO: &str = "strata_build_info";

macro_rules! family {
    ($name:expr, $kind:ident, $help:expr, [$($label:expr),*]) => {
        Family { name: $name, kind: Kind::$kind, help: $help, labels: &[$($label),*] }
    };
}

/// Every family, for `# HELP` lines, the naming test and `docs/observability.md`.
pub const FAMILIES: &[Family] = &[
    family!(RUNS_STARTED, Counter, "Runs started.", ["strata_job"]),
    family!(
        RUNS_FINISHED,
        Counter,
        "Runs ended, by outcome (succeeded, failed).",
        ["strata_job", "outcome"]
    ),
    family!(
        RUN_DURATION,
        Histogram,
        "Wall-clock time of a run, commit included.",
        ["strata_job", "outcome"]
    ),
    family!(
        STAGE_DURATION,
        Histogram,
        "Wall-clock time of a stage, retries included.",
        ["strata_job", "stage"]
    ),
    family!(STAGE_ROWS, Counter, "Rows stages produced.", ["strata_job", "stage"]),
    family!(
        TABLE_ROWS_WRITTEN,
        Counter,
        "Rows committed to a table (messages, for a topic).",
        ["strata_job", "table"]
    ),
    family!(
        TABLE_ROWS_READ,
        Counter,
        "Rows runs read from a source table (messages, for a topic).",
        ["strata_job", "table"]
    ),
    family!(
        EXPECTATION_VIOLATIONS,
        Counter,
        "Rows that violated an expectation.",
        ["strata_job", "table", "rule"]
    ),
    family!(
        DELTA_COMMITS,
        Counter,
        "Delta commits, by outcome (committed, conflict, failed).",
        ["table", "outcome"]
    ),
    family!(DELTA_COMMIT_DURATION, Histogram, "Time a Delta commit took.", ["table"]),
    family!(
        KAFKA_MESSAGES_READ,
        Counter,
        "Kafka messages read, malformed ones included.",
        ["strata_job", "topic"]
    ),
    family!(
        KAFKA_DEAD_LETTERS,
        Counter,
        "Kafka messages that failed to decode (dead letters).",
        ["strata_job", "topic"]
    ),
    family!(
        KAFKA_LAG,
        Gauge,
        "Messages left in a partition after the last run.",
        ["strata_job", "topic", "partition"]
    ),
    family!(POSTGRES_ROWS, Counter, "Rows written to PostgreSQL tables.", ["table"]),
    family!(
        POSTGRES_ERRORS,
        Counter,
        "Failed PostgreSQL writes; nothing of them was committed.",
        ["table"]
    ),
    family!(EXECUTOR_SLOTS, Gauge, "Task slots of this executor.", []),
    family!(EXECUTOR_RUNNING, Gauge, "Tasks running on this executor.", []),
    family!(
        EXECUTOR_TASKS,
        Counter,
        "Tasks this executor finished, by outcome.",
        ["outcome"]
    ),
    family!(
        EXECUTOR_TASK_DURATION,
        Histogram,
        "Time a task took on this executor.",
        []
    ),
    family!(
        EXECUTOR_MEMORY,
        Gauge,
        "Bytes of this executor's memory pool reserved by tasks.",
        []
    ),
    family!(
        EXECUTOR_MEMORY_LIMIT,
        Gauge,
        "This executor's memory limit in bytes (0: unbounded).",
        []
    ),
    family!(EXECUTOR_SPILLS, Counter, "Times tasks spilled to disk.", []),
    family!(EXECUTOR_SPILLED, Counter, "Bytes tasks spilled to disk.", []),
    family!(
        SCHEDULER_EXECUTORS,
        Gauge,
        "Executors registered with the scheduler and alive.",
        []
    ),
    family!(
        FLIGHT_REQUESTS,
        Counter,
        "Flight SQL and job service calls, by method and status code.",
        ["method", "code"]
    ),
    family!(
        FLIGHT_DURATION,
        Histogram,
        "Time until a Flight SQL call's response began.",
        ["method"]
    ),
    family!(FLIGHT_AUTH_FAILURES, Counter, "Refused logins and bearer tokens.", []),
    family!(
        SCHEDULE_LAST_SUCCESS,
        Gauge,
        "When a scheduled job last succeeded (Unix seconds).",
        ["strata_job"]
    ),
    family!(
        SCHEDULE_INTERVAL,
        Gauge,
        "Time between a scheduled job's runs (its cron's period).",
        ["strata_job"]
    ),
    family!(BUILD_INFO, Gauge, "Always 1; the version is a label.", ["version"]),
];

/// Buckets of every `_seconds` histogram: 5 ms to an hour.
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// Give every family its `# HELP` text (the installed recorder keeps it; without one, nothing happens).
pub fn describe() {
    for family in FAMILIES {
        match family.kind {
            Kind::Counter => metrics::describe_counter!(family.name, family.help),
            Kind::Gauge => metrics::describe_gauge!(family.name, family.help),
            Kind::Histogram => metrics::describe_histogram!(family.name, family.help),
        }
    }
}

/// Why a family's name breaks the conventions, if it does.
pub fn naming_problem(family: &Family) -> Option<String> {
    let name = family.name;
    if !name.starts_with("strata_") {
        return Some(format!("{name}: not prefixed strata_"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Some(format!("{name}: not snake_case"));
    }
    let units = [
        "_seconds",
        "_bytes",
        "_messages",
        "_slots",
        "_running",
        "_executors",
        "_info",
    ];
    match family.kind {
        Kind::Counter if !name.ends_with("_total") => return Some(format!("{name}: a counter must end in _total")),
        Kind::Gauge | Kind::Histogram if name.ends_with("_total") => {
            return Some(format!("{name}: only counters end in _total"));
        }
        Kind::Histogram if !name.ends_with("_seconds") && !name.ends_with("_bytes") => {
            return Some(format!("{name}: a histogram must name its base unit"));
        }
        Kind::Gauge if !units.iter().any(|u| name.ends_with(u)) => {
            return Some(format!("{name}: a gauge must name its unit"));
        }
        _ => {}
    }
    if name.contains("_milliseconds") || name.contains("_ms") || name.contains("_kb") || name.contains("_mb") {
        return Some(format!("{name}: not in base units"));
    }
    family
        .labels
        .iter()
        .find(|l| !LABELS.contains(l))
        .map(|l| format!("{name}: label '{l}' is not one of the bounded labels"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_follows_the_naming_conventions_and_is_listed_once() {
        for family in FAMILIES {
            assert_eq!(naming_problem(family), None);
        }
        let mut names: Vec<_> = FAMILIES.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FAMILIES.len(), "a family is listed twice");
    }

    #[test]
    fn docs_observability_lists_every_family() {
        let doc = include_str!("../../docs/observability.md");
        for family in FAMILIES {
            assert!(
                doc.contains(&format!("`{}`", family.name)),
                "{} is not in docs/observability.md",
                family.name
            );
        }
    }

    #[test]
    fn the_naming_check_catches_what_it_is_for() {
        let bad = |name, kind, labels| {
            naming_problem(&Family {
                name,
                kind,
                help: "",
                labels,
            })
        };
        assert!(bad("runs_total", Kind::Counter, &[]).is_some());
        assert!(bad("strata_runs", Kind::Counter, &[]).is_some());
        assert!(bad("strata_lag_total", Kind::Gauge, &[]).is_some());
        assert!(bad("strata_run_duration_ms", Kind::Histogram, &[]).is_some());
        assert!(bad("strata_runs_total", Kind::Counter, &["run_id"]).is_some());
        assert!(bad("strata_runs_total", Kind::Counter, &["strata_job"]).is_none());
    }
}
