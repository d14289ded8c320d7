//! What an indicator declares: its name, column arguments, numeric parameters and documentation. The DataFusion
//! window-function plumbing in [`super::udwf`] is shared by all of them.

use std::fmt::Debug;

/// A numeric parameter, given as a literal after the column arguments.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// The parameter's name, as the reference and error messages show it.
    pub name: &'static str,
    /// Used when the call omits the parameter; `None` makes it required.
    pub default: Option<f64>,
    /// A period must be a whole number of rows, at least 1.
    pub period: bool,
}

impl Param {
    /// A period: a whole number of rows, at least 1; `default` when the call omits it (`None`: required).
    pub const fn period(name: &'static str, default: Option<f64>) -> Self {
        Self {
            name,
            default,
            period: true,
        }
    }

    /// Any number; `default` when the call omits it (`None`: required).
    pub const fn number(name: &'static str, default: Option<f64>) -> Self {
        Self {
            name,
            default,
            period: false,
        }
    }
}

/// How many rows before and after a row its value depends on, counted over the rows where the indicator's inputs
/// have values. `None` is "all of them": a recursive indicator (EMA, RSI, OBV…) depends on the whole partition.
/// Incremental and backfill runs read this much history around the rows they rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// Rows before the row; `None`: every earlier row.
    pub before: Option<u64>,
    /// Rows after the row; `None`: every later row.
    pub after: Option<u64>,
}

impl Extent {
    /// A value that depends on every earlier row (and no later one).
    pub const RECURSIVE: Extent = Extent {
        before: None,
        after: Some(0),
    };

    /// The last `n` rows, the row itself included.
    pub const fn trailing(n: f64) -> Extent {
        Extent {
            before: Some(n as u64 - 1),
            after: Some(0),
        }
    }

    /// The row and the `n` before it.
    pub const fn lagged(n: f64) -> Extent {
        Extent {
            before: Some(n as u64),
            after: Some(0),
        }
    }
}

/// Reference documentation of one function.
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    /// What the function computes, in a sentence or two.
    pub description: &'static str,
    /// The formula, in words or symbols.
    pub formula: &'static str,
    /// Which rows are NULL before the window is full.
    pub warm_up: &'static str,
    /// A SQL call that shows its use.
    pub example: &'static str,
}

/// One technical indicator, evaluated over a whole window partition in order.
///
/// Rows where any column argument is NULL (or NaN) are skipped: the indicator is computed over the remaining rows,
/// in order, and the skipped rows get NULL. A partition shorter than the warm-up gives only NULLs.
pub trait Indicator: Debug + Send + Sync + 'static {
    /// The SQL function's name (lower case).
    fn name(&self) -> &'static str;
    /// Names of the column arguments, in order.
    fn columns(&self) -> &'static [&'static str];
    /// Numeric parameters after the columns.
    fn params(&self) -> &'static [Param];
    /// Compute over dense inputs (one slice per column, equal lengths); `NaN` marks rows without a value.
    fn compute(&self, columns: &[&[f64]], params: &[f64]) -> Vec<f64>;
    /// Whether the result is a flag (0/1, returned as BOOLEAN) rather than a number.
    fn boolean(&self) -> bool {
        false
    }
    /// Checks between parameters beyond "a period is a positive integer" (e.g. fast < slow).
    fn check(&self, _params: &[f64]) -> Result<(), String> {
        Ok(())
    }
    /// The reference documentation (the functions page, DataFusion's function documentation).
    fn doc(&self) -> Doc;
    /// Which rows around a row its value depends on, for these parameters.
    fn extent(&self, _params: &[f64]) -> Extent {
        Extent::RECURSIVE
    }
}

/// Render a signature such as `sma(value, period)`.
pub fn signature_text(ind: &dyn Indicator) -> String {
    let mut args: Vec<String> = ind.columns().iter().map(|c| c.to_string()).collect();
    for p in ind.params() {
        args.push(match p.default {
            Some(d) => format!("{} = {d}", p.name),
            None => p.name.to_string(),
        });
    }
    format!("{}({})", ind.name(), args.join(", "))
}
