//! Strata's planner: turns a parsed job file into a DAG of stages (by following table references), plans every
//! stage into a bound DataFusion logical plan before anything runs, and runs the DAG on the embedded engine —
//! independent stages concurrently, output tables committed only when every stage has succeeded.

#![warn(missing_docs)]

mod commit;
pub mod config;
pub mod confine;
pub mod dag;
mod declare;
pub mod engine;
pub mod error;
mod expect;
pub mod explain;
mod finalize;
mod fresh;
mod insert;
mod kafka;
pub mod ledger;
pub mod maintain;
pub mod memory;
mod merge;
pub mod metrics;
pub mod modes;
mod outcome;
mod output;
pub mod params;
pub mod plan;
pub mod probes;
pub mod report;
mod retry;
pub mod run;
mod stage;
pub mod stop;
pub mod tasks;

pub use config::{StrataOptions, embedded_state, new_context};
pub use confine::Confinement;
pub use dag::{Stage, StageDag};
pub use engine::Engine;
pub use error::{PlannerError, Result};
pub use explain::explain;
pub use modes::RunMode;
pub use params::Params;
pub use plan::{PlannedJob, plan_job, plan_job_confined, plan_job_with};
pub use report::{EventSink, JobEvent, RunSummary};
pub use run::{run, run_as, run_stoppable};
pub use stop::StopHandle;

/// Load, parse and plan a job file.
pub async fn load_and_plan(path: &str, options: StrataOptions, params: &Params) -> Result<PlannedJob> {
    let job = strata_sql::JobFile::load(path)?;
    plan_job(job, options, params).await
}
