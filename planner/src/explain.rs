//! `strata explain`: the stage DAG and each stage's optimized plans.

use std::fmt::Write;

use datafusion::physical_plan::displayable;

use crate::error::{Result, df_err};
use crate::plan::PlannedJob;
use crate::stage::PlannedStage;

/// Render the DAG, then for each stage its optimized logical plan and physical plan.
pub async fn explain(planned: &PlannedJob) -> Result<String> {
    let dag = &planned.dag;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Stage DAG of {} ({} stages, in run order):",
        planned.job.path,
        dag.stages.len()
    );
    for &i in &dag.order {
        let s = &dag.stages[i];
        let deps: Vec<&str> = s.deps.iter().map(|&d| dag.stages[d].name.as_str()).collect();
        let arrow = if deps.is_empty() {
            String::new()
        } else {
            format!("  <- {}", deps.join(", "))
        };
        let _ = writeln!(out, "  [{i}] {} ({}){arrow}", s.name, s.kind());
    }
    let state = planned.ctx.state();
    for &i in &dag.order {
        let s = &dag.stages[i];
        let stage = &planned.stages[i];
        let _ = writeln!(out, "\n== [{i}] {} ({}) at {}", s.name, s.kind(), s.location());
        // A template's copy: which value made it, and the statement as expanded.
        if let Some(binding) = &s.statement.template {
            let _ = writeln!(out, "template: FOR {binding}\n{}", s.statement.text);
        }
        if let PlannedStage::Source { location, .. } = stage {
            let _ = writeln!(out, "source: {location}");
        }
        if let Some(output) = stage.output() {
            let parts = if output.partition_by.is_empty() {
                String::new()
            } else {
                format!(", partitioned by ({})", output.partition_by.join(", "))
            };
            let _ = writeln!(out, "writes: {} ({:?}{parts})", output.url, output.mode);
        }
        let Some(plan) = stage.plan() else { continue };
        if matches!(s.statement.kind, strata_sql::StatementKind::View { .. }) {
            let _ = writeln!(out, "view: inlined into the stages that read it");
        }
        let optimized = state.optimize(plan).map_err(|e| df_err(&s.statement, e))?;
        let _ = writeln!(out, "-- optimized logical plan\n{}", optimized.display_indent());
        let physical = state
            .create_physical_plan(plan)
            .await
            .map_err(|e| df_err(&s.statement, e))?;
        let _ = writeln!(
            out,
            "-- physical plan\n{}",
            displayable(physical.as_ref()).indent(false)
        );
    }
    Ok(out)
}
