//! Aggregates over sliding ROWS frames planned as running ones (`rolling_agg`, `rolling_count`): the rewritten
//! plans must give what DataFusion's own sliding accumulators give, over partitions with NULL values, short
//! partitions and every supported aggregate and frame.

use datafusion::prelude::SessionContext;

use crate::*;

/// 30 partitions of 1 to 60 rows; about one value in seven NULL; prices around 100.
fn data() -> String {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d_u64);
    let mut next = move || rng.next_u64();
    let mut rows = Vec::new();
    for g in 0..30 {
        let n = 1 + next() % 60;
        for i in 0..n {
            let v = if next().is_multiple_of(7) {
                "NULL".to_string()
            } else {
                format!("{:.4}", 90.0 + (next() % 20_000) as f64 / 1000.0)
            };
            rows.push(format!("({g}, {i}, {v}, {})", next() % 100));
        }
    }
    format!("(VALUES {}) AS t(g, i, x, k)", rows.join(", "))
}

/// Float columns of two results agree within 1e-9 relative (running sums round differently only in the last
/// bits); everything else exactly. Where DataFusion's sliding variance goes a rounding error below zero it
/// shows NaN (its square root); ours is 0 there.
fn agree(a: &str, b: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split(['|', '\n']).collect(), b.split(['|', '\n']).collect());
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, y)| match (x.trim().parse::<f64>(), y.trim().parse::<f64>()) {
                (Ok(p), Ok(q)) if q.is_nan() => p.abs() < 1e-6,
                (Ok(p), Ok(q)) => (p - q).abs() <= 1e-9 * p.abs().max(q.abs()).max(1.0),
                _ => x == y,
            })
}

#[tokio::test]
async fn rolling_frames_are_planned_as_running_aggregates_with_the_same_results() {
    let (strata, plain) = (strata_ctx(), SessionContext::new());
    let data = data();
    for frame in [
        "ROWS BETWEEN 4 PRECEDING AND CURRENT ROW",
        "ROWS BETWEEN 19 PRECEDING AND CURRENT ROW",
        "ROWS BETWEEN CURRENT ROW AND CURRENT ROW",
        "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW",
    ] {
        let q = format!(
            "SELECT g, i, avg(x) OVER w AS a, sum(x) OVER w AS s, count(x) OVER w AS n, stddev(x) OVER w AS sd, \
             stddev_pop(x) OVER w AS sdp, var_samp(x) OVER w AS v, var_pop(x) OVER w AS vp, avg(k) OVER w AS ak, \
             count(k) OVER w AS nk FROM {data} WINDOW w AS (PARTITION BY g ORDER BY i {frame}) ORDER BY g, i"
        );
        let ours = pretty(&sql(&strata, &q).await.unwrap());
        let theirs = pretty(&sql(&plain, &q).await.unwrap());
        assert!(agree(&ours, &theirs), "{frame}:\n{ours}\nvs\n{theirs}");
        let plan = pretty(&sql(&strata, &format!("EXPLAIN {q}")).await.unwrap());
        assert!(
            plan.contains("rolling_agg(") && plan.contains("rolling_count("),
            "not rewritten:\n{plan}"
        );
        // Same schema, nullability included: `count` stays a non-NULL Int64.
        let (a, b) = (strata.sql(&q).await.unwrap(), plain.sql(&q).await.unwrap());
        assert_eq!(a.schema().as_arrow(), b.schema().as_arrow());
    }
}

/// The vectorized operator (`RollingWindowExec`) runs them, and its partitions may span batches and batches
/// partitions: tiny batches and several partitions must still give DataFusion's results.
#[tokio::test]
async fn the_rolling_operator_agrees_across_batch_and_partition_boundaries() {
    let data = data();
    let q = format!(
        "SELECT g, i, avg(x) OVER w AS a, stddev(x) OVER w AS sd, count(x) OVER w AS n, \
         sum(x) OVER (PARTITION BY g ORDER BY i ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum, \
         var_pop(k) OVER (PARTITION BY g ORDER BY i ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS vk \
         FROM {data} WINDOW w AS (PARTITION BY g ORDER BY i ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) ORDER BY g, i"
    );
    let theirs = pretty(&sql(&SessionContext::new(), &q).await.unwrap());
    for (batch, partitions) in [(1, 1), (3, 2), (7, 3), (8192, 4)] {
        let config = datafusion::prelude::SessionConfig::new()
            .with_batch_size(batch)
            .with_target_partitions(partitions);
        let ctx = strata_ctx_with(config);
        let ours = pretty(&sql(&ctx, &q).await.unwrap());
        assert!(
            agree(&ours, &theirs),
            "batch {batch}, {partitions} partitions:\n{ours}\nvs\n{theirs}"
        );
        let plan = pretty(&sql(&ctx, &format!("EXPLAIN {q}")).await.unwrap());
        assert!(plan.contains("RollingWindowExec"), "not run by the operator:\n{plan}");
    }
    // Without a PARTITION BY the whole input is one partition.
    let q = format!(
        "SELECT g, i, avg(x) OVER (ORDER BY g, i ROWS BETWEEN 9 PRECEDING AND CURRENT ROW) AS a FROM {data} ORDER BY g, i"
    );
    let ctx = strata_ctx_with(datafusion::prelude::SessionConfig::new().with_batch_size(5));
    let (ours, theirs) = (
        pretty(&sql(&ctx, &q).await.unwrap()),
        pretty(&sql(&SessionContext::new(), &q).await.unwrap()),
    );
    assert!(agree(&ours, &theirs), "{ours}\nvs\n{theirs}");
}

#[tokio::test]
async fn frames_and_aggregates_the_rewrite_does_not_take_stay_as_written() {
    let ctx = strata_ctx();
    let data = data();
    for over in [
        "SUM(k) OVER (PARTITION BY g ORDER BY i ROWS BETWEEN 3 PRECEDING AND CURRENT ROW)", // integer sum
        "avg(x) OVER (PARTITION BY g ORDER BY i ROWS BETWEEN 3 PRECEDING AND 1 FOLLOWING)",
        "avg(x) OVER (PARTITION BY g ORDER BY i RANGE BETWEEN 3 PRECEDING AND CURRENT ROW)",
        "avg(x) OVER (PARTITION BY g ORDER BY i)",
        "min(x) OVER (PARTITION BY g ORDER BY i ROWS BETWEEN 3 PRECEDING AND CURRENT ROW)",
    ] {
        let q = format!("SELECT g, i, {over} AS r FROM {data} ORDER BY g, i");
        let plan = pretty(&sql(&ctx, &format!("EXPLAIN {q}")).await.unwrap());
        assert!(!plan.contains("rolling_"), "{over}:\n{plan}");
        let expected = pretty(&sql(&SessionContext::new(), &q).await.unwrap());
        assert_eq!(pretty(&sql(&ctx, &q).await.unwrap()), expected, "{over}");
    }
    let e = sql(
        &ctx,
        "SELECT rolling_agg(x, 'median', 3) OVER (ORDER BY x ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) \
                       FROM (VALUES (1.0)) t(x)",
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("argument 2 (kind)"), "{e}");
}
