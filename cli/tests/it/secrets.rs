//! The object store's secret never leaves the environment: every output of a whole working session on an `s3://`
//! warehouse — debug logs of each command (human and JSON), plans, `explain`, errors of a failed run, the run
//! ledger's rows read back as a table, `runs`, `status`, maintenance — is searched for it.

use std::process::Output;

use crate::storage::S3;
use crate::{stderr, stdout, strata};

/// Every command's stdout and stderr, labelled, for the search.
#[derive(Default)]
struct Transcript {
    text: String,
    commands: usize,
}

impl Transcript {
    /// Record `out` of `strata args`; `ok` says whether it must have succeeded.
    fn record(&mut self, args: &[&str], out: Output, ok: bool) -> Output {
        assert_eq!(out.status.success(), ok, "{args:?}: {}", stderr(&out));
        self.text
            .push_str(&format!("$ strata {args:?}\n{}{}\n", stdout(&out), stderr(&out)));
        self.commands += 1;
        out
    }

    fn run(&mut self, args: &[&str], ok: bool) -> Output {
        self.record(args, strata(args), ok)
    }
}

#[test]
fn a_session_on_s3_shows_the_secret_in_no_log_error_plan_ledger_row_or_explain() {
    let s3 = S3::get();
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap();
    assert!(secret.len() >= 8, "a secret too short to search for");
    let wh = s3.fresh("no-secret");
    let bronze = format!("{wh}/bronze/market_daily");
    let job = "jobs/stock_market/pipeline.sql";
    let dir = tempfile::tempdir().unwrap();
    let failing = dir.path().join("failing.sql");
    std::fs::write(
        &failing,
        "CREATE TABLE silver.ratio AS\nSELECT CAST(x AS BIGINT) / CAST(x - x AS BIGINT) AS y FROM (VALUES (1), (2)) v(x);",
    )
    .unwrap();
    let failing = failing.to_str().unwrap();

    let mut t = Transcript::default();
    #[rustfmt::skip]
    t.run(&["--log", "debug", "generate", "market", "--symbols", "3", "--start", "2024-01-01", "--end", "2024-06-30",
        "--seed", "3", "--out", &bronze], true);
    for format in ["human", "json"] {
        t.run(
            &[
                "--log",
                "debug",
                "--log-format",
                format,
                "validate",
                job,
                "--warehouse",
                &wh,
            ],
            true,
        );
        t.run(
            &[
                "--log",
                "debug",
                "--log-format",
                format,
                "explain",
                job,
                "--warehouse",
                &wh,
            ],
            true,
        );
    }
    #[rustfmt::skip]
    t.run(&["--log", "debug", "--log-format", "json", "run", job, "--no-progress", "--warehouse", &wh], true);
    #[rustfmt::skip]
    t.run(&["--log", "debug", "run", job, "--no-progress", "--standalone", "--full-refresh", "--warehouse", &wh], true);
    let failed = t.run(
        &["--log", "debug", "run", failing, "--no-progress", "--warehouse", &wh],
        false,
    );
    assert!(stderr(&failed).contains("Divide by zero"), "{}", stderr(&failed));
    t.run(
        &["--log", "debug", "optimize", "silver.daily_bars", "--warehouse", &wh],
        true,
    );
    #[rustfmt::skip]
    t.run(&["--log", "debug", "vacuum", "silver.daily_bars", "--retain", "0", "--force", "--dry-run", "--warehouse", &wh], true);
    t.run(&["runs", "--warehouse", &wh, "--limit", "0"], true);
    let runs = t.run(
        &["--log-format", "json", "runs", "--warehouse", &wh, "--limit", "0"],
        true,
    );
    let ids: Vec<String> = stdout(&runs)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["run_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 3, "{}", stdout(&runs));
    for id in &ids {
        t.run(&["status", id, "--warehouse", &wh], true);
    }
    // The ledger's rows, every column, as a table; and a query over the tables the runs wrote.
    #[rustfmt::skip]
    let ledger = t.run(&["--log", "debug", "query", "SELECT * FROM _strata.runs", "--warehouse", &wh, "--format", "json"], true);
    // Two rows a run: its start and its end.
    assert_eq!(stdout(&ledger).lines().count(), 6, "{}", stdout(&ledger));
    #[rustfmt::skip]
    t.run(&["--log", "debug", "query", "SELECT count(*) FROM gold.daily_indicators", "--warehouse", &wh], true);

    // The search means something: the transcript holds the debug logs, the plans and the failure.
    for expected in [
        "DEBUG",
        "\"level\":\"DEBUG\"",
        "-- physical plan",
        "Divide by zero",
        &wh,
    ] {
        assert!(t.text.contains(expected), "the transcript lacks {expected:?}");
    }
    assert!(t.commands >= 15);
    if let Some(at) = t.text.find(&secret) {
        let from = t.text[..at].rfind("$ strata").unwrap_or(0);
        panic!("the secret is shown by {}", &t.text[from..at.min(from + 400)]);
    }
}
