//! Whole-partition window functions (the indicators, aggregates over whole partitions) computed partition by
//! partition as sorted input arrives (`StreamingWindowExec`): the results must be DataFusion's `WindowAggExec`'s,
//! whatever the batch size and the number of partitions, with partitions that span batches and batches that hold
//! many partitions.

use datafusion::prelude::SessionConfig;

use crate::*;

/// 40 partitions of 1 to 90 rows, prices around 100, about one value in nine NULL.
fn data() -> String {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15_u64);
    let mut next = move || rng.next_u64();
    let mut rows = Vec::new();
    for g in 0..40 {
        for i in 0..1 + next() % 90 {
            let v = match next().is_multiple_of(9) {
                true => "NULL".to_string(),
                false => format!("{:.3}", 95.0 + (next() % 10_000) as f64 / 1000.0),
            };
            rows.push(format!("('s{g:02}', {i}, {v})"));
        }
    }
    format!("(VALUES {}) AS t(g, i, x)", rows.join(", "))
}

#[tokio::test]
async fn whole_partition_windows_stream_with_the_same_results() {
    let data = data();
    let q = format!(
        "SELECT g, i, x, sma(x, 5) OVER w AS sma5, ema(x, 3) OVER w AS ema3, rsi(x, 4) OVER w AS rsi4, \
         sum(x) OVER (PARTITION BY g) AS total, \
         last_value(x) OVER (PARTITION BY g ORDER BY i ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS last \
         FROM {data} WINDOW w AS (PARTITION BY g ORDER BY i) ORDER BY g, i"
    );
    // Strata's functions without its physical rules: DataFusion's WindowAggExec computes.
    let expected = pretty(&sql(&ctx(), &q).await.unwrap());
    for (batch, partitions) in [(1, 1), (4, 2), (37, 3), (8192, 2)] {
        let strata = strata_ctx_with(
            SessionConfig::new()
                .with_batch_size(batch)
                .with_target_partitions(partitions),
        );
        let plan = pretty(&sql(&strata, &format!("EXPLAIN {q}")).await.unwrap());
        assert!(plan.contains("StreamingWindowExec"), "not streamed:\n{plan}");
        assert!(!plan.contains("WindowAggExec:"), "a WindowAggExec is left:\n{plan}");
        let ours = pretty(&sql(&strata, &q).await.unwrap());
        assert_eq!(ours, expected, "batch {batch}, {partitions} partitions");
    }
    // No PARTITION BY: one partition, DataFusion's operator stays.
    let q = format!("SELECT g, i, sma(x, 5) OVER (ORDER BY g, i) AS s FROM {data} ORDER BY g, i");
    let strata = strata_ctx();
    let plan = pretty(&sql(&strata, &format!("EXPLAIN {q}")).await.unwrap());
    assert!(!plan.contains("StreamingWindowExec"), "{plan}");
    assert_eq!(
        pretty(&sql(&strata, &q).await.unwrap()),
        pretty(&sql(&ctx(), &q).await.unwrap())
    );
}
