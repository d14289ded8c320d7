//! Finalizing a run, between its stages and its commit: every expectation's violations are counted from the
//! staged, flagged rows (a `FAIL` rule with any stops the run, with nothing committed), each checked table or
//! insert gets the rows that pass as what it commits, and each quarantine table gets a write of the rows it has not
//! taken yet. Nothing is committed here: the rows are written as uncommitted files.

use std::collections::HashMap;

use strata_connectors::delta::WriteMode;
use strata_connectors::delta::commit;
use strata_connectors::delta::write_exec::WriteTarget;

use crate::commit::write::{Payload, TableWrite};
use crate::error::{PlannerError, Result};
use crate::expect;
use crate::outcome::StageOutcome;
use crate::plan::PlannedJob;
use crate::report::ExpectationReport;

/// What finalizing gave.
pub(crate) struct Finalized {
    /// Every rule's outcome, stage by stage.
    pub expectations: Vec<ExpectationReport>,
    /// The quarantine tables' writes, for the commit.
    pub quarantines: Vec<TableWrite>,
}

/// Count every expectation's violations, and derive from the staged, flagged rows what each stage with
/// expectations commits (into its outcome) and what its quarantine table receives.
pub(crate) async fn finalize(
    planned: &PlannedJob,
    targets: &HashMap<String, WriteTarget>,
    outcomes: &mut [Option<StageOutcome>],
    run_id: &str,
) -> Result<Finalized> {
    let mut reports = Vec::new();
    let mut quarantines = Vec::new();
    for (i, stage) in planned.stages.iter().enumerate() {
        let Some(e) = stage.expectations() else {
            continue;
        };
        let counted = expect::count(&planned.ctx, e).await?;
        for (rule, report) in e.rules.iter().zip(&counted) {
            tracing::info!(table = %e.table, rule = %rule.name, action = report.action, violations = report.violations, "expectation");
            if rule.action == strata_sql::ViolationAction::Fail && report.violations > 0 {
                return Err(PlannerError::Expectation {
                    table: e.table.clone(),
                    rule: rule.name.clone(),
                    violations: report.violations,
                    location: rule.location.clone(),
                });
            }
        }
        reports.extend(counted);
        // A table or an insert commits the rows that pass; a view has nothing to commit but its quarantine, nor
        // has a table whose inputs did not change.
        if let Some(output) = stage.output().filter(|o| !planned.unchanged.contains(&o.table)) {
            let (batches, adds, rows) =
                expect::materialize(&planned.ctx, e.keep.clone(), targets.get(&output.table)).await?;
            if let Some(o) = outcomes[i].as_mut() {
                o.batches = batches;
                o.adds = adds;
                o.rows = Some(rows);
                o.schema = Some(expect::schema_of(&e.keep));
            }
        }
        if let Some((plan, quarantine)) = &e.quarantine {
            let plan =
                expect::not_yet_quarantined(&planned.ctx, plan.clone(), &quarantine.url, &planned.engine).await?;
            let plan = expect::quarantine_plan(&plan, run_id)?;
            let schema = expect::schema_of(&plan);
            let target = commit::write_target(&quarantine.url, &schema, &[], WriteMode::Append)
                .await
                .map_err(|source| PlannerError::Commit {
                    table: quarantine.table.clone(),
                    source: Box::new(source),
                })?;
            // Written as uncommitted files in every engine: nothing comes back as rows.
            let (_, adds, rows) = expect::materialize(&planned.ctx, plan, Some(&target)).await?;
            if rows > 0 {
                let payload = Payload::Files { target, adds, rows };
                quarantines.push(TableWrite {
                    table: quarantine.table.clone(),
                    output: quarantine.clone(),
                    schema,
                    payload,
                    offsets: Vec::new(),
                    run_id: run_id.to_string(),
                    replace: planned.replaces.get(&quarantine.table).cloned(),
                });
            }
        }
    }
    Ok(Finalized {
        expectations: reports,
        quarantines,
    })
}
