//! Plan snapshots: the physical shape of stages whose performance depends on it.

use strata_connectors::delta::WriteMode;
use strata_planner::Params;

use crate::*;

/// The operator tree of one stage in `strata explain` output: operator names with their indentation.
fn operator_tree(explain: &str, stage: &str) -> String {
    let section = explain
        .split("\n== ")
        .skip(1)
        .find(|s| s.contains(&format!("] {stage} (")))
        .unwrap();
    let physical = section.split("-- physical plan\n").nth(1).unwrap();
    physical
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let indent = l.len() - l.trim_start().len();
            let op = l.trim_start().split([':', ' ']).next().unwrap();
            format!("{}{op}", " ".repeat(indent))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn all_indicators_of_a_symbol_are_computed_after_a_single_sort() {
    let wh = tempfile::tempdir().unwrap();
    write_bronze(wh.path(), &[], WriteMode::Overwrite).await;
    let job = strata_sql::job::parse_job("job.sql", &pipeline_sql()).unwrap();
    let planned = strata_planner::plan_job(job, options(wh.path()), &Params::default())
        .await
        .unwrap();
    let explain = strata_planner::explain(&planned).await.unwrap();
    let tree = operator_tree(&explain, "gold.daily_indicators");
    assert_eq!(tree.matches("SortExec").count(), 1, "{tree}");
    let snapshot =
        std::fs::read_to_string(repo_root().join("planner/tests/it/snapshots/daily_indicators.plan")).unwrap();
    assert_eq!(
        tree.trim(),
        snapshot.trim(),
        "the plan of gold.daily_indicators changed:\n{tree}"
    );
}
