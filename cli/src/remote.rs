//! A client of a Strata scheduler's job service: connect (plain or TLS, presenting a client certificate when the
//! scheduler requires one) with a bounded timeout, log in, turn call failures into the CLI's errors (a refusal as
//! the scheduler worded it, anything else naming the scheduler), and follow a run to its end.
//!
//! Login: the first call carries HTTP Basic credentials; the scheduler answers with a bearer token, which every
//! later call of the client carries instead (the password crosses the wire once).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_flight::client::ClientOptions;
use strata_planner::ledger::RunState;
use strata_proto::job::service::job_service_client::JobServiceClient;
use strata_proto::job::{
    HealthRequest, HealthResponse, RunInfo, RunsRequest, RunsResponse, StatusRequest, SubmitRequest, SubmitResponse,
};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::error::CliError;

const AUTHORIZATION: &str = "authorization";

/// How long connecting may take: an address nobody listens on fails at once, a dead host within this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a followed run's state is asked for.
const POLL: Duration = Duration::from_millis(250);

/// The `authorization` header a client's calls carry: Basic credentials until the scheduler answers with a
/// bearer token, then the token.
#[derive(Clone, Default)]
pub struct Login(Arc<Mutex<Option<MetadataValue<Ascii>>>>);

impl Interceptor for Login {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = self.0.lock().ok().and_then(|g| g.clone()) {
            request.metadata_mut().insert(AUTHORIZATION, value);
        }
        Ok(request)
    }
}

/// A logged-in job-service client.
pub struct Client {
    inner: JobServiceClient<InterceptedService<Channel, Login>>,
    login: Login,
}

impl Client {
    /// Keep the bearer token a response carries for the calls that follow.
    fn remember<T>(&self, response: Response<T>) -> T {
        if let Some(value) = response.metadata().get(AUTHORIZATION)
            && value.to_str().is_ok_and(|v| v.starts_with("Bearer "))
            && let Ok(mut guard) = self.login.0.lock()
        {
            *guard = Some(value.clone());
        }
        response.into_inner()
    }

    /// Submit a job.
    pub async fn submit(&mut self, request: SubmitRequest) -> Result<SubmitResponse, Status> {
        let response = self.inner.submit(request).await?;
        Ok(self.remember(response))
    }

    /// A run's state.
    pub async fn status(&mut self, request: StatusRequest) -> Result<RunInfo, Status> {
        let response = self.inner.status(request).await?;
        Ok(self.remember(response))
    }

    /// The caller's runs, newest first.
    pub async fn runs(&mut self, request: RunsRequest) -> Result<RunsResponse, Status> {
        let response = self.inner.runs(request).await?;
        Ok(self.remember(response))
    }

    /// The cluster's health.
    pub async fn health(&mut self) -> Result<HealthResponse, Status> {
        let response = self.inner.health(HealthRequest {}).await?;
        Ok(self.remember(response))
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the login: it holds credentials.
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

/// Connect to the scheduler's job service at `addr` (`HOST:PORT`) without credentials (a local cluster).
pub async fn connect(addr: &str) -> Result<Client, CliError> {
    connect_as(&ClientOptions {
        server: addr.to_string(),
        ..Default::default()
    })
    .await
}

/// Connect to the job service at `options.server` with the options' TLS settings, logging in with their
/// credentials on the first call.
pub async fn connect_as(options: &ClientOptions) -> Result<Client, CliError> {
    let addr = options.server.as_str();
    let channel = match &options.tls_ca {
        None => Channel::from_shared(format!("http://{addr}"))
            .map_err(|source| CliError::BadAddress {
                addr: addr.to_string(),
                source,
            })?
            .connect_timeout(CONNECT_TIMEOUT)
            .connect()
            .await
            .map_err(|source| CliError::Unreachable {
                addr: addr.to_string(),
                source,
            })?,
        Some(_) => tokio::time::timeout(CONNECT_TIMEOUT, strata_flight::client::channel(options))
            .await
            .map_err(|_| CliError::Usage(format!("cannot reach the Strata scheduler at {addr}: timed out")))?
            .map_err(|e| CliError::Flight(Box::new(e)))?,
    };
    let header = match &options.credentials {
        None => None,
        Some((user, password)) => {
            let encoded = base64_encode(format!("{user}:{password}").as_bytes());
            Some(
                MetadataValue::try_from(format!("Basic {encoded}"))
                    .map_err(|_| CliError::Usage("the user name cannot be sent in a header".into()))?,
            )
        }
    };
    let login = Login(Arc::new(Mutex::new(header)));
    let inner = JobServiceClient::with_interceptor(channel, login.clone()).max_decoding_message_size(64 << 20);
    Ok(Client { inner, login })
}

/// Standard base64 with padding (RFC 4648), for the Basic header.
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The error of a failed call to the scheduler at `addr`.
pub fn call_error(addr: &str) -> impl Fn(tonic::Status) -> CliError + '_ {
    move |status| match status.code() {
        tonic::Code::InvalidArgument
        | tonic::Code::NotFound
        | tonic::Code::PermissionDenied
        | tonic::Code::Unauthenticated => CliError::Rejected {
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
            .map_err(call_error(addr))?;
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
    fn basic_credentials_are_standard_base64() {
        assert_eq!(base64_encode(b"alice:s3cret"), "YWxpY2U6czNjcmV0");
        assert_eq!(base64_encode(b"a"), "YQ==");
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(base64_encode(b""), "");
    }

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
