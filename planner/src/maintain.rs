//! A job's `--! optimize` and `--! vacuum` directives: checked when the job is planned (each names a Delta table
//! the job writes), carried out in file order once every commit of a successful run is done.
//!
//! Maintenance never changes what a run committed: optimize rewrites files into the same rows in a commit of its
//! own, vacuum deletes only what no version within the retention needs (a job never forces a shorter retention).
//! A maintenance step that fails is reported in the run summary and logged; the run stays succeeded, its data is
//! committed, and the next run (or `strata optimize` / `strata vacuum`) tries again.

use strata_connectors::delta::maintain;
use strata_sql::{Maintenance, MaintenanceKind};
use url::Url;

use crate::error::{PlannerError, Result};
use crate::report::MaintenanceReport;
use crate::stage::PlannedStage;

/// A directive with the location of the table it maintains.
#[derive(Debug, Clone)]
pub(crate) struct PlannedMaintenance {
    pub directive: Maintenance,
    pub url: Url,
}

/// Each directive with its table's location; a directive naming a table the job does not write to Delta is an
/// error at its line.
pub(crate) fn plan(directives: &[Maintenance], stages: &[PlannedStage]) -> Result<Vec<PlannedMaintenance>> {
    directives
        .iter()
        .map(|d| {
            let output = stages
                .iter()
                .filter_map(PlannedStage::output)
                .find(|o| o.table == d.table && o.sink.is_none());
            match output {
                Some(o) => Ok(PlannedMaintenance {
                    directive: d.clone(),
                    url: o.url.clone(),
                }),
                None => Err(PlannerError::Job {
                    location: d.location.clone(),
                    message: format!(
                        "--! {} {}: the job writes no Delta table of that name",
                        d.action(),
                        d.table
                    ),
                }),
            }
        })
        .collect()
}

/// Carry out the directives in order; each one's outcome, failures included.
pub(crate) async fn run(planned: &[PlannedMaintenance]) -> Vec<MaintenanceReport> {
    let mut reports = Vec::with_capacity(planned.len());
    for p in planned {
        let d = &p.directive;
        let outcome = match &d.kind {
            MaintenanceKind::Optimize { zorder_by } => maintain::optimize(&p.url, zorder_by, None)
                .await
                .map(|o| format!("{} files -> {} (version {})", o.files_before, o.files_after, o.version)),
            MaintenanceKind::Vacuum { retain_hours } => maintain::vacuum(&p.url, *retain_hours, false, false)
                .await
                .map(|v| format!("{} files deleted", v.files_deleted.len())),
        };
        let (outcome, failed) = match outcome {
            Ok(text) => {
                tracing::info!(table = %d.table, action = d.action(), outcome = %text, "maintenance done");
                (text, false)
            }
            Err(e) => {
                tracing::warn!(table = %d.table, action = d.action(), error = %e, "maintenance failed; the run's commits stand");
                (e.to_string(), true)
            }
        };
        reports.push(MaintenanceReport {
            table: d.table.clone(),
            action: d.action(),
            outcome,
            failed,
        });
    }
    reports
}
