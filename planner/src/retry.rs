//! Running a stage again on a cluster: after it failed (an executor lost beyond what Ballista recovers from), and
//! after it succeeded on a cluster that lost an executor while it ran (Ballista can then hand a stage's
//! intermediate results twice to the stage that reads them). Running a stage again is safe: it reads what it read
//! before (pinned files, a planned offset range), and the files of an earlier attempt are never committed.

use std::sync::Arc;
use std::time::Duration;

use datafusion::error::DataFusionError;

use crate::report::{EventSink, JobEvent};

/// How a stage that failed on the cluster is run again.
pub(crate) struct Retry {
    pub index: usize,
    pub name: String,
    pub retries: u32,
    pub events: Option<EventSink>,
    /// On a scheduler: how an attempt is known to have run on a cluster that lost an executor.
    pub log: Option<Arc<dyn crate::tasks::TaskLog>>,
}

impl Retry {
    /// Run `attempt` until it succeeds or the retries are spent. Running a stage again is safe: it reads what it
    /// read before (pinned files, a planned offset range), and the files of a failed attempt are never committed.
    pub async fn run<T, F, Fut>(&self, attempt: F) -> Result<T, DataFusionError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, DataFusionError>>,
    {
        let mut tried = 0;
        loop {
            let started = crate::tasks::epoch_ms();
            let result = match attempt().await {
                // A lost executor can make Ballista hand a stage's intermediate results twice to the stage reading
                // them (seen as rows committed twice): a job that ran work twice is not trusted, and runs again.
                Ok(_) if self.disturbed(started).await => Err(DataFusionError::Execution(
                    "the cluster lost an executor while the stage ran, and some of its work ran twice: its result \
                     is not trusted"
                        .into(),
                )),
                other => other,
            };
            match result {
                Ok(value) => return Ok(value),
                Err(e) if tried < self.retries => {
                    tried += 1;
                    tracing::warn!(stage = %self.name, attempt = tried, error = %e, "stage failed on the cluster; retrying");
                    if let Some(sink) = &self.events {
                        sink(JobEvent::StageRetried {
                            index: self.index,
                            name: self.name.clone(),
                            attempt: tried,
                            error: e.to_string(),
                        });
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Retry {
    async fn disturbed(&self, since: u128) -> bool {
        match &self.log {
            Some(log) => log.disturbed(since).await,
            None => false,
        }
    }
}
