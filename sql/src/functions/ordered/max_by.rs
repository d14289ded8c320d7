//! `max_by(value, key)`: the value of the row with the largest key (Spark's `max_by`, DuckDB's `arg_max`).

use datafusion::logical_expr::{Documentation, aggregate_doc_sections};

use super::by::ByAggregate;
use super::groups::Direction;

/// The `max_by` aggregate; register it with `AggregateUDF::from`.
pub fn max_by() -> ByAggregate {
    let doc = Documentation::builder(
        aggregate_doc_sections::DOC_SECTION_GENERAL,
        "The value of the row with the largest key: a bar's close is `max_by(close, ts)`. Rows whose key is NULL \
         are ignored; ties keep the row seen first. With a third argument `nulls_win`, NULL keys take part and \
         beat (TRUE) or lose to (FALSE) every other key: that is how `last_value(v ORDER BY k)` in a GROUP BY is \
         planned. Vectorized for the same types as `min_by`.",
        "max_by(value, key [, nulls_win])",
    )
    .with_sql_example("SELECT symbol, max_by(close, ts) AS close FROM ticks GROUP BY symbol")
    .with_argument("value", "The expression whose value is returned.")
    .with_argument("key", "The expression the rows are ordered by.")
    .build();
    ByAggregate::new("max_by", Direction::Max, doc)
}
