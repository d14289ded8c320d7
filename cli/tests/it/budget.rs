//! A run's memory budget and its profile (`--memory-limit`, `--profile`), on the plain-SQL peer pipeline
//! (`benches/peers/plain/strata.sql`: hash aggregates with ordered `first_value`/`last_value`, `row_number()`
//! buckets, sorted rolling windows). Within a budget far below what the pipeline holds unbounded its sorts spill,
//! and it writes the same tables as an unbounded run, embedded and on a two-executor cluster whose executors have
//! the budget; a budget no operator can live within fails naming the stage and the limit, and commits nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cluster::Cluster;
use crate::*;

const PLAIN: &str = "benches/peers/plain/strata.sql";
const PLAIN_TABLES: &[&str] = &[
    "silver.weekly_bars",
    "silver.monthly_bars",
    "silver.bars_5",
    "silver.bars_21",
    "gold.rolling",
];
/// Small enough that the pipeline's sorts cannot hold the data (about 55 MB of rows), large enough for the
/// operators that cannot spill.
const TIGHT: &str = "64M";

/// Generated prices (no defects) for the plain pipeline, shared by every warehouse through a link.
fn prices(root: &Path) -> PathBuf {
    let out = root.join("prices");
    #[rustfmt::skip]
    let made = strata(&[
        "generate", "market", "--symbols", "400", "--start", "2016-01-01", "--end", "2024-12-31", "--seed",
        &test_seed().to_string(), "--defect-rate", "0", "--out", out.to_str().unwrap(),
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    out
}

fn warehouse(root: &Path, name: &str, prices: &Path) -> PathBuf {
    let wh = root.join(name);
    std::fs::create_dir_all(wh.join("bronze")).unwrap();
    std::os::unix::fs::symlink(prices, wh.join("bronze/prices")).unwrap();
    wh
}

fn plain_run(wh: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["run", PLAIN, "--no-progress", "--warehouse", wh.to_str().unwrap()];
    args.extend_from_slice(extra);
    strata(&args)
}

fn same_tables(a: &Path, b: &Path) {
    let out = Command::new(python())
        .arg(repo_root().join("dev/compare_delta.py"))
        .args([a, b])
        .args(PLAIN_TABLES)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

/// The largest `NAME=N` metric of a profile (0 when none is shown).
fn largest_metric(profile: &str, name: &str) -> u64 {
    profile
        .split(|c: char| c == ',' || c == '[' || c == ']' || c.is_whitespace())
        .filter_map(|m| m.strip_prefix(&format!("{name}=")))
        .filter_map(|v| v.parse().ok())
        .max()
        .unwrap_or(0)
}

#[test]
fn a_run_within_a_tight_memory_budget_spills_and_writes_what_an_unbounded_run_writes() {
    let root = tempfile::tempdir().unwrap();
    let prices = prices(root.path());
    let free = warehouse(root.path(), "free", &prices);
    let free_profile = root.path().join("free.txt");
    let out = plain_run(&free, &["--profile", free_profile.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let free_profile = std::fs::read_to_string(&free_profile).unwrap();
    // Every stage with its operators' metrics; nothing spills without a budget.
    for table in PLAIN_TABLES {
        assert!(
            free_profile.contains(&format!("## {table} (table, ")),
            "{table} in:\n{free_profile}"
        );
    }
    assert!(free_profile.contains("output_rows=") && free_profile.contains("elapsed_compute="));
    assert_eq!(largest_metric(&free_profile, "spill_count"), 0, "{free_profile}");

    let tight = warehouse(root.path(), "tight", &prices);
    let tight_profile = root.path().join("tight.txt");
    let out = plain_run(
        &tight,
        &["--memory-limit", TIGHT, "--profile", tight_profile.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let tight_profile = std::fs::read_to_string(&tight_profile).unwrap();
    assert!(
        largest_metric(&tight_profile, "spill_count") > 0,
        "nothing spilled:\n{tight_profile}"
    );
    same_tables(&free, &tight);

    // The same budget on a cluster whose two executors each have it (`cluster up --memory-limit`).
    let clustered = warehouse(root.path(), "cluster", &prices);
    let cluster = Cluster::up_with(root.path(), 2, &clustered, &["--memory-limit", TIGHT]);
    let out = plain_run(&clustered, &["--cluster", &cluster.scheduler]);
    assert!(out.status.success(), "{}\n{}", stderr(&out), cluster.logs());
    same_tables(&free, &clustered);
}

#[test]
fn a_budget_no_operator_can_live_within_fails_naming_the_stage_and_the_limit_and_commits_nothing() {
    let root = tempfile::tempdir().unwrap();
    let prices = prices(root.path());
    let wh = warehouse(root.path(), "wh", &prices);
    let out = plain_run(&wh, &["--memory-limit", "64K"]);
    assert!(!out.status.success(), "ran within 64K?");
    let err = stderr(&out);
    assert!(err.contains("64K") && err.contains("--memory-limit"), "{err}");
    assert!(err.contains("strata.sql:"), "no job location in: {err}");
    for table in PLAIN_TABLES {
        let dir = wh.join(table.replace('.', "/"));
        assert!(!dir.join("_delta_log").exists(), "{table} was committed");
    }
    // A value that is not a size is refused before anything runs.
    let out = plain_run(&wh, &["--memory-limit", "lots"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("'lots' is not a memory size"), "{}", stderr(&out));
}
