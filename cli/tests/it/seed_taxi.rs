//! Seed 004 (ChillFlow) as its users run it: months arriving one by one, a backfill and a full refresh agree; the
//! trip keys are HMAC-SHA256 pseudonyms under a salt that appears nowhere; the KPIs and the monthly status equal
//! pandas over the raw files.

use std::path::Path;
use std::process::Command;

use crate::postgres::{Pg, fresh_database};
use crate::seed_values::{dump, renamed};
use crate::*;

/// `strata args` with the salt `salt`; fails the test on failure; returns stdout and stderr.
fn run_salted(args: &[&str], salt: &str) -> (String, String) {
    let out = strata_env(args, &[("STRATA_SECRET_CHILLFLOW_SALT", salt)]);
    assert!(out.status.success(), "{args:?}\n{}\n{}", stdout(&out), stderr(&out));
    (stdout(&out), stderr(&out))
}

/// The curated trips' keys, `trip_key|vehicle_id` per trip, sorted, by the independent reader.
fn trip_keys(wh: &Path) -> Vec<String> {
    let t = crate::kafka::table(wh, "silver.trips", &["trip_key", "vehicle_id"]);
    let keys = t["columns"]["trip_key"]["values"].as_array().unwrap();
    let vehicles = t["columns"]["vehicle_id"]["values"].as_array().unwrap();
    let mut out: Vec<String> = keys
        .iter()
        .zip(vehicles)
        .map(|(k, v)| format!("{}|{}", k.as_str().unwrap(), v.as_str().unwrap()))
        .collect();
    out.sort();
    out
}

const MONTHS: [&str; 3] = ["2024-01", "2024-02", "2024-03"];

