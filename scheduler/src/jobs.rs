//! The job service: submitted job files are planned at once (so an invalid job or a missing table is an error
//! of the submit call), then run here, in the scheduler, with each run's state kept for `status` and `runs`.
//!
//! A watchdog fails a run when no executor has been alive for a while: Ballista keeps a job queued forever when
//! its cluster is empty, and a user must hear why instead.
//!
//! Every call is authenticated with the users file the scheduler was given (the one Flight SQL uses): HTTP Basic
//! credentials are answered with a bearer token (an `authorization` response header) that later calls send
//! instead. A user sees only the runs they submitted. A submitted job is planned confined to the warehouse and
//! the roots the operator allowed ([`Confinement`]): a location outside them is refused before anything opens
//! it. While the scheduler drains (SIGTERM), submissions are refused and running runs finish or fail.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use strata_flight::auth::{Authenticator, bearer_header};
use strata_planner::ledger::RunState;
use strata_planner::report::JobEvent;
use strata_planner::{
    Confinement, Engine, EventSink, Params, RunMode, StopHandle, StrataOptions, plan_job_confined, run_stoppable,
};
use strata_proto::job::service::job_service_server;
use strata_proto::job::{
    HealthRequest, HealthResponse, OutputInfo, RunInfo, RunsRequest, RunsResponse, SourceInfo, StageInfo,
    StatusRequest, SubmitRequest, SubmitResponse,
};
use tonic::{Request, Response, Status};

/// The Ballista scheduler type Strata runs.
pub type Scheduler = SchedulerServer<LogicalPlanNode, PhysicalPlanNode>;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Default)]
struct Runs {
    /// Run ids, oldest first.
    order: Vec<String>,
    runs: HashMap<String, RunInfo>,
    /// Who submitted each run.
    owners: HashMap<String, String>,
    /// How to stop each run that has not ended, before its commit (the drain's last resort).
    stops: HashMap<String, StopHandle>,
}

/// The authenticated caller of a job-service call.
struct Caller {
    user: String,
    /// A bearer token issued for Basic credentials, sent back so later calls need no password.
    token: Option<String>,
}

impl Caller {
    /// `response`, with the caller's new bearer token as its `authorization` header.
    fn answer<T>(&self, message: T) -> Result<Response<T>, Status> {
        let mut response = Response::new(message);
        if let Some(token) = &self.token {
            response
                .metadata_mut()
                .insert(strata_flight::auth::AUTHORIZATION, bearer_header(token)?);
        }
        Ok(response)
    }
}

type Shared = Arc<Mutex<Runs>>;

fn update(runs: &Shared, run_id: &str, f: impl FnOnce(&mut RunInfo)) {
    if let Ok(mut guard) = runs.lock()
        && let Some(run) = guard.runs.get_mut(run_id)
    {
        f(run);
    }
}

/// Strata's job service, served next to Ballista's scheduler.
#[derive(Clone)]
pub struct JobService {
    scheduler: Scheduler,
    /// How this process reaches its own Ballista scheduler.
    address: String,
    warehouse: String,
    /// Where runs are recorded (empty: the warehouse's ledger).
    ledger: String,
    /// Crash tests only: where runs abort their commit.
    failpoint: String,
    executor_timeout: Duration,
    no_executor_timeout: Duration,
    runs: Shared,
    auth: Arc<Authenticator>,
    confinement: Option<Confinement>,
    /// False once the scheduler drains: submissions are refused.
    accepting: Arc<AtomicBool>,
    /// Where runs find their stages' tasks when they end.
    task_log: Option<Arc<dyn strata_planner::tasks::TaskLog>>,
}

impl JobService {
    /// A job service running jobs on `scheduler`, which this process reaches at `address` (`host:port`). Submitted
    /// jobs default to `warehouse` and are recorded in `ledger` (empty: each warehouse's own); an executor silent
    /// for `executor_timeout` is lost, and a run fails once no executor has been alive for `no_executor_timeout`.
    pub fn new(
        scheduler: Scheduler,
        address: String,
        warehouse: String,
        ledger: String,
        executor_timeout: Duration,
        no_executor_timeout: Duration,
    ) -> Self {
        Self {
            scheduler,
            address,
            warehouse,
            ledger,
            failpoint: String::new(),
            executor_timeout,
            no_executor_timeout,
            runs: Arc::default(),
            auth: Arc::new(Authenticator::new(None, true)),
            confinement: None,
            accepting: Arc::new(AtomicBool::new(true)),
            task_log: None,
        }
    }

