//! `min_by` / `max_by`, and ordered `first_value` / `last_value` in a GROUP BY planned as them: the rewritten
//! plans must give what DataFusion's own accumulator gives, for every ordering and NULL placement, over data with
//! NULL keys, NULL values and groups whose keys are all NULL.

use datafusion::prelude::SessionContext;

use crate::*;

#[tokio::test]
async fn min_by_and_max_by_pick_the_value_at_the_extreme_key() {
    let ctx = ctx();
    let rows = "(VALUES ('a', 3, 30.0, 'x'), ('a', 1, 10.0, 'y'), ('a', NULL, 99.0, 'z'), ('a', 2, NULL, 'w'), \
                ('b', NULL, 5.0, 'v'), ('c', 7, 70.0, NULL)) AS t(g, k, v, s)";
    let grouped = sql(
        &ctx,
        &format!(
            "SELECT g, min_by(v, k) AS lo, max_by(v, k) AS hi, min_by(s, k) AS s_lo, max_by(v, k, true) AS hi_nulls, \
             min_by(v, k, false) AS lo_lose FROM {rows} GROUP BY g ORDER BY g"
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        pretty(&grouped),
        "+---+------+------+------+----------+---------+\n\
         | g | lo   | hi   | s_lo | hi_nulls | lo_lose |\n\
         +---+------+------+------+----------+---------+\n\
         | a | 10.0 | 30.0 | y    | 99.0     | 10.0    |\n\
         | b |      |      |      | 5.0      | 5.0     |\n\
         | c | 70.0 | 70.0 |      | 70.0     | 70.0    |\n\
         +---+------+------+------+----------+---------+"
    );
    // One group (no GROUP BY) runs the same accumulator row-wise.
    let all = sql(
        &ctx,
        &format!("SELECT min_by(v, k) AS lo, max_by(s, v) AS s_hi FROM {rows}"),
    )
    .await
    .unwrap();
    assert_eq!(
        pretty(&all),
        "+------+------+\n| lo   | s_hi |\n+------+------+\n| 10.0 | z    |\n+------+------+"
    );
    let e = sql(&ctx, "SELECT min_by(1.0) FROM (VALUES (1)) t(x)")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("expected 2 or 3 arguments"), "{e}");
}

/// Rows `(g, k, v)`: keys unique within a group (a tie would make any answer right), about one group in five
/// with one NULL key among others, some groups with a single NULL-key row, and some NULL values.
fn rows(seed: u64) -> String {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    for g in 0..40 {
        let n = 1 + rng.next_u64() % 6;
        let mut keys: Vec<i64> = (0..n as i64).map(|i| i * 10 + (rng.next_u64() % 7) as i64).collect();
        keys.sort_by_key(|_| rng.next_u64());
        for (i, k) in keys.iter().enumerate() {
            let null_key = (i == 0 && g % 5 == 1) || (n == 1 && g % 7 == 3);
            let key = if null_key {
                "NULL".to_string()
            } else {
                format!("TIMESTAMP '2024-01-01T00:00:00Z' + INTERVAL '{k} minutes'")
            };
            let value = if rng.next_u64().is_multiple_of(6) {
                "NULL".to_string()
            } else {
                format!("{}.5", rng.next_u64() % 1000)
            };
            out.push(format!("({g}, {key}, {value})"));
        }
    }
    format!("(VALUES {}) AS t(g, k, v)", out.join(", "))
}

#[tokio::test]
async fn ordered_first_and_last_values_are_planned_as_min_by_and_max_by_with_the_same_results() {
    let (strata, plain) = (strata_ctx(), SessionContext::new());
    for seed in [7_u64, 99, 12345] {
        let data = rows(seed);
        for f in ["first_value", "last_value"] {
            for dir in ["ASC", "DESC"] {
                for nulls in ["NULLS FIRST", "NULLS LAST", ""] {
                    let q = format!(
                        "SELECT g, {f}(v ORDER BY k {dir} {nulls}) AS x, count(*) AS n FROM {data} GROUP BY g ORDER BY g"
                    );
                    let ours = pretty(&sql(&strata, &q).await.unwrap());
                    let theirs = pretty(&sql(&plain, &q).await.unwrap());
                    assert_eq!(ours, theirs, "seed {seed}: {f} {dir} {nulls}");
                    let plan = pretty(&sql(&strata, &format!("EXPLAIN {q}")).await.unwrap());
                    assert!(
                        plan.contains("min_by(") || plan.contains("max_by("),
                        "not rewritten:\n{plan}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn what_the_accumulator_does_not_take_stays_as_written() {
    let ctx = strata_ctx();
    let data = "(VALUES (1, 'b', 2.0), (1, 'a', 3.0)) AS t(g, s, v)";
    for q in [
        // A string key, an IGNORE NULLS, a FILTER, and two ORDER BY keys.
        format!("SELECT g, first_value(v ORDER BY s) AS x FROM {data} GROUP BY g"),
        format!("SELECT g, first_value(v ORDER BY v) IGNORE NULLS AS x FROM {data} GROUP BY g"),
        format!("SELECT g, first_value(v ORDER BY v) FILTER (WHERE v > 2.5) AS x FROM {data} GROUP BY g"),
        format!("SELECT g, last_value(v ORDER BY g, v) AS x FROM {data} GROUP BY g"),
    ] {
        let plan = pretty(&sql(&ctx, &format!("EXPLAIN {q}")).await.unwrap());
        assert!(!plan.contains("min_by(") && !plan.contains("max_by("), "{q}:\n{plan}");
        let expected = pretty(&sql(&SessionContext::new(), &q).await.unwrap());
        assert_eq!(pretty(&sql(&ctx, &q).await.unwrap()), expected, "{q}");
    }
}
