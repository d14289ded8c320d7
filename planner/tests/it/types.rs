//! Upstream type quirks a stage must survive, in every engine. DataFusion 55 plans `(x - 1) / 8` over a
//! `row_number()` (UInt64 minus Int64, then a division) as `Decimal128(24, 4)` and computes `Decimal128(25, 4)`:
//! the stage conforms the batches to the planned type when no value changes.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, UInt64Type};
use strata_planner::{Engine, Params};

use crate::*;

const JOB: &str = "
CREATE TABLE silver.prices AS SELECT * FROM (VALUES (3.0), (1.0), (2.0), (5.0), (4.0), (9.0), (8.0), (7.0), (6.0),
  (10.0)) AS t(v);

-- Fixed-size buckets the way a user writes them: the quirk above.
CREATE TABLE silver.buckets AS
SELECT x, (x - 1) / 8 AS b FROM (SELECT row_number() OVER (ORDER BY v) AS x FROM silver.prices);

-- A stage that reads the conformed table.
CREATE TABLE gold.bucket_sizes AS SELECT CAST(floor(b) AS BIGINT) AS bucket, count(*) AS n FROM silver.buckets GROUP BY 1;
";

async fn buckets_survive_the_planned_type(engine: Engine) {
    let wh = tempfile::tempdir().unwrap();
    let (summary, _) = run_sql_on(JOB, wh.path(), &Params::default(), engine).await;
    summary.unwrap();
    let batches = query_table(wh.path(), "silver.buckets", "ORDER BY x").await;
    let mut seen = Vec::new();
    for b in &batches {
        assert_eq!(b.schema().field(1).data_type(), &DataType::Decimal128(24, 4));
        // Delta has no unsigned integers: the row number is stored as a BIGINT.
        let x = datafusion::arrow::compute::cast(b.column(0), &DataType::UInt64).unwrap();
        let (x, q) = (
            x.as_primitive::<UInt64Type>(),
            b.column(1).as_primitive::<Decimal128Type>(),
        );
        for i in 0..b.num_rows() {
            seen.push((x.value(i), q.value(i)));
        }
    }
    // (x - 1) / 8 with four decimals: 0, 0.125, 0.25, … as unscaled integers.
    let expected: Vec<(u64, i128)> = (1..=10u64).map(|x| (x, (x as i128 - 1) * 10_000 / 8)).collect();
    assert_eq!(seen, expected);
    let sizes = query_table(wh.path(), "gold.bucket_sizes", "ORDER BY bucket").await;
    assert_eq!(
        pretty(&sizes),
        "+--------+---+\n| bucket | n |\n+--------+---+\n| 0      | 8 |\n| 1      | 2 |\n+--------+---+"
    );
    assert!(sizes.iter().all(|b| !b.column(1).is_empty()));
}

#[tokio::test]
async fn a_decimal_the_plan_types_narrower_than_it_computes_is_conformed() {
    buckets_survive_the_planned_type(Engine::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decimal_the_plan_types_narrower_than_it_computes_is_conformed_on_an_in_process_cluster() {
    buckets_survive_the_planned_type(Engine::Standalone).await;
}
