//! Run states and ledger events: the words the ledger stores, the job service sends and the CLI prints, defined
//! once. Their string forms are a storage and wire contract (ledger tables written by earlier versions, and
//! `RunInfo.state` / `StageInfo.state` of the job service) and never change.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// The state of a run, or of one stage of a run.
///
/// The ledger knows `running`, `succeeded`, `failed` and `killed`; the scheduler's job service also reports
/// `committing` runs and `pending` and `retrying` stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunState {
    /// A stage that has not started yet.
    Pending,
    /// Started and not ended.
    Running,
    /// A stage run again after a failure; the job service sends it as `retrying after: <error>`.
    Retrying,
    /// Every stage done, the output tables being committed.
    Committing,
    /// Ended without error (a run: with its outputs committed).
    Succeeded,
    /// Ended with an error.
    Failed,
    /// Started, never ended, and its process is gone.
    Killed,
}

/// How a stage that is run again is reported, before the error that made it so.
const RETRYING_AFTER: &str = "retrying after: ";

impl RunState {
    /// Every state, in declaration order.
    pub const ALL: [RunState; 7] = [
        RunState::Pending,
        RunState::Running,
        RunState::Retrying,
        RunState::Committing,
        RunState::Succeeded,
        RunState::Failed,
        RunState::Killed,
    ];

    /// The state's word, as stored and sent: `pending`, `running`, `retrying`, `committing`, `succeeded`,
    /// `failed` or `killed`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Pending => "pending",
            RunState::Running => "running",
            RunState::Retrying => "retrying",
            RunState::Committing => "committing",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Killed => "killed",
        }
    }

    /// Whether the run (or stage) has ended and will not change any more.
    pub fn is_final(self) -> bool {
        matches!(self, RunState::Succeeded | RunState::Failed | RunState::Killed)
    }

    /// The state of a stage run again after `error`, as the job service reports it.
    pub fn retrying_after(error: impl fmt::Display) -> String {
        format!("{RETRYING_AFTER}{error}")
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for RunState {
    type Err = String;

    /// A state's word; `retrying after: …` is [`RunState::Retrying`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.starts_with(RETRYING_AFTER) {
            return Ok(RunState::Retrying);
        }
        RunState::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| format!("unknown run state '{text}'"))
    }
}

impl TryFrom<&str> for RunState {
    type Error = String;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        text.parse()
    }
}

/// As its word, so that the JSON of a ledger run is what it always was.
impl Serialize for RunState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// What one ledger row records: a run's start, or its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RunEvent {
    /// The run started (the default).
    #[default]
    Started,
    /// The run ended and committed its outputs.
    Succeeded,
    /// The run ended with an error.
    Failed,
}

impl RunEvent {
    /// Every event, in the order a run records them.
    pub const ALL: [RunEvent; 3] = [RunEvent::Started, RunEvent::Succeeded, RunEvent::Failed];

    /// The word stored in the ledger's `event` column.
    pub fn as_str(self) -> &'static str {
        match self {
            RunEvent::Started => "started",
            RunEvent::Succeeded => RunState::Succeeded.as_str(),
            RunEvent::Failed => RunState::Failed.as_str(),
        }
    }

    /// The state of a run whose last event this is (a started run is running until its process is found gone).
    pub fn state(self) -> RunState {
        match self {
            RunEvent::Started => RunState::Running,
            RunEvent::Succeeded => RunState::Succeeded,
            RunEvent::Failed => RunState::Failed,
        }
    }
}

impl fmt::Display for RunEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for RunEvent {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        RunEvent::ALL
            .into_iter()
            .find(|e| e.as_str() == text)
            .ok_or_else(|| format!("unknown ledger event '{text}'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_are_the_stored_and_wire_forms() {
        let words: Vec<&str> = RunState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            words,
            [
                "pending",
                "running",
                "retrying",
                "committing",
                "succeeded",
                "failed",
                "killed"
            ]
        );
        for state in RunState::ALL {
            assert_eq!(state.as_str().parse::<RunState>(), Ok(state));
            assert_eq!(RunState::try_from(state.as_str()), Ok(state));
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
        let retrying = RunState::retrying_after("executor lost");
        assert_eq!(retrying, "retrying after: executor lost");
        assert_eq!(retrying.parse::<RunState>(), Ok(RunState::Retrying));
        assert!("queued".parse::<RunState>().is_err());
        assert!(RunState::Killed.is_final() && !RunState::Committing.is_final());
        // Tables of runs pad it like any word.
        assert_eq!(format!("[{:<9}]", RunState::Killed), "[killed   ]");
    }

    #[test]
    fn ledger_events_keep_their_words() {
        let words: Vec<&str> = RunEvent::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(words, ["started", "succeeded", "failed"]);
        for event in RunEvent::ALL {
            assert_eq!(event.as_str().parse::<RunEvent>(), Ok(event));
        }
        assert_eq!(RunEvent::Started.state(), RunState::Running);
        assert_eq!(RunEvent::Failed.state(), RunState::Failed);
        assert!("killed".parse::<RunEvent>().is_err());
    }
}
