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
    /// A backfill's first and last event time (`YYYY-MM-DD` or RFC 3339).
    #[prost(string, tag = "7")]
    pub backfill_from: String,
    #[prost(string, tag = "8")]
    pub backfill_to: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SubmitResponse {
    #[prost(string, tag = "1")]
    pub run_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusRequest {
    #[prost(string, tag = "1")]
    pub run_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RunsRequest {
    /// Most recent first; 0 means all the scheduler remembers.
    #[prost(uint32, tag = "1")]
    pub limit: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RunsResponse {
    #[prost(message, repeated, tag = "1")]
    pub runs: Vec<RunInfo>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthRequest {}

/// The cluster as the scheduler sees it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthResponse {
    /// Executors with a recent heartbeat.
    #[prost(uint32, tag = "1")]
    pub alive_executors: u32,
}

/// A run and its stages. States are the words of `strata_planner::ledger::RunState`: a run is `running`,
/// `committing`, `succeeded` or `failed`; a stage `pending`, `running`, `retrying after: <error>`, `succeeded` or
/// `failed`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RunInfo {
    #[prost(string, tag = "1")]
    pub run_id: String,
    #[prost(string, tag = "2")]
    pub job: String,
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
    #[prost(message, repeated, tag = "7")]
    pub stages: Vec<StageInfo>,
    #[prost(message, repeated, tag = "8")]
    pub outputs: Vec<OutputInfo>,
    /// Kafka sources: what the run read and the lag it left.
    #[prost(message, repeated, tag = "9")]
    pub sources: Vec<SourceInfo>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SourceInfo {
    #[prost(string, tag = "1")]
    pub table: String,
    #[prost(string, tag = "2")]
    pub topic: String,
    #[prost(uint64, tag = "3")]
    pub messages: u64,
    #[prost(uint64, tag = "4")]
    pub malformed: u64,
    #[prost(int64, tag = "5")]
    pub lag: i64,
    #[prost(bool, tag = "6")]
    pub recovery: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StageInfo {
    #[prost(string, tag = "1")]
    pub name: String,
    /// `source`, `view`, `table` or `insert`.
    #[prost(string, tag = "2")]
    pub kind: String,
    #[prost(string, tag = "3")]
    pub state: String,
    #[prost(uint64, optional, tag = "4")]
    pub rows: Option<u64>,
    #[prost(uint64, tag = "5")]
    pub elapsed_ms: u64,
    /// How many times the stage was retried after a cluster failure.
    #[prost(uint32, tag = "6")]
    pub retries: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct OutputInfo {
    #[prost(string, tag = "1")]
    pub table: String,
    #[prost(string, tag = "2")]
    pub location: String,
    #[prost(uint64, tag = "3")]
    pub version: u64,
    #[prost(uint64, tag = "4")]
    pub rows: u64,
}

/// The generated client and server.
pub mod service {
    include!(concat!(env!("OUT_DIR"), "/strata.v1.JobService.rs"));
}
