use super::*;

const JOB: &str = "-- a job\nCREATE EXTERNAL TABLE bronze.prices STORED AS DELTA LOCATION 'bronze/prices';\n\
CREATE VIEW clean AS\n  SELECT * FROM bronze.prices WHERE close > ${min_close};\n\
CREATE TABLE silver.bars PARTITIONED BY (year) AS\n  WITH x AS (SELECT * FROM clean) SELECT * FROM x JOIN \"Mixed\" m ON true;\n\
INSERT INTO sink SELECT * FROM silver.bars WHERE ts >= ${start};\n";

#[test]
fn parses_every_statement_kind_with_locations() {
    let job = parse_job("job.sql", JOB).unwrap();
    let kinds: Vec<_> = job.statements.iter().map(|s| s.kind_name()).collect();
    assert_eq!(kinds, ["source", "view", "table", "insert"]);
    let lines: Vec<_> = job.statements.iter().map(|s| s.location.line).collect();
    assert_eq!(lines, [2, 3, 5, 7]);
    assert_eq!(job.statements[0].target().name, "bronze.prices");
    assert_eq!(job.statements[2].target().name, "silver.bars");
    match &job.statements[2].kind {
        StatementKind::Table { partitioned_by, .. } => assert_eq!(partitioned_by[0].value, "year"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(job.statements[1].text.starts_with("CREATE VIEW clean AS"));
    assert!(
        job.statements[1].text.ends_with("${min_close}"),
        "{}",
        job.statements[1].text
    );
}

#[test]
fn references_skip_ctes_and_keep_quoted_case() {
    let job = parse_job("job.sql", JOB).unwrap();
    let refs: Vec<_> = job.statements[2].references().into_iter().map(|r| r.name).collect();
    assert_eq!(refs, ["clean", "Mixed"]);
    let r = &job.statements[1].references()[0];
    assert_eq!(
        (r.name.as_str(), r.location.line, r.location.column),
        ("bronze.prices", 4, 17)
    );
}

#[test]
fn parameters_become_named_placeholders() {
    let job = parse_job("job.sql", JOB).unwrap();
    let params: Vec<_> = job.parameters().into_iter().collect();
    assert_eq!(params, ["min_close", "start"]);
    let (name, loc) = &job.statements[1].parameters[0];
    assert_eq!((name.as_str(), loc.line, loc.column), ("min_close", 4, 45));
    let sql = job.statements[1].query().unwrap().to_string();
    assert!(sql.contains("$min_close"), "{sql}");
}

#[test]
fn syntax_error_names_file_line_and_column() {
    let err = parse_job("bad.sql", "CREATE VIEW v AS SELECT 1;\n\nCREATE TABLE t AS SELEC 1;").unwrap_err();
    let loc = err.location().unwrap();
    assert_eq!((&*loc.file, loc.line, loc.column), ("bad.sql", 3, 19));
    assert!(err.to_string().starts_with("bad.sql:3:19: syntax error"), "{err}");
}

#[test]
fn unsupported_statements_and_positional_parameters_are_rejected() {
    let err = parse_job("j.sql", "  DROP TABLE x;").unwrap_err();
    assert!(err.to_string().starts_with("j.sql:1:3:"), "{err}");
    let err = parse_job("j.sql", "CREATE VIEW v AS SELECT $1;").unwrap_err();
    assert!(err.to_string().contains("positional parameter $1"), "{err}");
    let err = parse_job("j.sql", "-- nothing\n").unwrap_err();
    assert!(err.to_string().contains("no statements"), "{err}");
}

#[test]
fn external_table_options_and_function_calls() {
    let sql = "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/x.csv' OPTIONS ('format.has_header' 'true');\n\
               CREATE VIEW v AS SELECT upper(a), my_udf(b) FROM t";
    let job = parse_job("j.sql", sql).unwrap();
    match &job.statements[0].kind {
        StatementKind::Source(c) => {
            assert_eq!(c.file_type.to_uppercase(), "CSV");
            assert_eq!(c.locations, vec!["/x.csv".to_string()]);
            assert_eq!(c.options.len(), 1);
        }
        other => panic!("unexpected {other:?}"),
    }
    let calls: Vec<_> = job.statements[1]
        .function_calls()
        .into_iter()
        .map(|f| (f.name, f.location.column))
        .collect();
    assert_eq!(calls, [("upper".to_string(), 25), ("my_udf".to_string(), 35)]);
}

#[test]
fn views_and_inserts_declare_expectations() {
    let job = parse_job(
        "x.sql",
        "CREATE VIEW clean (CONSTRAINT positive EXPECT (close > 0) ON VIOLATION DROP ROW) AS SELECT * FROM t;\n\
         INSERT INTO sink (CONSTRAINT known EXPECT (symbol IS NOT NULL) ON VIOLATION QUARANTINE) SELECT * FROM clean;\n\
         INSERT INTO other (SELECT 1 AS x)",
    )
    .unwrap();
    let names = |i: usize| -> Vec<(String, ViolationAction)> {
        job.statements[i]
            .expectations()
            .iter()
            .map(|e| (e.name.clone(), e.action))
            .collect()
    };
    assert_eq!(names(0), [("positive".to_string(), ViolationAction::Drop)]);
    assert_eq!(names(1), [("known".to_string(), ViolationAction::Quarantine)]);
    assert_eq!(job.statements[1].expectations()[0].location.line, 2);
    // A parenthesized query after the target is still a query.
    assert!(names(2).is_empty());
    assert!(matches!(job.statements[2].kind, StatementKind::Insert { .. }));
}

#[test]
fn tables_declare_expectations() {
    let job = parse_job(
        "x.sql",
        "CREATE TABLE silver.bars (\n  CONSTRAINT positive EXPECT (close > 0) ON VIOLATION DROP ROW,\n  \
         CONSTRAINT \"Range\" EXPECT (high >= low) ON VIOLATION QUARANTINE,\n  CONSTRAINT present EXPECT (symbol IS NOT NULL) ON VIOLATION FAIL UPDATE,\n  \
         CONSTRAINT sane EXPECT (volume < 1000)\n) PARTITIONED BY (year) AS SELECT * FROM t",
    )
    .unwrap();
    let StatementKind::Table {
        expectations,
        partitioned_by,
        ..
    } = &job.statements[0].kind
    else {
        panic!("not a table");
    };
    assert_eq!(partitioned_by.len(), 1);
    let got: Vec<(&str, ViolationAction, u64)> = expectations
        .iter()
        .map(|e| (e.name.as_str(), e.action, e.location.line))
        .collect();
    assert_eq!(
        got,
        [
            ("positive", ViolationAction::Drop, 2),
            ("Range", ViolationAction::Quarantine, 3),
            ("present", ViolationAction::Fail, 4),
            ("sane", ViolationAction::Warn, 5)
        ]
    );
    assert_eq!(expectations[0].condition.to_string(), "close > 0");
    let err = parse_job(
        "x.sql",
        "CREATE TABLE t (CONSTRAINT a EXPECT (x > 0) ON VIOLATION EXPLODE) AS SELECT 1",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("DROP ROW, QUARANTINE, FAIL or WARN"), "{err}");
    assert!(
        parse_job(
            "x.sql",
            "CREATE TABLE t (CONSTRAINT a EXPECT (x > 0), CONSTRAINT a EXPECT (x < 9)) AS SELECT 1"
        )
        .is_err()
    );
}

#[test]
fn merge_statements_write_their_target_and_read_their_source() {
    let job = parse_job(
        "m.sql",
        "MERGE INTO silver.positions AS t USING (SELECT * FROM changes) AS s ON t.symbol = s.symbol\n\
         WHEN MATCHED THEN UPDATE SET qty = s.qty WHEN NOT MATCHED THEN INSERT (symbol, qty) VALUES (s.symbol, s.qty)",
    )
    .unwrap();
    let st = &job.statements[0];
    assert_eq!(st.target().name, "silver.positions");
    assert_eq!(st.kind_name(), "merge");
    assert_eq!(
        st.references().iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["changes"]
    );
    let StatementKind::Insert { merge: Some(m), .. } = &st.kind else {
        panic!("not a merge");
    };
    assert_eq!((m.target_alias.as_str(), m.source_alias.as_str()), ("t", "s"));
    assert_eq!(m.clauses.len(), 2);
    let table_source = parse_job("m.sql", "MERGE INTO a USING b ON a.id = b.id WHEN MATCHED THEN DELETE").unwrap();
    assert_eq!(table_source.statements[0].references()[0].name, "b");
}

#[test]
fn event_time_is_parsed_in_either_order() {
    let job = parse_job(
        "t.sql",
        "CREATE TABLE a.b EVENT TIME (ts) PARTITIONED BY (year) AS SELECT 1 AS ts, 2 AS year;\n\
         CREATE TABLE a.c PARTITIONED BY (year) EVENT TIME (\"Day\") AS SELECT 1 AS \"Day\", 2 AS year",
    )
    .unwrap();
    let times: Vec<_> = job
        .statements
        .iter()
        .map(|s| match &s.kind {
            StatementKind::Table {
                event_time,
                partitioned_by,
                ..
            } => (event_time.as_ref().map(|e| e.value.clone()), partitioned_by.len()),
            _ => panic!("not a table"),
        })
        .collect();
    assert_eq!(times, vec![(Some("ts".into()), 1), (Some("Day".into()), 1)]);
    let err = parse_job("t.sql", "CREATE TABLE a.b EVENT TIME ts AS SELECT 1 AS ts").unwrap_err();
    assert!(err.to_string().contains("t.sql:1:"), "{err}");
}

#[test]
fn the_schedule_directive_is_part_of_the_job_file() {
    let job = parse_job(
        "nightly.sql",
        "-- a job\n--! schedule '30 21 * * 1-5' retries 1 backoff 30s\nCREATE TABLE a.b AS SELECT 1 AS x;",
    )
    .unwrap();
    let schedule = job.schedule.expect("a schedule");
    assert_eq!(schedule.cron.text(), "30 21 * * 1-5");
    assert_eq!(schedule.retries, 1);
    assert_eq!(schedule.location.line, 2);
    assert!(
        parse_job("j.sql", "CREATE TABLE a.b AS SELECT 1 AS x;")
            .unwrap()
            .schedule
            .is_none()
    );
    // A malformed directive is a job-file error like any other, located at its line.
    let err = parse_job("j.sql", "--! schedule 'sometimes'\nCREATE TABLE a.b AS SELECT 1 AS x;").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("j.sql:1: 'sometimes' is not a cron expression"),
        "{err}"
    );
    assert_eq!(err.location().map(|l| l.line), Some(1));
}
