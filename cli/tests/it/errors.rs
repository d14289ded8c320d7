//! Bad input: non-zero exit and a message naming file:line:col.

use crate::*;

fn validate(sql: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.sql");
    std::fs::write(&path, sql).unwrap();
    let out = strata(&[
        "validate",
        path.to_str().unwrap(),
        "--warehouse",
        dir.path().to_str().unwrap(),
    ]);
    let err = stderr(&out).replace(path.to_str().unwrap(), "bad.sql");
    (out.status.success(), err)
}

#[test]
fn validate_rejects_syntax_errors_unknown_tables_and_cycles_with_locations() {
    let (ok, err) = validate("CREATE VIEW v AS\n  SELEC 1;");
    assert!(!ok);
    assert!(err.starts_with("error: bad.sql:2:3: syntax error"), "{err}");

    let (ok, err) =
        validate("CREATE VIEW v AS SELECT 1 AS x;\nCREATE TABLE t AS SELECT * FROM v JOIN missing USING (x);");
    assert!(!ok);
    assert!(err.starts_with("error: bad.sql:2:40: unknown table 'missing'"), "{err}");

    let (ok, err) = validate(
        "CREATE VIEW a AS SELECT * FROM c;\nCREATE VIEW b AS SELECT * FROM a;\nCREATE VIEW c AS SELECT * FROM b;",
    );
    assert!(!ok);
    assert!(
        err.starts_with("error: bad.sql:1:1: cycle between stages: a -> b -> c -> a"),
        "{err}"
    );

    // A template's copies are checked like any statement: an unknown table in one copy is an error at the
    // template's line, and two copies defining one table are a duplicate.
    let (ok, err) = validate(
        "CREATE VIEW v AS SELECT 1 AS x;\nFOR n IN (1, 2) DO\nCREATE TABLE t_{n} AS SELECT x FROM v JOIN w_{n} USING (x);\nEND FOR;",
    );
    assert!(!ok);
    assert!(err.starts_with("error: bad.sql:3:44: unknown table 'w_1'"), "{err}");
    let (ok, err) = validate("FOR n IN (1, 2) DO\nCREATE TABLE t AS SELECT {n} AS x;\nEND FOR;");
    assert!(!ok && err.contains("bad.sql:2:1") && err.contains("'t'"), "{err}");
    let (ok, err) = validate("FOR n IN (1, 2) DO\nCREATE TABLE t_{n} AS SELECT {k} AS x;\nEND FOR;");
    assert!(
        !ok && err.starts_with("error: bad.sql:2:30:") && err.contains("{k}"),
        "{err}"
    );

    let (ok, out) = validate("CREATE VIEW v AS SELECT 1 AS x;\nCREATE TABLE t AS SELECT x + 1 AS y FROM v;");
    assert!(ok, "{out}");
}

#[test]
fn missing_files_and_bad_arguments_fail_clearly() {
    let out = strata(&["run", "no/such/job.sql"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot read job file no/such/job.sql"),
        "{}",
        stderr(&out)
    );

    let out = strata(&["run", "jobs/stock_market/pipeline.sql", "--param", "oops"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("expected NAME=VALUE"), "{}", stderr(&out));

    let out = strata(&["--help"]);
    let help = stdout(&out);
    for cmd in ["run", "explain", "validate", "generate"] {
        assert!(help.contains(cmd), "{help}");
    }
}

#[test]
fn a_kafka_credential_in_a_job_file_is_refused_by_name() {
    #[rustfmt::skip]
    let (ok, err) = validate(
        "CREATE EXTERNAL TABLE bronze.ticks (symbol VARCHAR) STORED AS KAFKA\n  LOCATION 'kafka://127.0.0.1:1/ticks'\n  \
         OPTIONS ('kafka.sasl.username' 'svc', 'kafka.sasl.password' 'hunter2');\n\
         CREATE TABLE silver.t AS SELECT * FROM bronze.ticks;",
    );
    assert!(!ok);
    assert!(
        err.contains("bad.sql:1:1") && err.contains("'kafka.sasl.password' is a credential"),
        "{err}"
    );
    assert!(err.contains("STRATA_KAFKA_SASL_PASSWORD"), "{err}");
    assert!(!err.contains("hunter2"), "the secret is echoed: {err}");
}
