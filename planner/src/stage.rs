//! What a planned stage is: one variant per kind of statement, each holding exactly what its kind has. A stage
//! with expectations runs its flagged plan into `expectations.raw`, which is then also the table its readers are fed
//! from; the run and the commit phase read stages through the accessors below.

use std::sync::Arc;

use datafusion::logical_expr::LogicalPlan;
use strata_connectors::stage::StageTable;

use crate::declare::format::SourceFormat;
use crate::expect::Expectations;
use crate::output::Output;

/// One planned stage.
#[derive(Debug, Clone)]
pub enum PlannedStage {
    /// `CREATE EXTERNAL TABLE`: nothing runs, except a Kafka source's scan, which stages its messages in `staged`.
    Source {
        format: SourceFormat,
        /// The resolved location (as written for Kafka and PostgreSQL).
        location: String,
        staged: Option<Arc<StageTable>>,
        /// Set once the Kafka source's ranges are resolved.
        scan: Option<LogicalPlan>,
    },
    /// `CREATE VIEW`: inlined into its readers; with expectations, `plan` is the flagged query, run once.
    View {
        plan: LogicalPlan,
        expectations: Option<Arc<Expectations>>,
    },
    /// `CREATE TABLE`: `plan` (flagged when it has expectations) feeds `table`, and the commit writes `output`.
    Table {
        plan: LogicalPlan,
        output: Output,
        /// The provider downstream stages read (the flagged rows when it has expectations).
        table: Arc<StageTable>,
        expectations: Option<Arc<Expectations>>,
    },
    /// `INSERT INTO` or `MERGE INTO`: its rows join its target's commit.
    Insert {
        plan: LogicalPlan,
        output: Output,
        /// The table it appends to when the job creates it, or its flagged rows when it has expectations.
        table: Option<Arc<StageTable>>,
        expectations: Option<Arc<Expectations>>,
    },
}

impl PlannedStage {
    /// The bound logical plan of a view, table or insert, or a Kafka source's scan.
    pub fn plan(&self) -> Option<&LogicalPlan> {
        match self {
            PlannedStage::Source { scan, .. } => scan.as_ref(),
            PlannedStage::View { plan, .. } | PlannedStage::Table { plan, .. } | PlannedStage::Insert { plan, .. } => {
                Some(plan)
            }
        }
    }

    /// The plan the run executes: a view without expectations runs only inside its readers.
    pub fn run_plan(&self) -> Option<&LogicalPlan> {
        match self {
            PlannedStage::View { expectations: None, .. } => None,
            other => other.plan(),
        }
    }

    /// Where the stage's rows go when the job commits.
    pub fn output(&self) -> Option<&Output> {
        match self {
            PlannedStage::Table { output, .. } | PlannedStage::Insert { output, .. } => Some(output),
            PlannedStage::Source { .. } | PlannedStage::View { .. } => None,
        }
    }

    /// The staged table the stage's rows are appended to when it runs.
    pub fn table(&self) -> Option<&Arc<StageTable>> {
        match self {
            PlannedStage::Source { staged, .. } => staged.as_ref(),
            PlannedStage::View { expectations, .. } => expectations.as_ref().map(|e| &e.raw),
            PlannedStage::Table { table, .. } => Some(table),
            PlannedStage::Insert { table, .. } => table.as_ref(),
        }
    }

    /// The stage's expectations: its plan then yields the rows with violation flags.
    pub fn expectations(&self) -> Option<&Arc<Expectations>> {
        match self {
            PlannedStage::Source { .. } => None,
            PlannedStage::View { expectations, .. }
            | PlannedStage::Table { expectations, .. }
            | PlannedStage::Insert { expectations, .. } => expectations.as_ref(),
        }
    }
}
