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

/// The operator lines under the first child of the first `name` operator in a rendered plan.
fn first_child_subtree<'a>(plan: &'a str, name: &str) -> Vec<&'a str> {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut lines = plan.lines().skip_while(|l| !l.trim_start().starts_with(name));
    let Some(op) = lines.next() else {
        return Vec::new();
    };
    let child = indent(op) + 2;
    let mut subtree = Vec::new();
    for line in lines {
        if indent(line) < child || (indent(line) == child && !subtree.is_empty()) {
            break;
        }
        subtree.push(line);
    }
    subtree
}

#[tokio::test]
async fn a_join_builds_its_hash_table_on_the_smaller_stage_output() {
    use chrono::NaiveDate;
    use strata_sql::calendar::{ExchangeCalendar, Nyse};

    let wh = tempfile::tempdir().unwrap();
    let sessions = Nyse.sessions(
        NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2024, 6, 30).unwrap(),
    );
    let symbols = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"];
    let rows: Vec<Row> = symbols
        .iter()
        .flat_map(|s| {
            sessions.iter().enumerate().map(move |(i, d)| {
                let c = 50.0 + i as f64;
                (*s, *d, Some(c), Some(c + 1.0), Some(c - 1.0), Some(c), 100)
            })
        })
        .collect();
    write_bronze(wh.path(), &rows, WriteMode::Overwrite).await;
    let job = strata_sql::job::parse_job("job.sql", &pipeline_sql()).unwrap();
    let mut planned = strata_planner::plan_job(job, options(wh.path()), &Params::default())
        .await
        .unwrap();
    planned.profile = true;
    let summary = strata_planner::run(planned, None).await.unwrap();
    let gold = summary
        .stages
        .iter()
        .find(|s| s.stage == "gold.daily_indicators")
        .unwrap();
    let profile = gold.profile.as_deref().unwrap();
    // The daily bars (six symbols' sessions) were read from the files silver.daily_bars wrote, whose statistics
    // say how many rows they hold and how many trading dates they can span: the market index (one row per date)
    // is the smaller side and the hash table is built on it.
    let build = first_child_subtree(profile, "HashJoinExec");
    assert!(
        build.iter().any(|l| l.contains("AggregateExec")),
        "the hash table is not built on the market index:\n{profile}"
    );
}
