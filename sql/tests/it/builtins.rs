//! Built-ins Strata replaces with faster equivalents (`date_trunc` on UTC timestamps) give exactly what
//! DataFusion's own functions give, in SQL, through the Strata session.

use datafusion::prelude::SessionContext;

use crate::*;

/// `date_trunc` of every unit over zoned and naive timestamps, run by `ctx`.
async fn truncations(ctx: &SessionContext) -> String {
    let rows = "(VALUES (TIMESTAMP '1969-12-31 23:59:59.999999'), (TIMESTAMP '2000-02-29 12:00:00'), \
                (TIMESTAMP '2023-12-31 23:59:59.999999'), (TIMESTAMP '2024-03-04 00:00:00'), \
                (TIMESTAMP '2024-03-10 23:30:00'), (NULL)) AS t(naive)";
    let units = ["second", "minute", "hour", "day", "week", "month", "quarter", "year"];
    let columns: Vec<String> = units
        .iter()
        .flat_map(|u| {
            [
                format!("date_trunc('{u}', utc) AS utc_{u}"),
                format!("date_trunc('{u}', ny) AS ny_{u}"),
                format!("date_trunc('{u}', naive) AS naive_{u}"),
            ]
        })
        .collect();
    let query = format!(
        "SELECT arrow_typeof(date_trunc('week', utc)) AS ty, {} FROM (SELECT naive, \
         arrow_cast(naive, 'Timestamp(Microsecond, Some(\"UTC\"))') AS utc, \
         arrow_cast(naive, 'Timestamp(Microsecond, Some(\"America/New_York\"))') AS ny FROM {rows}) ORDER BY naive",
        columns.join(", ")
    );
    pretty(&sql(ctx, &query).await.unwrap())
}

#[tokio::test]
async fn date_trunc_gives_datafusions_results_faster() {
    let ours = truncations(&strata_ctx()).await;
    assert_eq!(ours, truncations(&SessionContext::new()).await);
    assert!(
        ours.contains("Timestamp(µs, \"UTC\")") || ours.contains("Timestamp(Microsecond, Some(\"UTC\"))"),
        "{ours}"
    );
    // The replacement is what the Strata session runs.
    let ctx = strata_ctx();
    let f = ctx.state().scalar_functions()["date_trunc"].clone();
    assert!(f.inner().is::<strata_sql::functions::builtins::DateTrunc>());
}