/// Seed 004's curation as ChillFlow runs it: three months arriving one by one, each taken by an incremental run,
/// then one month backfilled, give the tables and PostgreSQL rows of one full refresh over the three months. The
/// trip keys and vehicle ids are HMAC-SHA256 pseudonyms (checked against Python's `hmac`): unique per trip, the same
/// for the same salt, different for another; the salt appears in no output, log, plan or ledger row. The status
/// job then reports each month's retention, hours and pickup range, with the ledger's runs.
#[test]
fn seed_004_month_by_month_backfill_and_full_refresh_agree_with_salted_keys() {
    let root = tempfile::tempdir().unwrap();
    let salt = "chillflow-salt-7f3a91c2";
    let (wh_inc, wh_full) = (root.path().join("inc"), root.path().join("full"));
    let (db_inc, db_full) = (
        fresh_database("strata_seed004_inc"),
        fresh_database("strata_seed004_full"),
    );
    let job = |db: &str, dir: &str| {
        let d = root.path().join(dir);
        std::fs::create_dir_all(&d).unwrap();
        let curate = renamed(
            &d,
            "taxi_trips/curate.sql",
            &[("postgres:///chillflow", &format!("postgres:///{db}"))],
        );
        let status = renamed(
            &d,
            "taxi_trips/status.sql",
            &[("postgres:///chillflow", &format!("postgres:///{db}"))],
        );
        (curate, status)
    };
    let ((curate_inc, status_inc), (curate_full, _)) = (job(&db_inc, "jobs_inc"), job(&db_full, "jobs_full"));
    let mut transcript = String::new();
    let mut injected = 0;

    // Month by month.
    for (i, month) in MONTHS.iter().enumerate() {
        let generated = crate::expectations::generate_month(&wh_inc, month, 1500, 40 + i as u64);
        crate::expectations::generate_month(&wh_full, month, 1500, 40 + i as u64);
        injected += generated["defects"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>();
        let wh = wh_inc.to_str().unwrap();
        let (out, err) = run_salted(
            &[
                "--log-format",
                "json",
                "run",
                &curate_inc,
                "--no-progress",
                "--warehouse",
                wh,
            ],
            salt,
        );
        let summary: serde_json::Value = serde_json::from_str(out.trim().lines().last().unwrap()).unwrap();
        assert_eq!(summary["mode"], "incremental");
        if i > 0 {
            // Only the new month's directory was read and rewritten.
            let trips = summary["ranges"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["table"] == "silver.trips")
                .unwrap();
            assert_eq!(trips["action"], "rewritten", "{summary}");
            // Above the previous month's watermark (its directory's date): the new month only.
            let above = format!("{}-02", MONTHS[i - 1]);
            assert!(trips["range"].as_str().unwrap().starts_with(&above), "{trips}");
        }
        transcript.push_str(&out);
        transcript.push_str(&err);
    }
    // One month again.
    let wh = wh_inc.to_str().unwrap();
    let (out, err) = run_salted(
        &[
            "run",
            &curate_inc,
            "--no-progress",
            "--warehouse",
            wh,
            "--backfill",
            "2024-02-01",
            "2024-02-01",
        ],
        salt,
    );
    transcript.push_str(&(out + &err));
    // Everything at once, in the other warehouse and database.
    let full = wh_full.to_str().unwrap();
    let (out, err) = run_salted(
        &[
            "run",
            &curate_full,
            "--no-progress",
            "--warehouse",
            full,
            "--full-refresh",
        ],
        salt,
    );
    transcript.push_str(&(out + &err));

    // The same tables, row for row (the quarantine's run ids aside).
    let tables = [
        "silver.trips",
        "silver.trips_quarantine",
        "gold.zone_hourly_kpis",
        "gold.monthly_kpis",
    ];
    let out = Command::new(python())
        .arg(repo_root().join("dev/compare_delta.py"))
        .args([&wh_inc, &wh_full])
        .args(tables)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "incremental vs full refresh:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    let (inc, full_pg) = (Pg::connect(&db_inc), Pg::connect(&db_full));
    for table in ["trips", "zone_hourly_kpis"] {
        assert_eq!(inc.digest(table), full_pg.digest(table), "PostgreSQL {table}");
    }
    let curated: u64 = inc.one("SELECT count(*) FROM trips").parse().unwrap();
    assert!(
        curated >= 3 * 1500 - injected,
        "{curated} trips kept of {} ({injected} defects)",
        3 * 1500
    );

    // The keys: one per trip, HMAC-SHA256 of the documented message under the salt.
    let keys = trip_keys(&wh_inc);
    assert_eq!(keys.len() as u64, curated);
    let distinct: std::collections::HashSet<&str> = keys.iter().map(|k| k.split('|').next().unwrap()).collect();
    assert_eq!(distinct.len(), keys.len(), "trip keys are unique");
    let sample = inc.one(
        "SELECT json_build_object('key', trip_key, 'vehicle', vehicle_id, 'message',
           concat_ws('|', vendor_id, to_char(pickup_at, 'YYYY-MM-DD\"T\"HH24:MI:SS'),
                     to_char(dropoff_at, 'YYYY-MM-DD\"T\"HH24:MI:SS'), pickup_zone, dropoff_zone),
           'vehicle_message', concat_ws('|', 'vehicle', vendor_id, pickup_zone))::text
         FROM trips ORDER BY pickup_at LIMIT 1",
    );
    let check = Command::new(python())
        .arg("-c")
        .arg(
            "import hmac, hashlib, json, sys\n\
             s = json.loads(sys.argv[1]); k = sys.argv[2].encode()\n\
             h = lambda m: hmac.new(k, m.encode(), hashlib.sha256).hexdigest()\n\
             assert h(s['message']) == s['key'], (h(s['message']), s)\n\
             assert h(s['vehicle_message']) == s['vehicle'], s\n",
        )
        .args([&sample, salt])
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", stderr(&check));

    // Another salt gives other keys for the same trips; the same salt, the same keys.
    let other = root.path().join("other");
    crate::expectations::generate_month(&other, "2024-01", 1500, 40);
    let first_month = |wh: &Path| -> String {
        let db = fresh_database("strata_seed004_other");
        let d = root
            .path()
            .join(format!("jobs_{}", wh.file_name().unwrap().to_str().unwrap()));
        std::fs::create_dir_all(&d).unwrap();
        renamed(
            &d,
            "taxi_trips/curate.sql",
            &[("postgres:///chillflow", &format!("postgres:///{db}"))],
        )
    };
    let job_other = first_month(&other);
    run_salted(
        &[
            "run",
            &job_other,
            "--no-progress",
            "--warehouse",
            other.to_str().unwrap(),
        ],
        "another-salt",
    );
    let january: std::collections::HashSet<String> = trip_keys(&other)
        .into_iter()
        .map(|k| k.split('|').next().unwrap().to_string())
        .collect();
    assert!(
        distinct.iter().all(|k| !january.contains(*k)),
        "another salt made the same keys"
    );
    run_salted(
        &[
            "run",
            &job_other,
            "--no-progress",
            "--warehouse",
            other.to_str().unwrap(),
            "--full-refresh",
        ],
        salt,
    );
    let resalted: std::collections::HashSet<String> = trip_keys(&other)
        .into_iter()
        .map(|k| k.split('|').next().unwrap().to_string())
        .collect();
    assert!(
        resalted.iter().all(|k| distinct.contains(k.as_str())),
        "the same salt made other keys"
    );

    // The status job: each month at a glance, with the ledger's runs.
    let (out, err) = run_salted(&["run", &status_inc, "--no-progress", "--warehouse", wh], salt);
    transcript.push_str(&(out + &err));
    let status = inc.column(
        "SELECT json_build_object('month', month, 'raw', raw_trips, 'kept', curated_trips, 'rate', retention_rate,
           'hours', hours_processed, 'first', first_pickup, 'last', last_pickup, 'runs', runs_succeeded,
           'mode', last_run_mode)::text FROM kpi_status ORDER BY month",
    );
    assert_eq!(status.len(), 3, "{status:?}");
    for (row, month) in status.iter().zip(MONTHS) {
        let row: serde_json::Value = serde_json::from_str(row.as_deref().unwrap()).unwrap();
        assert_eq!(row["month"], format!("{month}-01"), "{row}");
        assert_eq!(row["raw"], 1500, "{row}");
        let (raw, kept) = (row["raw"].as_f64().unwrap(), row["kept"].as_f64().unwrap());
        assert!(
            (row["rate"].as_f64().unwrap() - 100.0 * kept / raw).abs() <= 0.005 + 1e-9,
            "{row}"
        );
        assert!(row["first"].as_str().unwrap().starts_with(month), "{row}");
        assert!(row["last"].as_str().unwrap().starts_with(month), "{row}");
        assert!(row["hours"].as_u64().unwrap() > 24 * 20, "{row}");
        // Three monthly runs and the backfill succeeded.
        assert_eq!(row["runs"], 4, "{row}");
        assert!(
            row["mode"].as_str().unwrap().starts_with("backfill 2024-02-01"),
            "{row}"
        );
    }
    let kept: u64 = status
        .iter()
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(r.as_deref().unwrap()).unwrap()["kept"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(kept, curated);

    // The KPIs and the status, against pandas over the raw files.
    dump(&inc, "zone_hourly_kpis", &root.path().join("kpis.jsonl"));
    dump(&inc, "kpi_status", &root.path().join("status.jsonl"));
    let out = Command::new(python())
        .arg(repo_root().join("dev/check_seed004.py"))
        .arg(wh_inc.join("raw/yellow"))
        .arg(root.path().join("kpis.jsonl"))
        .arg(root.path().join("status.jsonl"))
        .output()
        .unwrap();
    assert!(out.status.success(), "the KPIs differ from pandas:\n{}", stderr(&out));
    let reference: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(reference["kept"], curated, "{reference}");

    // The salt is nowhere: not in what the runs printed, nor in `explain`, the ledger or any table.
    let (explain, _) = run_salted(&["explain", &curate_inc, "--warehouse", wh, "--full-refresh"], salt);
    assert!(
        explain.contains("hmac_sha256") && explain.contains("chillflow_salt"),
        "{explain}"
    );
    transcript.push_str(&explain);
    let (runs, _) = run_salted(&["--log-format", "json", "runs", "--warehouse", wh], salt);
    transcript.push_str(&runs);
    assert!(!transcript.contains(salt), "the salt leaked into the output");
    let found = Command::new("grep")
        .args(["-r", "-l", "-a", salt])
        .arg(&wh_inc)
        .output()
        .unwrap();
    assert!(found.stdout.is_empty(), "the salt is in {}", stdout(&found));
    for table in ["trips", "zone_hourly_kpis", "kpi_status"] {
        let rows = inc.one(&format!("SELECT count(*) FROM {table} t WHERE t::text LIKE '%{salt}%'"));
        assert_eq!(rows, "0", "{table}");
    }
}
