//! The one error type of the `strata` command line. Each failure has its own variant, wrapped errors stay
//! reachable as its `source`, and the messages are the ones users (and the tests) read.

use std::path::PathBuf;

use strata_planner::PlannerError;

/// Errors the CLI reports before exiting non-zero.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Arguments that do not fit together, or a value that does not parse.
    #[error("{0}")]
    Usage(String),
    /// Planning, running or recording a job failed, or a run ledger could not be opened or read.
    #[error(transparent)]
    Planner(Box<PlannerError>),
    /// A table the CLI writes itself (`generate`'s output) could not be located or written.
    #[error(transparent)]
    Connector(Box<strata_connectors::ConnectorError>),
    /// A job file that cannot be read or whose directives are malformed.
    #[error(transparent)]
    JobFile(Box<strata_sql::SqlError>),
    /// `generate` was given values it cannot use (no symbols or too many, an end before the start, a defect rate
    /// outside `[0, 1]`), or building its batches failed.
    #[error("generating data: {0}")]
    Generate(#[from] datafusion::arrow::error::ArrowError),
    /// A file or directory the CLI reads or writes itself (job directories, schedule state, cluster logs).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A scheduler address that does not make a URI (`http://HOST:PORT`).
    #[error("bad scheduler address '{addr}': {source}")]
    BadAddress {
        /// The address as given.
        addr: String,
        /// Why it does not parse.
        #[source]
        source: tonic::codegen::http::uri::InvalidUri,
    },
    /// No connection to the scheduler could be made: refused, unresolvable, or not within the connect timeout.
    #[error("cannot reach the Strata scheduler at {addr}: {source}")]
    Unreachable {
        /// The scheduler's address, `HOST:PORT`.
        addr: String,
        /// The transport's error.
        #[source]
        source: tonic::transport::Error,
    },
    /// The scheduler refused the request as asked: an invalid job, an unknown run.
    #[error("{}", source.message())]
    Rejected {
        /// The scheduler's answer (`InvalidArgument` or `NotFound`); its message is this error's.
        #[source]
        source: Box<tonic::Status>,
    },
    /// Any other failure of a call to the scheduler.
    #[error("scheduler at {addr}: {}", source.message())]
    SchedulerCall {
        /// The scheduler's address, `HOST:PORT`.
        addr: String,
        /// The call's status.
        #[source]
        source: Box<tonic::Status>,
    },
    /// A run followed to its end (`submit --wait`) failed.
    #[error("run {run_id} failed: {error}")]
    RunFailed {
        /// The run's id.
        run_id: String,
        /// The error the run ended with, as the scheduler reports it.
        error: String,
    },
    /// `strata scheduler` could not start or stopped serving.
    #[error(transparent)]
    Scheduler(Box<strata_scheduler::SchedulerError>),
    /// `strata executor` could not start or stopped serving.
    #[error(transparent)]
    Executor(Box<strata_executor::ExecutorError>),
    /// Serving or querying Arrow Flight SQL. Boxed as an error object so that this type does not name the
    /// crate the Flight SQL code lives in.
    #[error(transparent)]
    Flight(Box<dyn std::error::Error + Send + Sync>),
    /// `cluster up` cannot tell the path of the running `strata` binary, which it starts the cluster's processes
    /// with.
    #[error("cannot find the strata binary: {source}")]
    CurrentExe {
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A process of the local cluster could not be started.
    #[error("cannot start {what}: {source}")]
    Spawn {
        /// The process: `scheduler` or `executor-<i>`.
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// `cluster up` found the state file of a cluster already up in its directory, and started nothing.
    #[error("a cluster is already up ({}); run `strata cluster down --dir {}` first", path.display(), dir.display())]
    AlreadyUp {
        /// The existing state file.
        path: PathBuf,
        /// The cluster's directory.
        dir: PathBuf,
    },
    /// The scheduler `cluster up` started did not say where it listens in time; it has been killed.
    #[error("the scheduler did not start within {seconds} s; see {}", log.display())]
    SchedulerDidNotStart {
        /// The scheduler's log file.
        log: PathBuf,
        /// How long `cluster up` waited.
        seconds: u64,
    },
    /// The scheduler did not report every executor of `cluster up` alive in time; the cluster has been stopped.
    #[error("the cluster did not come up within {seconds} s; see the logs in {}{logs}", dir.display())]
    ClusterDidNotStart {
        /// The cluster's directory, holding every process's log.
        dir: PathBuf,
        /// How long `cluster up` waited.
        seconds: u64,
        /// The last lines of the scheduler's and every executor's log, each under its name.
        logs: String,
    },
    /// A process of `cluster up` exited while the cluster was starting (an executor after its last restart);
    /// the cluster has been stopped.
    #[error("{name} exited while the cluster was starting ({status}); the end of {}:\n{tail}", log.display())]
    ProcessExited {
        /// `scheduler` or `executor-N`.
        name: String,
        /// How it exited.
        status: std::process::ExitStatus,
        /// Its log file.
        log: PathBuf,
        /// The last lines of its log.
        tail: String,
    },
    /// `cluster down` could not read the directory's state file: no cluster is up there.
    #[error("no cluster is up here ({} not found)", path.display())]
    NoCluster {
        /// The state file looked for.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The state file `cluster up` leaves for `cluster down` could not be written or removed.
    #[error("{source}")]
    StateFile {
        /// The state file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not what `cluster up` writes.
    #[error("{source}")]
    StateJson {
        /// The state file.
        path: PathBuf,
        /// Why it does not parse (or, writing it, serialize).
        #[source]
        source: serde_json::Error,
    },
    /// `schedule --once`: some due runs failed every attempt.
    #[error("{failed} scheduled run(s) failed")]
    ScheduledRunsFailed {
        /// How many due runs failed every attempt.
        failed: usize,
    },
}

impl CliError {
    /// An I/O failure on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> CliError {
        let path = path.into();
        move |source| CliError::Io { path, source }
    }
}

impl From<PlannerError> for CliError {
    fn from(e: PlannerError) -> Self {
        CliError::Planner(Box::new(e))
    }
}

impl From<strata_connectors::ConnectorError> for CliError {
    fn from(e: strata_connectors::ConnectorError) -> Self {
        CliError::Connector(Box::new(e))
    }
}

impl From<strata_sql::SqlError> for CliError {
    fn from(e: strata_sql::SqlError) -> Self {
        CliError::JobFile(Box::new(e))
    }
}

impl From<strata_scheduler::SchedulerError> for CliError {
    fn from(e: strata_scheduler::SchedulerError) -> Self {
        CliError::Scheduler(Box::new(e))
    }
}

impl From<strata_executor::ExecutorError> for CliError {
    fn from(e: strata_executor::ExecutorError) -> Self {
        CliError::Executor(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;

    #[test]
    fn messages_read_as_before_and_keep_their_source() {
        let gone = || std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = CliError::NoCluster {
            path: "/c/cluster.json".into(),
            source: gone(),
        };
        assert_eq!(e.to_string(), "no cluster is up here (/c/cluster.json not found)");
        assert!(e.source().is_some());
        let e = CliError::io("/jobs")(gone());
        assert_eq!(e.to_string(), "/jobs: gone");
        let e = CliError::RunFailed {
            run_id: "r1".into(),
            error: "boom".into(),
        };
        assert_eq!(e.to_string(), "run r1 failed: boom");
        let e = CliError::SchedulerCall {
            addr: "h:1".into(),
            source: Box::new(tonic::Status::unavailable("down")),
        };
        assert_eq!(e.to_string(), "scheduler at h:1: down");
        let e = CliError::Rejected {
            source: Box::new(tonic::Status::not_found("no run 'x' on this scheduler")),
        };
        assert_eq!(e.to_string(), "no run 'x' on this scheduler");
        let e = CliError::AlreadyUp {
            path: "/c/cluster.json".into(),
            dir: "/c".into(),
        };
        assert_eq!(
            e.to_string(),
            "a cluster is already up (/c/cluster.json); run `strata cluster down --dir /c` first"
        );
        assert_eq!(
            CliError::SchedulerDidNotStart {
                log: "/c/scheduler.log".into(),
                seconds: 60
            }
            .to_string(),
            "the scheduler did not start within 60 s; see /c/scheduler.log"
        );
    }
}