    /// Runs record their stages' tasks from `log` when they end.
    pub fn with_task_log(mut self, log: Arc<dyn strata_planner::tasks::TaskLog>) -> Self {
        self.task_log = Some(log);
        self
    }

    /// Calls are authenticated by `auth` (without it, any caller is taken as anonymous: local development).
    pub fn with_auth(mut self, auth: Arc<Authenticator>) -> Self {
        self.auth = auth;
        self
    }

    /// Submitted jobs, and the warehouses they name, are confined to `confinement`.
    pub fn with_confinement(mut self, confinement: Confinement) -> Self {
        self.confinement = Some(confinement);
        self
    }

    fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let metadata = request.metadata();
        let basic = metadata
            .get(strata_flight::auth::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.len() > 6 && v[..6].eq_ignore_ascii_case("basic "));
        if basic {
            let (user, token) = self.auth.handshake(metadata)?;
            return Ok(Caller {
                user,
                token: Some(token),
            });
        }
        Ok(Caller {
            user: self.auth.authorize(metadata)?,
            token: None,
        })
    }

    /// Stop taking submissions, then wait for the runs in progress to end, for at most `timeout`; runs still
    /// running then are stopped before their commit (nothing of theirs is committed; the ledger records them as
    /// failed). Runs already committing are given until they end. Returns how many runs were stopped.
    pub async fn drain(&self, timeout: Duration) -> usize {
        /// However long committing runs take, the drain ends this long after its timeout.
        const COMMIT_GRACE: Duration = Duration::from_secs(120);
        self.accepting.store(false, Ordering::Release);
        let start = std::time::Instant::now();
        let mut stopped = std::collections::HashSet::new();
        loop {
            let active = match self.runs.lock() {
                Ok(guard) => {
                    let active: Vec<String> = guard
                        .runs
                        .values()
                        .filter(|r| !matches!(r.state.parse::<RunState>(), Ok(RunState::Succeeded | RunState::Failed)))
                        .map(|r| r.run_id.clone())
                        .collect();
                    if start.elapsed() >= timeout {
                        for run_id in &active {
                            // `stop` refuses a run that has begun committing: it finishes.
                            if !stopped.contains(run_id)
                                && guard.stops.get(run_id).is_some_and(|h| {
                                    h.stop("the scheduler was stopped (SIGTERM) and its drain timeout passed")
                                })
                            {
                                tracing::warn!(run_id, "drain timeout: stopping the run");
                                stopped.insert(run_id.clone());
                            }
                        }
                    }
                    active.len()
                }
                Err(_) => return stopped.len(),
            };
            if active == 0 || start.elapsed() >= timeout + COMMIT_GRACE {
                return stopped.len();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Whether submissions are taken (false while draining).
    pub fn is_accepting(&self) -> bool {
        self.accepting.load(Ordering::Acquire)
    }

    /// Runs abort their commit at `failpoint` (crash tests only).
    pub fn with_failpoint(mut self, failpoint: String) -> Self {
        self.failpoint = failpoint;
        self
    }

    /// Every registered executor, for the console: where it is, its slots, and how recent its heartbeat is.
    pub(crate) async fn executors(&self) -> Vec<strata_flight::console::ExecutorInfo> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        match self.scheduler.state.executor_manager.get_executors_state().await {
            Ok(states) => states
                .into_iter()
                .map(|(meta, heartbeat, _)| {
                    let ago = heartbeat.map(|hb| now.saturating_sub(hb));
                    strata_flight::console::ExecutorInfo {
                        id: meta.id,
                        host: meta.host,
                        port: meta.port,
                        slots: meta.specification.vcores,
                        heartbeat_seconds_ago: ago.map(|a| a.as_secs()),
                        alive: ago.is_some_and(|a| a <= self.executor_timeout),
                    }
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Executors whose last heartbeat is recent.
    pub(crate) async fn alive_executors(&self) -> usize {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        match self.scheduler.state.executor_manager.get_executors_state().await {
            Ok(states) => states
                .iter()
                .filter(|(_, heartbeat, _)| heartbeat.is_some_and(|hb| now.saturating_sub(hb) <= self.executor_timeout))
                .count(),
            Err(_) => 0,
        }
    }

    fn sink(&self, run_id: &str) -> EventSink {
        let runs = self.runs.clone();
        let run_id = run_id.to_string();
        Arc::new(move |event: JobEvent| {
            update(&runs, &run_id, |run| match event {
                JobEvent::StageStarted { index, .. } => {
                    if let Some(stage) = run.stages.get_mut(index) {
                        stage.state = RunState::Running.to_string();
                    }
                }
                JobEvent::StageFinished {
                    index, rows, elapsed, ..
                } => {
                    if let Some(stage) = run.stages.get_mut(index) {
                        stage.state = RunState::Succeeded.to_string();
                        stage.rows = rows;
                        stage.elapsed_ms = elapsed.as_millis() as u64;
                    }
                }
                JobEvent::StageRetried { index, error, .. } => {
                    if let Some(stage) = run.stages.get_mut(index) {
                        stage.retries += 1;
                        stage.state = RunState::retrying_after(error);
                    }
                }
                JobEvent::Committing { .. } => run.state = RunState::Committing.to_string(),
                JobEvent::Committed { .. } | JobEvent::Planned { .. } => {}
            })
        })
    }
}

#[tonic::async_trait]
impl job_service_server::JobService for JobService {
    async fn submit(&self, request: Request<SubmitRequest>) -> Result<Response<SubmitResponse>, Status> {
        let caller = self.caller(&request)?;
        if !self.is_accepting() {
            return Err(Status::unavailable(
                "the scheduler is shutting down and takes no new run: submit again once it is back",
            ));
        }
        let request = request.into_inner();
        let job = strata_sql::job::parse_job(&request.job_path, &request.job_text)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let mut params = Params::default();
        for (name, value) in &request.params {
            params.insert(name.clone(), value.clone());
        }
        let warehouse = if request.warehouse.is_empty() {
            self.warehouse.clone()
        } else {
            request.warehouse.clone()
        };
        if let Some(confinement) = &self.confinement {
            confinement
                .check(&warehouse)
                .map_err(|e| Status::permission_denied(format!("warehouse of {}: {e}", request.job_path)))?;
        }
        let own_brokers = std::env::var("STRATA_KAFKA_BROKERS").unwrap_or_default();
        // The brokers of `kafka:///topic` locations are the operator's: a confined submitter names none.
        if self.confinement.as_ref().is_some_and(|c| !c.allows_anything())
            && !request.kafka_brokers.is_empty()
            && request.kafka_brokers != own_brokers
        {
            return Err(Status::permission_denied(format!(
                "{}: a submitted job cannot choose the Kafka brokers (--kafka-brokers): this scheduler's are used",
                request.job_path
            )));
        }
        let options = StrataOptions::default()
            .with_warehouse(warehouse)
            .with_kafka_brokers(if request.kafka_brokers.is_empty() {
                own_brokers
            } else {
                request.kafka_brokers.clone()
            })
            .with_ledger(self.ledger.clone())
            .with_failpoint(self.failpoint.clone());
        let engine = Engine::Cluster {
            scheduler: self.address.clone(),
        };
        let mode = RunMode::parse(&request.mode, &request.backfill_from, &request.backfill_to)
            .map_err(Status::invalid_argument)?;
        let mut planned = plan_job_confined(job, options, &params, engine, mode, self.confinement.clone())
            .await
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        planned.task_log = self.task_log.clone();

        let run_id = uuid::Uuid::new_v4().to_string();
        let stages = planned
            .dag
            .stages
            .iter()
            .map(|s| StageInfo {
                name: s.name.clone(),
                kind: s.kind().to_string(),
                state: RunState::Pending.to_string(),
                ..Default::default()
            })
            .collect();
        let info = RunInfo {
            run_id: run_id.clone(),
            job: request.job_path.clone(),
            state: RunState::Running.to_string(),
            started_at_ms: now_ms(),
            stages,
            ..Default::default()
        };
        let stop = StopHandle::default();
        {
            let mut guard = self
                .runs
                .lock()
                .map_err(|_| Status::internal("run registry poisoned"))?;
            // Checked again under the registry's lock: a drain that began while this job was planned sees the
            // run (and can stop it), or the run is refused here.
            if !self.is_accepting() {
                return Err(Status::unavailable(
                    "the scheduler is shutting down and takes no new run: submit again once it is back",
                ));
            }
            guard.order.push(run_id.clone());
            guard.runs.insert(run_id.clone(), info);
            guard.owners.insert(run_id.clone(), caller.user.clone());
            guard.stops.insert(run_id.clone(), stop.clone());
        }
        tracing::info!(run_id, job = %request.job_path, user = %caller.user, "run submitted");

        let service = self.clone();
        let id = run_id.clone();
        tokio::spawn(async move { service.drive(planned, id, stop).await });
        caller.answer(SubmitResponse { run_id })
    }

    async fn status(&self, request: Request<StatusRequest>) -> Result<Response<RunInfo>, Status> {
        let caller = self.caller(&request)?;
        let run_id = request.into_inner().run_id;
        let run = {
            let guard = self
                .runs
                .lock()
                .map_err(|_| Status::internal("run registry poisoned"))?;
            // Another user's run is answered like a missing one: its existence is not theirs to learn.
            guard
                .runs
                .get(&run_id)
                .filter(|_| guard.owners.get(&run_id) == Some(&caller.user))
                .cloned()
        };
        match run {
            Some(run) => caller.answer(run),
            None => Err(Status::not_found(format!(
                "no run '{run_id}' of yours on this scheduler"
            ))),
        }
    }

    async fn health(&self, request: Request<HealthRequest>) -> Result<Response<HealthResponse>, Status> {
        let caller = self.caller(&request)?;
        caller.answer(HealthResponse {
            alive_executors: self.alive_executors().await as u32,
            running_jobs: (self.scheduler.state.task_manager.running_job_number()
                + self.scheduler.state.task_manager.pending_job_number()) as u32,
        })
    }

    async fn runs(&self, request: Request<RunsRequest>) -> Result<Response<RunsResponse>, Status> {
        let caller = self.caller(&request)?;
        let limit = request.into_inner().limit as usize;
        let runs = {
            let guard = self
                .runs
                .lock()
                .map_err(|_| Status::internal("run registry poisoned"))?;
            let mut runs: Vec<RunInfo> = guard
                .order
                .iter()
                .rev()
                .filter(|id| guard.owners.get(*id) == Some(&caller.user))
                .filter_map(|id| guard.runs.get(id).cloned())
                .collect();
            if limit > 0 {
                runs.truncate(limit);
            }
            runs
        };
        caller.answer(RunsResponse { runs })
    }
}

impl JobService {
    /// Run a planned job to the end, failing it when the cluster has had no executor for too long.
    async fn drive(&self, planned: strata_planner::PlannedJob, run_id: String, stop: StopHandle) {
        let sink = self.sink(&run_id);
        let mut task = tokio::spawn(run_stoppable(planned, Some(sink), run_id.clone(), stop));
        let mut without_executors = Duration::ZERO;
        let tick = Duration::from_secs(1);
        let outcome = loop {
            tokio::select! {
                joined = &mut task => break match joined {
                    Ok(Ok(summary)) => Ok(summary),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(e) => Err(format!("run task ended abnormally: {e}")),
                },
                _ = tokio::time::sleep(tick) => {
                    let committing = self
                        .runs
                        .lock()
                        .map(|g| g.runs.get(&run_id).is_some_and(|r| r.state == RunState::Committing.as_str()))
                        .unwrap_or(false);
                    if committing || self.alive_executors().await > 0 {
                        without_executors = Duration::ZERO;
                        continue;
                    }
                    without_executors += tick;
                    if without_executors >= self.no_executor_timeout {
                        task.abort();
                        break Err(format!(
                            "no executor alive for {} s: all executors were lost; the run was stopped and \
                             nothing was committed",
                            self.no_executor_timeout.as_secs()
                        ));
                    }
                }
            }
        };
        if let Ok(mut guard) = self.runs.lock() {
            guard.stops.remove(&run_id);
        }
        update(&self.runs, &run_id, |run| {
            run.ended_at_ms = now_ms();
            match outcome {
                Ok(summary) => {
                    run.state = RunState::Succeeded.to_string();
                    run.outputs = summary
                        .outputs
                        .iter()
                        .map(|o| OutputInfo {
                            table: o.table.clone(),
                            location: o.location.clone(),
                            version: o.version,
                            rows: o.rows_written,
                        })
                        .collect();
                    run.sources = summary
                        .sources
                        .iter()
                        .map(|s| SourceInfo {
                            table: s.table.clone(),
                            topic: s.topic.clone(),
                            messages: s.messages,
                            malformed: s.malformed,
                            lag: s.lag,
                            recovery: s.recovery,
                        })
                        .collect();
                    tracing::info!(run_id = %run.run_id, "run succeeded");
                }
                Err(error) => {
                    tracing::error!(run_id = %run.run_id, %error, "run failed");
                    run.state = RunState::Failed.to_string();
                    for stage in &mut run.stages {
                        if stage.state != RunState::Succeeded.as_str() {
                            stage.state = RunState::Failed.to_string();
                        }
                    }
                    run.error = error;
                }
            }
        });
    }
}
