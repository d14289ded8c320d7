//! Task-slot books: Ballista's in-memory cluster state, with a record of how many vcores each executor has reserved.
//!
//! Ballista (55) reserves an executor's vcores when it binds tasks to it, and returns them when a task's status
//! arrives — by looking the task up in its job's graph. When the graph no longer holds the task (its stage was
//! rolled back after a lost executor, or its job was cancelled or failed), the vcores are never returned: the
//! executor's capacity shrinks for good, and once every slot has leaked nothing is scheduled again. The cluster then
//! looks alive and idle while every job waits (found by the chaos suite: an executor stopped past its heartbeat
//! timeout rolled back two stages, and the run never progressed).
//!
//! [`SlotBooks`] keeps, per executor, the vcores reserved minus the vcores returned. The progress watchdog compares
//! that with the vcores of the tasks the job graphs say are running there, and returns what stayed reserved for
//! tasks no graph runs ([`SlotBooks::refund`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use ballista_core::JobId;
use ballista_core::error::Result;
use ballista_core::serde::protobuf::ExecutorHeartbeat;
use ballista_core::serde::scheduler::{ExecutorData, ExecutorMetadata};
use ballista_scheduler::cluster::{BoundTask, ClusterState, ClusterStateEventStream, ExecutorSlot};
use ballista_scheduler::config::TaskDistributionPolicy;
use ballista_scheduler::state::task_manager::JobInfoCache;

/// Ballista's cluster state with per-executor reservation books.
pub(crate) struct SlotBooks {
    inner: Arc<dyn ClusterState>,
    reserved: Mutex<HashMap<String, i64>>,
}

impl SlotBooks {
    pub(crate) fn new(inner: Arc<dyn ClusterState>) -> Self {
        Self {
            inner,
            reserved: Mutex::new(HashMap::new()),
        }
    }

    /// The vcores each registered executor has reserved (bound and not yet returned).
    pub(crate) fn reserved(&self) -> HashMap<String, i64> {
        self.reserved.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Return `vcores` that stayed reserved on `executor` for tasks no graph runs.
    pub(crate) async fn refund(&self, executor: &str, vcores: u32) -> Result<()> {
        self.unbind_tasks(vec![(executor.to_string(), vcores)]).await
    }

    fn add(&self, executor: &str, vcores: i64) {
        if let Ok(mut reserved) = self.reserved.lock()
            && let Some(r) = reserved.get_mut(executor)
        {
            *r = (*r + vcores).max(0);
        }
    }
}

#[async_trait::async_trait]
impl ClusterState for SlotBooks {
    async fn init(&self) -> Result<()> {
        self.inner.init().await
    }

    async fn bind_schedulable_tasks(
        &self,
        distribution: TaskDistributionPolicy,
        active_jobs: Arc<HashMap<JobId, JobInfoCache>>,
        executors: Option<HashSet<String>>,
    ) -> Result<Vec<BoundTask>> {
        let bound = self
            .inner
            .bind_schedulable_tasks(distribution, active_jobs, executors)
            .await?;
        for (executor, task) in &bound {
            self.add(executor, i64::from(task.vcores_consumed));
        }
        Ok(bound)
    }

    async fn unbind_tasks(&self, executor_slots: Vec<ExecutorSlot>) -> Result<()> {
        self.inner.unbind_tasks(executor_slots.clone()).await?;
        for (executor, vcores) in &executor_slots {
            self.add(executor, -i64::from(*vcores));
        }
        Ok(())
    }

    async fn register_executor(&self, metadata: ExecutorMetadata, spec: ExecutorData) -> Result<()> {
        let id = metadata.id.clone();
        let reserved = i64::from(spec.total_vcores) - i64::from(spec.available_vcores);
        self.inner.register_executor(metadata, spec).await?;
        if let Ok(mut books) = self.reserved.lock() {
            books.insert(id, reserved.max(0));
        }
        Ok(())
    }

    async fn save_executor_metadata(&self, metadata: ExecutorMetadata) -> Result<()> {
        self.inner.save_executor_metadata(metadata).await
    }

    async fn get_executor_metadata(&self, executor_id: &str) -> Result<ExecutorMetadata> {
        self.inner.get_executor_metadata(executor_id).await
    }

    async fn registered_executor_metadata(&self) -> Vec<ExecutorMetadata> {
        self.inner.registered_executor_metadata().await
    }

    async fn save_executor_heartbeat(&self, heartbeat: ExecutorHeartbeat) -> Result<()> {
        self.inner.save_executor_heartbeat(heartbeat).await
    }

    async fn remove_executor(&self, executor_id: &str) -> Result<()> {
        self.inner.remove_executor(executor_id).await?;
        if let Ok(mut books) = self.reserved.lock() {
            books.remove(executor_id);
        }
        Ok(())
    }

    fn executor_heartbeats(&self) -> HashMap<String, ExecutorHeartbeat> {
        self.inner.executor_heartbeats()
    }

    fn get_executor_heartbeat(&self, executor_id: &str) -> Option<ExecutorHeartbeat> {
        self.inner.get_executor_heartbeat(executor_id)
    }

    async fn cluster_state_events(&self) -> Result<ClusterStateEventStream> {
        self.inner.cluster_state_events().await
    }
}
