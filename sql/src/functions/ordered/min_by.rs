//! `min_by(value, key)`: the value of the row with the smallest key (Spark's `min_by`, DuckDB's `arg_min`).

use datafusion::logical_expr::{Documentation, aggregate_doc_sections};

use super::by::ByAggregate;
use super::groups::Direction;

/// The `min_by` aggregate; register it with `AggregateUDF::from`.
pub fn min_by() -> ByAggregate {
    let doc = Documentation::builder(
        aggregate_doc_sections::DOC_SECTION_GENERAL,
        "The value of the row with the smallest key: a bar's open is `min_by(open, ts)`. Rows whose key is NULL \
         are ignored (a NULL value of the winning row is returned as NULL); ties keep the row seen first. With a \
         third argument `nulls_win`, NULL keys take part and beat (TRUE) or lose to (FALSE) every other key: \
         that is how `first_value(v ORDER BY k)` in a GROUP BY is planned (`docs/functions.md`). Integer, float, \
         date, time and timestamp keys with numeric, temporal or decimal values run vectorized; other types \
         compare row by row.",
        "min_by(value, key [, nulls_win])",
    )
    .with_sql_example("SELECT symbol, min_by(open, ts) AS open, max_by(close, ts) AS close FROM ticks GROUP BY symbol")
    .with_argument("value", "The expression whose value is returned.")
    .with_argument("key", "The expression the rows are ordered by.")
    .build();
    ByAggregate::new("min_by", Direction::Min, doc)
}
