//! Messages of the job service (`strata.v1.JobService`): submit a job file to the scheduler, follow its run.
//!
//! Written as prost types rather than generated from a `.proto` file so that building Strata needs no `protoc`;
//! field numbers are the wire contract and must never be reused.

use std::collections::HashMap;

/// A job file and its parameters, planned and run by the scheduler.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SubmitRequest {
    /// The path the user gave (used in error locations and reports).
    #[prost(string, tag = "1")]
    pub job_path: String,
    /// The job file's text.
    #[prost(string, tag = "2")]
    pub job_text: String,
    /// `--param name=value` pairs, bound as typed parameters server-side.
    #[prost(map = "string, string", tag = "3")]
    pub params: HashMap<String, String>,
    /// Warehouse root as seen by the cluster; empty means the scheduler's default.
    #[prost(string, tag = "4")]
    pub warehouse: String,
    /// Kafka bootstrap servers for `kafka:///topic` locations; empty means the scheduler's default.
    #[prost(string, tag = "5")]
    pub kafka_brokers: String,
    /// `incremental` (also when empty), `full-refresh` or `backfill`.
    #[prost(string, tag = "6")]
    pub mode: String,
    /// A backfill's first event time (`YYYY-MM-DD` or RFC 3339).
    #[prost(string, tag = "7")]
    pub backfill_from: String,
    /// A backfill's last event time, in the same forms.
    #[prost(string, tag = "8")]
    pub backfill_to: String,
}

/// The scheduler accepted and planned the job: its run is under way.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SubmitResponse {
    /// The run's id, for `Status`.
    #[prost(string, tag = "1")]
    pub run_id: String,
}

/// Ask for one run's state.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusRequest {
    /// The id `Submit` returned.
    #[prost(string, tag = "1")]
    pub run_id: String,
}

/// Ask for the runs the scheduler remembers (since it started).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RunsRequest {
    /// How many runs, most recent first; 0 means all the scheduler remembers.
    #[prost(uint32, tag = "1")]
    pub limit: u32,
}

/// The runs the scheduler remembers.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RunsResponse {
    /// Most recent first.
    #[prost(message, repeated, tag = "1")]
    pub runs: Vec<RunInfo>,
}

/// Ask whether the cluster can run work.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthRequest {}

/// The cluster as the scheduler sees it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthResponse {
    /// Executors with a recent heartbeat.
    #[prost(uint32, tag = "1")]
    pub alive_executors: u32,
    /// Ballista jobs queued or running (the stages of runs, and Flight SQL queries).
    #[prost(uint32, tag = "2")]
    pub running_jobs: u32,
}

/// A run and its stages. States are the words of `strata_planner::ledger::RunState`: a run is `running`,
/// `committing`, `succeeded` or `failed`; a stage `pending`, `running`, `retrying after: <error>`, `succeeded` or
/// `failed`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RunInfo {
    /// The run's id.
    #[prost(string, tag = "1")]
    pub run_id: String,
    /// The job's path as submitted.
    #[prost(string, tag = "2")]
    pub job: String,
    /// `running`, `committing`, `succeeded` or `failed`.
    #[prost(string, tag = "3")]
    pub state: String,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "4")]
    pub started_at_ms: i64,
    /// 0 while running.
    #[prost(int64, tag = "5")]
    pub ended_at_ms: i64,
    /// Why the run failed (empty otherwise).
    #[prost(string, tag = "6")]
    pub error: String,
    /// The job's stages, in plan order.
    #[prost(message, repeated, tag = "7")]
    pub stages: Vec<StageInfo>,
    /// The tables a succeeded run committed.
    #[prost(message, repeated, tag = "8")]
    pub outputs: Vec<OutputInfo>,
    /// Kafka sources: what the run read and the lag it left.
    #[prost(message, repeated, tag = "9")]
    pub sources: Vec<SourceInfo>,
}

/// What a run read from one Kafka source.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SourceInfo {
    /// The source table's name in the job.
    #[prost(string, tag = "1")]
    pub table: String,
    /// The topic it reads.
    #[prost(string, tag = "2")]
    pub topic: String,
    /// Messages read, malformed ones included.
    #[prost(uint64, tag = "3")]
    pub messages: u64,
    /// Messages that did not decode (they went to the dead-letter table).
    #[prost(uint64, tag = "4")]
    pub malformed: u64,
    /// Messages left in the topic after the run, summed over partitions.
    #[prost(int64, tag = "5")]
    pub lag: i64,
    /// The previous run stopped between its commits and this one replayed its range.
    #[prost(bool, tag = "6")]
    pub recovery: bool,
}

/// One stage of a run.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StageInfo {
    /// The stage's name (its table or view).
    #[prost(string, tag = "1")]
    pub name: String,
    /// `source`, `view`, `table` or `insert`.
    #[prost(string, tag = "2")]
    pub kind: String,
    /// `pending`, `running`, `succeeded`, `failed` or `retrying after: <error>`.
    #[prost(string, tag = "3")]
    pub state: String,
    /// Rows the stage produced, once it succeeded (when known).
    #[prost(uint64, optional, tag = "4")]
    pub rows: Option<u64>,
    /// How long the stage ran, in milliseconds.
    #[prost(uint64, tag = "5")]
    pub elapsed_ms: u64,
    /// How many times the stage was retried after a cluster failure.
    #[prost(uint32, tag = "6")]
    pub retries: u32,
}

/// One table a run committed.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OutputInfo {
    /// The table's name.
    #[prost(string, tag = "1")]
    pub table: String,
    /// Its location: a Delta table's root, or the address of a Kafka topic or PostgreSQL table.
    #[prost(string, tag = "2")]
    pub location: String,
    /// The Delta version the commit created; 0 for Kafka and PostgreSQL, which have no versions.
    #[prost(uint64, tag = "3")]
    pub version: u64,
    /// Rows written.
    #[prost(uint64, tag = "4")]
    pub rows: u64,
}

/// The generated client and server (tonic-build writes them; their items carry no docs of their own).
#[allow(missing_docs)]
pub mod service {
    include!(concat!(env!("OUT_DIR"), "/strata.v1.JobService.rs"));
}
