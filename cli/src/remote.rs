//! A client of a Strata scheduler's job service: connect with a bounded timeout, turn call failures into the
//! CLI's errors (a refusal as the scheduler worded it, anything else naming the scheduler), and follow a run to
//! its end.

use std::time::Duration;

use strata_planner::ledger::RunState;
use strata_proto::job::service::job_service_client::JobServiceClient;
use strata_proto::job::{RunInfo, StatusRequest};
use tonic::transport::Channel;

use crate::error::CliError;

/// A job-service client.
pub type Client = JobServiceClient<Channel>;

/// How long connecting may take: an address nobody listens on fails at once, a dead host within this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a followed run's state is asked for.
const POLL: Duration = Duration::from_millis(250);

/// Connect to the scheduler at `addr` (`HOST:PORT`).
pub async fn connect(addr: &str) -> Result<Client, CliError> {
    let endpoint = Channel::from_shared(format!("http://{addr}"))
        .map_err(|source| CliError::BadAddress {
            addr: addr.to_string(),
            source,
        })?
        .connect_timeout(CONNECT_TIMEOUT);
    let channel = endpoint.connect().await.map_err(|source| CliError::Unreachable {
        addr: addr.to_string(),
        source,
    })?;
    Ok(JobServiceClient::new(channel).max_decoding_message_size(64 << 20))
}

/// The error of a failed call to the scheduler at `addr`.
pub fn call_error(addr: &str) -> impl Fn(tonic::Status) -> CliError + '_ {
    move |status| match status.code() {
        tonic::Code::InvalidArgument | tonic::Code::NotFound => CliError::Rejected {
            source: Box::new(status),
        },
        _ => CliError::SchedulerCall {
            addr: addr.to_string(),
            source: Box::new(status),
        },
    }
}

/// Ask for `run_id` until it has succeeded or failed; returns its last state.
pub async fn follow(client: &mut Client, addr: &str, run_id: &str) -> Result<RunInfo, CliError> {
    loop {
        let run = client
            .status(StatusRequest {
                run_id: run_id.to_string(),
            })
            .await
            .map_err(call_error(addr))?
            .into_inner();
        if matches!(
            run.state.parse::<RunState>(),
            Ok(RunState::Succeeded | RunState::Failed)
        ) {
            return Ok(run);
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_as_the_scheduler_worded_them() {
        let error = call_error("h:1");
        let refused = error(tonic::Status::invalid_argument("bad.sql:1:16: syntax error"));
        assert!(matches!(refused, CliError::Rejected { .. }));
        assert_eq!(refused.to_string(), "bad.sql:1:16: syntax error");
        let failed = error(tonic::Status::internal("run registry poisoned"));
        assert_eq!(failed.to_string(), "scheduler at h:1: run registry poisoned");
    }

    #[tokio::test]
    async fn nobody_listening_is_unreachable_and_a_bad_address_is_named() {
        let err = connect("127.0.0.1:1").await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot reach the Strata scheduler at 127.0.0.1:1"),
            "{err}"
        );
        assert!(matches!(connect("bad host:1").await, Err(CliError::BadAddress { .. })));
    }
}
