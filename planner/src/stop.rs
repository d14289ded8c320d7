//! Stopping a run from outside, never in the middle of its commit.
//!
//! A [`StopHandle`] is shared by a run and whoever may stop it (the scheduler draining on SIGTERM). Stopping and
//! starting the commit exclude each other: [`StopHandle::stop`] refuses once the run has begun committing, and the
//! run refuses to begin committing once stopped. A stopped run therefore commits nothing, ends with
//! [`PlannerError::Stopped`](crate::error::PlannerError::Stopped) and is recorded as failed in the ledger, like any
//! failed run; a run already committing always finishes.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

#[derive(Default)]
struct State {
    /// Why the run was stopped, once it is.
    stopped: Option<String>,
    committing: bool,
}

/// Stops a run before its commit.
#[derive(Clone, Default)]
pub struct StopHandle {
    state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
}

impl StopHandle {
    /// Stop the run for `reason`; false (and nothing happens) when it is already committing.
    pub fn stop(&self, reason: &str) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        if state.committing {
            return false;
        }
        if state.stopped.is_none() {
            state.stopped = Some(reason.to_string());
        }
        drop(state);
        self.notify.notify_waiters();
        true
    }

    /// Enter the commit phase, unless the run was stopped (then the reason).
    pub(crate) fn begin_commit(&self) -> Result<(), String> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| "the stop handle is poisoned".to_string())?;
        match &state.stopped {
            Some(reason) => Err(reason.clone()),
            None => {
                state.committing = true;
                Ok(())
            }
        }
    }

    /// Completes when the run is stopped, with the reason.
    pub(crate) async fn stopped(&self) -> String {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Ok(state) = self.state.lock()
                && let Some(reason) = &state.stopped
            {
                return reason.clone();
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stopping_and_committing_exclude_each_other() {
        let handle = StopHandle::default();
        assert!(handle.stop("drain"));
        assert_eq!(handle.begin_commit(), Err("drain".to_string()));
        assert_eq!(handle.stopped().await, "drain");

        let committing = StopHandle::default();
        assert!(committing.begin_commit().is_ok());
        assert!(!committing.stop("drain"), "a committing run cannot be stopped");
    }
}
