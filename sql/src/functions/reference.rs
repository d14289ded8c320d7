//! The function reference page (`docs/functions.md`), rendered from the functions' own documentation so that the
//! page and the code cannot drift apart (a test compares them).

use std::fmt::Write;

use datafusion::logical_expr::Documentation;

use super::{cleaning, indicators, ordered, privacy, resample, rolling};
use crate::functions::indicators::spec::signature_text;

const INTRO: &str = "# Strata SQL functions

Strata installs these functions in every session — embedded, and on the scheduler and every executor — next to
DataFusion's own. Run `strata functions` to print this page.

## How indicators behave

* **Window functions.** Indicators are evaluated over a window partition in order:
  `sma(close, 20) OVER (PARTITION BY symbol ORDER BY ts)`. The window frame is ignored: each indicator looks back
  over the rows of its partition itself.
* **One sort.** Put every indicator of a query under one named window (`WINDOW w AS (PARTITION BY symbol ORDER BY
  ts)`) and DataFusion sorts the data once and computes all of them in one pass over each symbol.
* **TA-Lib definitions.** Names and definitions follow TA-Lib, the reference traders compare against; results
  agree with TA-Lib 0.8 (the C library the `ta-lib` Python package ships) to 1e-9 relative — in practice to the
  last bit — which the test suite checks against the real library.
* **Warm-up.** Rows before a window is full are NULL, never a half-computed value.
* **NULLs and gaps.** Rows where an input is NULL (or NaN) are skipped: the indicator is computed over the other
  rows in order, and the skipped rows get NULL. Gaps in time do not matter; indicators count rows.
* **Parameters** are literals after the columns; omitted ones take the defaults shown. A period must be a positive
  whole number: anything else is a planning error naming the function, before any data is read.
";

fn doc_section(out: &mut String, name: &str, doc: &Documentation) {
    let _ = writeln!(out, "### `{name}`\n");
    let _ = writeln!(out, "`{}`\n", doc.syntax_example);
    let _ = writeln!(out, "{}\n", doc.description);
    if let Some(args) = &doc.arguments {
        for (arg, what) in args {
            let _ = writeln!(out, "* `{arg}`: {what}");
        }
        out.push('\n');
    }
    if let Some(example) = &doc.sql_example {
        let _ = writeln!(out, "```sql\n{example}\n```\n");
    }
}

fn indicator_section(out: &mut String, ind: &dyn indicators::Indicator) {
    let d = ind.doc();
    let _ = writeln!(out, "### `{}`\n", ind.name());
    let _ = writeln!(out, "`{} OVER (…)`\n", signature_text(ind));
    let _ = writeln!(out, "{}\n", d.description);
    let _ = writeln!(out, "* Formula: {}", d.formula);
    let _ = writeln!(out, "* Warm-up: {}", d.warm_up);
    let _ = writeln!(out, "* Result: {}\n", if ind.boolean() { "BOOLEAN" } else { "DOUBLE" });
    let _ = writeln!(out, "```sql\n{}\n```\n", d.example);
}

/// The whole reference page, as Markdown.
pub fn reference_markdown() -> String {
    let mut out = String::from(INTRO);
    out.push_str("\n## Technical indicators (window functions)\n\n");
    for ind in indicators::indicators() {
        indicator_section(&mut out, ind.as_ref());
    }
    out.push_str("## Resampling\n\n");
    for f in resample::scalar_functions() {
        if let Some(doc) = f.documentation() {
            doc_section(&mut out, f.name(), doc);
        }
    }
    for f in resample::aggregate_functions() {
        if let Some(doc) = f.documentation() {
            doc_section(&mut out, f.name(), doc);
        }
    }
    out.push_str("## Ordered aggregates\n\n");
    out.push_str(
        "`first_value(v ORDER BY k)` and `last_value(v ORDER BY k)` in a GROUP BY — the usual way to write a bar's \
         open and close in plain SQL — are planned as `min_by` / `max_by` with the same NULL ordering when the \
         aggregate has one ORDER BY key of an integer, float, date, time or timestamp type, a numeric, temporal or \
         decimal value, and no FILTER, DISTINCT or IGNORE NULLS: the same results, on a vectorized accumulator.\n\n",
    );
    for f in ordered::aggregate_functions() {
        if let Some(doc) = f.documentation() {
            doc_section(&mut out, f.name(), doc);
        }
    }
    out.push_str("## Rolling aggregates\n\n");
    out.push_str(
        "`avg`, `sum` (of floats), `count`, `stddev`/`stddev_samp`, `stddev_pop`, `var`/`var_samp` and `var_pop` of one \
         numeric argument `OVER (… ROWS BETWEEN n PRECEDING AND CURRENT ROW)` (or `UNBOUNDED PRECEDING`), with an \
         ORDER BY and without FILTER or DISTINCT, are planned as `rolling_agg` / `rolling_count`: the same results, \
         each row added to and removed from a running aggregate once.\n\n",
    );
    for f in rolling::window_functions() {
        if let Some(doc) = f.documentation() {
            doc_section(&mut out, f.name(), doc);
        }
    }
    out.push_str("## Exchange calendar (table functions)\n\n");
    for (name, doc) in resample::table_function_docs() {
        let _ = writeln!(out, "### `{name}`\n\n{doc}\n");
    }
    out.push_str("## Cleaning\n\n");
    for f in cleaning::scalar_functions() {
        if let Some(doc) = f.documentation() {
            doc_section(&mut out, f.name(), doc);
        }
    }
    for ind in cleaning::window_indicators() {
        indicator_section(&mut out, ind.as_ref());
    }
    out.push_str(
        "### Duplicates by latest revision\n\nNo function is needed: \
         `SELECT * FROM raw QUALIFY row_number() OVER (PARTITION BY symbol, ts ORDER BY revision DESC) = 1`.\n",
    );
    out.push_str("\n## Pseudonyms\n\n");
    for f in privacy::functions() {
        if let Some(doc) = f.documentation() {
            doc_section(&mut out, f.name(), doc);
        }
    }
    out
}
