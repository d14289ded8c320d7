//! `rolling_count(value, preceding)`: the non-NULL values in a ROWS frame that ends at the current row, kept
//! running as the frame slides; how `count(x) OVER (… ROWS BETWEEN n PRECEDING AND CURRENT ROW)` is planned.

use datafusion::logical_expr::{Documentation, window_doc_sections};

use super::rolling_agg::RollingAgg;

/// The window function; register it with `WindowUDF::new_from_impl`.
pub fn rolling_count() -> RollingAgg {
    RollingAgg::counting(
        Documentation::builder(
            window_doc_sections::DOC_SECTION_AGGREGATE,
            "How many non-NULL `value`s the window's ROWS frame (ending at the current row) holds, kept running as \
             the frame slides. `preceding` is the frame's n in `n PRECEDING` (-1 for `UNBOUNDED PRECEDING`). \
             Strata plans `count(x) OVER (… ROWS BETWEEN n PRECEDING AND CURRENT ROW)` as this function.",
            "rolling_count(value, preceding) OVER (PARTITION BY … ORDER BY … ROWS BETWEEN n PRECEDING AND CURRENT ROW)",
        )
        .with_sql_example(
            "SELECT ts, rolling_count(r, 19) OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 19 PRECEDING AND \
             CURRENT ROW) AS n FROM returns",
        )
        .build(),
    )
}
